// The container image, checked without a container engine: the Dockerfile's instructions,
// the build context .dockerignore leaves, and the image's command run as the image runs it
// (its ENV, its ENTRYPOINT + CMD, a temp dir as /data), with its HEALTHCHECK and SIGTERM.
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, describe, expect, it } from "vitest";
import { cleanEnv, ROOT, tempDir } from "../e2e/harness.js";
import { buildContext, execForm, parseDockerfile, stageEnv, type Stage } from "./dockerfile.js";

const stages = parseDockerfile(readFileSync(path.join(ROOT, "Dockerfile"), "utf8"));
const final = stages.at(-1)!;
const last = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;
const imageEnv = stageEnv(final);
const entrypoint = execForm(last(final, "ENTRYPOINT") ?? "")!;
const cmd = execForm(last(final, "CMD") ?? "")!;
const healthcheck = execForm(/\bCMD\s+(\[.*\])$/.exec(last(final, "HEALTHCHECK") ?? "")?.[1] ?? "")!;

describe("Dockerfile", () => {
  it("is multi-stage on the slim Node 24 image", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toBe("node:24-bookworm-slim");
  });

  it("runs serve in exec form as node, so SIGTERM reaches it", () => {
    expect(entrypoint).toEqual(["node", "/app/bin/s3-overlay.js"]);
    expect(cmd).toEqual(["serve"]);
  });

  it("runs as a non-root user, with /data as the data dir volume, listening on 0.0.0.0:8000", () => {
    const user = last(final, "USER");
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(last(final, "VOLUME")).toMatch(/^(\["\/data"\]|\/data)$/);
    expect(last(final, "EXPOSE")).toBe("8000");
    expect(imageEnv).toMatchObject({ S3_OVERLAY_HOST: "0.0.0.0", S3_OVERLAY_DATA_DIR: "/data" });
  });

  it("keeps the default-credentials safety: no credentials or allow switch baked in", () => {
    for (const name of ["S3_OVERLAY_ALLOW_DEFAULT_CREDENTIALS", "S3_OVERLAY_LOCAL_ACCESS_KEY", "S3_OVERLAY_LOCAL_SECRET_KEY"]) {
      expect(imageEnv).not.toHaveProperty(name);
    }
    expect(last(final, "ENTRYPOINT")).not.toMatch(/allow-default-credentials/);
  });

  it("has an exec-form HEALTHCHECK that needs nothing but node", () => {
    expect(healthcheck[0]).toBe("node");
    expect(healthcheck.join(" ")).toMatch(/\/health/);
  });

  it("copies only files the build context holds", () => {
    const context = new Set(buildContext(ROOT));
    for (const stage of stages) {
      for (const { keyword, args } of stage.instructions) {
        if (keyword !== "COPY" || args.startsWith("--from")) continue;
        const sources = args.split(/\s+/).slice(0, -1);
        for (const source of sources) {
          const inContext = context.has(source) || [...context].some((file) => file.startsWith(`${source.replace(/\/$/, "")}/`));
          expect(inContext, `COPY ${source}`).toBe(true);
        }
      }
    }
  });
});

describe("build context (.dockerignore)", () => {
  const context = buildContext(ROOT);

  it("holds no node_modules, .git, dist, data, tools or tests", () => {
    const forbidden = /^(node_modules|\.git|dist|tmp|test|coverage|\.s3-overlay|\.ci)(\/|$)|(^|\/)node_modules\//;
    expect(context.filter((file) => forbidden.test(file))).toEqual([]);
    expect(context).toContain("package-lock.json");
    expect(context).toContain("src/cli/index.ts");
  });

  it("is small", () => {
    const bytes = context.reduce((sum, file) => sum + statSync(path.join(ROOT, file)).size, 0);
    expect(bytes).toBeLessThan(2 * 1024 * 1024);
  });
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The image's command on this machine: /app is the repo (built by `npm run build`), /data a temp dir. */
function runAsImage(env: Record<string, string>) {
  const dataDir = tempDir("s3o-image-");
  dirs.push(dataDir);
  const [program, ...args] = [...entrypoint, ...cmd].map((part) => part.replace(/^\/app\//, `${ROOT}/`));
  expect(program).toBe("node");
  const containerEnv = { ...cleanEnv(), ...imageEnv, S3_OVERLAY_DATA_DIR: dataDir, ...env };
  const child = spawn(process.execPath, args, { env: containerEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr.on("data", () => /listening on/.test(output) && resolve());
    void exited.then((code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  return { child, exited, listening, containerEnv, output: () => output };
}

function runHealthcheck(env: Record<string, string>): Promise<number> {
  const [, ...args] = healthcheck;
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env, timeout: 10_000 }, (error) => resolve(error ? ((error as { code?: number }).code ?? 1) : 0));
  });
}

describe("the image's command", () => {
  it.skipIf(!existsSync(path.join(ROOT, "dist/cli/index.js")))(
    "serves with the image's ENV; the HEALTHCHECK passes; SIGTERM finishes the in-flight download and exits 0 promptly",
    async () => {
      const port = await freePort();
      const server = runAsImage({ S3_OVERLAY_PORT: String(port) });
      await server.listening;
      expect(server.output()).toContain("listening on http://0.0.0.0:");
      expect(server.output()).not.toMatch(/Warning/);
      expect(await runHealthcheck(server.containerEnv)).toBe(0);

      const client = new S3Client({
        endpoint: `http://127.0.0.1:${port}`,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" },
      });
      const size = 32 * 1024 * 1024;
      await client.send(new CreateBucketCommand({ Bucket: "image" }));
      await client.send(new PutObjectCommand({ Bucket: "image", Key: "big", Body: Buffer.alloc(size, 7) }));
      const body = (await client.send(new GetObjectCommand({ Bucket: "image", Key: "big" }))).Body as Readable;
      let received = 0;
      await new Promise<void>((resolve) =>
        body.once("data", (chunk: Buffer) => {
          received += chunk.length;
          body.pause();
          resolve();
        }),
      );

      server.child.kill("SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(server.child.exitCode, "exited with a download in flight").toBeNull();
      body.resume();
      for await (const chunk of body) received += (chunk as Buffer).length;
      expect(received).toBe(size);
      const finished = Date.now();
      expect(await server.exited).toBe(0);
      expect(Date.now() - finished).toBeLessThan(5_000);
      expect(await runHealthcheck(server.containerEnv)).not.toBe(0);
      client.destroy();
    },
    60_000,
  );

  it("with a remote and no keys of its own, refuses to listen on 0.0.0.0; with local keys it serves", async () => {
    const remote = { S3_OVERLAY_REMOTE_ENDPOINT: "http://127.0.0.1:9", S3_OVERLAY_BUCKET_MAPPING: "dev:prod-data", S3_OVERLAY_PORT: String(await freePort()) };
    const refused = runAsImage(remote);
    await expect(refused.listening).rejects.toThrow(/default credentials/);
    expect(await refused.exited).not.toBe(0);

    const keyed = runAsImage({ ...remote, S3_OVERLAY_LOCAL_ACCESS_KEY: "app", S3_OVERLAY_LOCAL_SECRET_KEY: "app-secret-123" });
    await keyed.listening;
    expect(await runHealthcheck(keyed.containerEnv)).toBe(0);
    keyed.child.kill("SIGTERM");
    expect(await keyed.exited).toBe(0);
  }, 60_000);
});
