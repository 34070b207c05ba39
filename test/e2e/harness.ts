// Starts the built s3-overlay (bin/s3-overlay.js, from `npm run build`) as a real
// process and hands out clients configured the way users configure them.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { startRgw, type RgwServer } from "../servers/rgw.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.join(ROOT, "bin", "s3-overlay.js");
export const ACCESS_KEY = "minioadmin";
export const SECRET_KEY = "minioadmin";

export interface RunningServer {
  endpoint: string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  /** everything the server wrote to stderr so far */
  stderr(): string;
  /** an S3Client in its default configuration (only endpoint, region, credentials and path style set) */
  client(overrides?: Partial<S3ClientConfig>): S3Client;
  /** SIGTERM and wait for exit; returns the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** stop and remove the data dir */
  destroy(): Promise<void>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  /** reuse a data dir (e.g. to test restarts); a fresh temp dir otherwise */
  dataDir?: string;
}

export function tempDir(prefix = "s3o-"): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The store the suite runs against: the embedded one, or with
 * S3_OVERLAY_TEST_TIER=rgw a Ceph RGW local tier (one per test file, started on
 * first use, accepting the clients' credentials as the original MinIO setup did).
 */
export const TEST_TIER = process.env.S3_OVERLAY_TEST_TIER === "rgw" ? "rgw" : "embedded";
let tier: Promise<RgwServer> | undefined;

/** The RGW local tier of this test file (started on first use), or undefined on the embedded store. */
export async function localTier(): Promise<RgwServer | undefined> {
  if (TEST_TIER !== "rgw") return undefined;
  tier ??= startRgw({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
  return tier;
}

/** The settings that select this run's store: for serve, and for warm/evict/status on the same store. */
export async function storeEnv(): Promise<Record<string, string>> {
  const rgw = await localTier();
  return rgw ? { S3_OVERLAY_LOCAL_ENDPOINT: rgw.endpoint } : {};
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? tempDir();
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--data-dir", dataDir, ...(options.args ?? [])], {
    env: { ...cleanEnv(), ...(await storeEnv()), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const { scheme, port } = await new Promise<{ scheme: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${stderr}`)), 20_000);
    const check = () => {
      const match = /listening on (https?):\/\/[^\s:]+:(\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve({ scheme: match[1]!, port: Number(match[2]) });
      }
    };
    child.stderr!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${stderr}`));
    });
  });
  const endpoint = `${scheme}://127.0.0.1:${port}`;
  let stopped: Promise<number | null> | undefined;
  // a serve that dies under a test shows up as "connection refused" there: say why here
  child.once("exit", (code, signal) => {
    if (!stopped) console.error(`serve on ${endpoint} exited unexpectedly (code ${code}, signal ${signal}); its last output:\n${stderr.slice(-4000)}`);
  });
  const server: RunningServer = {
    endpoint,
    port,
    dataDir,
    process: child,
    stderr: () => stderr,
    client: (overrides = {}) =>
      new S3Client({
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
        ...overrides,
      }),
    stop: (signal = "SIGTERM") => {
      if (!stopped) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        stopped = exited;
      }
      return stopped;
    },
    destroy: async () => {
      await server.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Starts several servers at once; if one fails, the others are stopped before the error is thrown. */
export async function startServers(all: StartOptions[]): Promise<RunningServer[]> {
  const started = await Promise.allSettled(all.map((options) => startServer(options)));
  const failed = started.find((result) => result.status === "rejected");
  if (!failed) return started.map((result) => (result as PromiseFulfilledResult<RunningServer>).value);
  await Promise.all(started.map((result) => (result.status === "fulfilled" ? result.value.destroy() : undefined)));
  throw failed.reason;
}

/** The environment without S3_OVERLAY_* and AWS_* settings of the developer's shell. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("S3_OVERLAY_") && !name.startsWith("AWS_")) env[name] = value;
  }
  return env;
}

/** Runs the CLI to completion (for usage and configuration errors). */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`s3-overlay ${args.join(" ")} did not exit in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
