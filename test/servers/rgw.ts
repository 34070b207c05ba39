// Throwaway Ceph RGW servers for tests: a TypeScript face for rgw-up.sh /
// rgw-down.sh (which also work on their own, e.g. from benchmarks).
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const UP_SCRIPT = join(HERE, "rgw-up.sh");
const DOWN_SCRIPT = join(HERE, "rgw-down.sh");
const REQUIRED_COMMANDS = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool", "monmaptool", "python3"];

export interface RgwServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: "us-east-1" | string;
  /** cluster directory (config, logs, pid files); removed by stop() */
  dir: string;
  /** pid of the current radosgw process (it changes after a restart) */
  readonly pid?: number;
  /** kill every daemon and remove the directory */
  stop(): Promise<void>;
  /**
   * Make the S3 port stop answering. "refuse" (default) kills radosgw, so
   * connections are refused; "hang" freezes it (SIGSTOP), so connections are
   * accepted by the kernel but never answered.
   */
  pause(mode?: "refuse" | "hang"): Promise<void>;
  /** undo pause() and wait until the S3 port answers again */
  resume(): Promise<void>;
}

export interface StartRgwOptions {
  accessKeyId?: string;
  secretAccessKey?: string;
  /** S3 port; 0 or absent = a free port */
  port?: number;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether startRgw() can work here: packages present, or installable (root + apt-get). */
export function rgwAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== "linux") return { ok: false, reason: `Ceph RGW needs Linux (this is ${process.platform})` };
  if (!onPath("bash")) return { ok: false, reason: "bash not found" };
  const missing = REQUIRED_COMMANDS.filter((c) => !onPath(c));
  if (missing.length === 0) return { ok: true };
  const installable = process.getuid?.() === 0 && onPath("apt-get") && process.env.RGW_NO_INSTALL !== "1";
  if (installable) return { ok: true };
  return {
    ok: false,
    reason: `Ceph RGW not installed (missing ${missing.join(", ")}); as root: apt-get install ceph-mon ceph-osd radosgw ceph-common`,
  };
}

// Clusters still running when this process exits are stopped synchronously;
// rgw-up.sh's watchdog covers a process that dies without running this.
const liveDirs = new Set<string>();
process.on("exit", () => {
  for (const dir of liveDirs) spawnSync("bash", [DOWN_SCRIPT], { env: { ...process.env, RGW_DIR: dir }, stdio: "ignore" });
});

function runScript(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function readPid(dir: string, name: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, "pids", `${name}.pid`), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

function httpAnswers(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(endpoint, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

async function waitUntilAnswering(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await httpAnswers(endpoint))) {
    if (Date.now() > deadline) throw new Error(`RGW at ${endpoint} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start a fresh single-node Ceph cluster with radosgw on 127.0.0.1 (~1.5 s once installed). */
export async function startRgw(opts: StartRgwOptions = {}): Promise<RgwServer> {
  const available = rgwAvailable();
  if (!available.ok) throw new Error(available.reason);
  const accessKeyId = opts.accessKeyId ?? "test";
  const secretAccessKey = opts.secretAccessKey ?? "testsecret";
  const dir = mkdtempSync(join(tmpdir(), "s3o-rgw-"));
  liveDirs.add(dir);
  const stopCluster = async () => {
    await runScript(DOWN_SCRIPT, { RGW_DIR: dir });
    liveDirs.delete(dir);
  };

  const up = await runScript(UP_SCRIPT, {
    RGW_DIR: dir,
    RGW_PORT: String(opts.port ?? 0),
    RGW_ACCESS_KEY: accessKeyId,
    RGW_SECRET_KEY: secretAccessKey,
    RGW_OWNER_PID: String(process.pid),
  });
  const endpoint = /^endpoint=(\S+)$/m.exec(up.stdout)?.[1];
  if (up.code !== 0 || !endpoint) {
    await stopCluster();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`rgw-up.sh failed (exit ${up.code}):\n${up.stderr.trim().split("\n").slice(-30).join("\n")}`);
  }

  let paused: "refuse" | "hang" | undefined;
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region: "us-east-1",
    dir,
    get pid() {
      return readPid(dir, "rgw");
    },
    stop: stopCluster,
    async pause(mode = "refuse") {
      if (paused) throw new Error(`RGW is already paused (${paused})`);
      // freeze the restart loop first so it neither restarts nor reaps radosgw
      signal(readPid(dir, "rgw-loop"), "SIGSTOP");
      signal(readPid(dir, "rgw"), mode === "hang" ? "SIGSTOP" : "SIGKILL");
      paused = mode;
      if (mode === "refuse") {
        // the listening socket closes with the process; wait for that
        const deadline = Date.now() + 5000;
        while (await httpAnswers(endpoint)) {
          if (Date.now() > deadline) throw new Error("radosgw still answers after SIGKILL");
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    },
    async resume() {
      if (!paused) return;
      if (paused === "hang") signal(readPid(dir, "rgw"), "SIGCONT");
      // on "refuse" the loop now sees radosgw gone and starts a new one
      signal(readPid(dir, "rgw-loop"), "SIGCONT");
      paused = undefined;
      await waitUntilAnswering(endpoint, 30_000);
    },
  };
}
