// The s3-overlay command line as a user meets it: help and version, configuration
// errors (flag and environment), a busy port, /health, signals, the data dir.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT, cleanEnv, runCli, startServer, startServers, tempDir, TEST_TIER, type RunningServer } from "./harness.js";
import { signHeaders } from "./raw-http.js";

const dirs: string[] = [];
function scratchDir(): string {
  const dir = tempDir("s3o-cli-");
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** stderr must be exactly one non-empty line, without a stack trace */
function expectOneLine(stderr: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).not.toBe("");
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

function md5(data: Buffer): string {
  return createHash("md5").update(data).digest("hex");
}

function httpGet(url: string, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Binds a plain TCP server (the squatter) on `host`, port picked by the OS. */
async function occupyPort(host: string): Promise<net.Server> {
  const squatter = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    squatter.once("error", reject);
    squatter.listen(0, host, () => resolve());
  });
  return squatter;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

describe("help and version", () => {
  it("--help exits 0 and lists the serve command", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: s3-overlay/);
    expect(result.stdout).toMatch(/\bserve\b/);
  });

  it("serve --help exits 0 and documents every option", async () => {
    const result = await runCli(["serve", "--help"]);
    expect(result.code).toBe(0);
    for (const option of ["--host", "--port", "--data-dir", "--domain", "--region", "--access-key", "--request-timeout", "--shutdown-grace"]) {
      expect(result.stdout).toContain(option);
    }
  });

  it.each(["--version", "-V"])("%s exits 0 and prints the package version", async (flag) => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    const result = await runCli([flag]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });
});

describe("configuration errors exit 2 with one line naming the source", () => {
  const bad: [flag: string, variable: string, value: string][] = [
    ["--port", "S3_OVERLAY_PORT", "abc"],
    ["--port", "S3_OVERLAY_PORT", "70000"],
    ["--port", "S3_OVERLAY_PORT", "-1"],
    ["--port", "S3_OVERLAY_PORT", "80.5"],
    ["--request-timeout", "S3_OVERLAY_REQUEST_TIMEOUT", "soon"],
    ["--shutdown-grace", "S3_OVERLAY_SHUTDOWN_GRACE", "10 parsecs"],
    ["--region", "S3_OVERLAY_LOCAL_REGION", "US East 1"],
    ["--domain", "S3_OVERLAY_DOMAIN", "bad_domain!"],
    ["--domain", "S3_OVERLAY_DOMAIN", "-s3.local"],
    ["--host", "S3_OVERLAY_HOST", "not a host"],
  ];

  it.each(bad)("%s (or %s) = %s via the flag", async (flag, _variable, value) => {
    const args = ["serve", `${flag}=${value}`, "--data-dir", scratchDir()];
    if (flag !== "--port") args.push("--port", "0");
    const result = await runCli(args, {}, 10_000);
    expect(result.code, result.stderr).toBe(2);
    const line = expectOneLine(result.stderr);
    expect(line).toMatch(/^s3-overlay: /);
    expect(line).toContain(flag);
    expect(line).toContain(value);
    expect(result.stderr).not.toMatch(/listening/);
  });

  it.each(bad)("(%s or) %s = %s via the environment", async (flag, variable, value) => {
    const args = ["serve", "--data-dir", scratchDir()];
    if (flag !== "--port") args.push("--port", "0");
    const result = await runCli(args, { [variable]: value }, 10_000);
    expect(result.code, result.stderr).toBe(2);
    const line = expectOneLine(result.stderr);
    expect(line).toMatch(/^s3-overlay: /);
    expect(line).toContain(variable);
    expect(line).toContain(value);
  });

  it.each(["--data-dir", "--access-key"])("an empty %s exits 2 naming it", async (flag) => {
    const args = ["serve", "--port", "0", `${flag}=`];
    if (flag !== "--data-dir") args.push("--data-dir", scratchDir());
    const result = await runCli(args, {}, 10_000);
    expect(result.code, result.stderr).toBe(2);
    expect(expectOneLine(result.stderr)).toContain(flag);
  });

  it("an unknown option exits 2 and names it", async () => {
    const result = await runCli(["serve", "--bogus-option", "--port", "0", "--data-dir", scratchDir()], {}, 10_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--bogus-option");
    expect(result.stderr).not.toMatch(/listening/);
  });

  it("an unknown command exits 2", async () => {
    const result = await runCli(["frobnicate"], {}, 10_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("frobnicate");
  });

  it("an option without its value exits 2", async () => {
    const result = await runCli(["serve", "--data-dir", scratchDir(), "--port"], {}, 10_000);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--port");
  });
});

describe("a busy port", () => {
  it.each(["127.0.0.1", "0.0.0.0"])("taken on %s: serve on 127.0.0.1 exits 2 naming the port, never listening elsewhere", async (squatHost) => {
    const squatter = await occupyPort(squatHost);
    try {
      const port = String(portOf(squatter));
      const result = await runCli(["serve", "--host", "127.0.0.1", "--port", port, "--data-dir", scratchDir()], {}, 15_000);
      expect(result.code, result.stderr).toBe(2);
      const line = expectOneLine(result.stderr);
      expect(line).toContain(port);
      expect(result.stderr).not.toMatch(/listening/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it("taken, given by S3_OVERLAY_PORT: exits 2 naming the port", async () => {
    const squatter = await occupyPort("127.0.0.1");
    try {
      const port = String(portOf(squatter));
      const result = await runCli(["serve", "--data-dir", scratchDir()], { S3_OVERLAY_PORT: port, S3_OVERLAY_HOST: "127.0.0.1" }, 15_000);
      expect(result.code, result.stderr).toBe(2);
      expect(expectOneLine(result.stderr)).toContain(port);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe("--port 0", () => {
  it("binds a free port chosen by the system, not a default one", async () => {
    // get-port-please's default (3000) when free: two serves started together would race for it
    const servers = await startServers([{}, {}]);
    try {
      const ports = servers.map((server) => server.port);
      expect(new Set(ports).size).toBe(2);
      for (const port of ports) expect(port).not.toBe(3000);
      for (const server of servers) expect((await httpGet(`${server.endpoint}/health`)).status).toBe(200);
    } finally {
      await Promise.all(servers.map((server) => server.destroy()));
    }
  });
});

describe("a running server", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it("prints where it listens", () => {
    expect(server.stderr()).toMatch(new RegExp(`listening on http://127\\.0\\.0\\.1:${server.port}\\b`));
  });

  it("answers GET and HEAD /health with 200 without credentials", async () => {
    const get = await httpGet(`${server.endpoint}/health`);
    expect(get.status).toBe(200);
    expect((await httpGet(`${server.endpoint}/health`, "HEAD")).status).toBe(200);
  });

  // the embedded store admits one process; several serves share an S3 local tier by design
  it.skipIf(TEST_TIER === "rgw")("refuses a second server on the same data dir with a one-line reason", async () => {
    const result = await runCli(["serve", "--port", "0", "--data-dir", server.dataDir], {}, 15_000);
    expect(result.code, result.stderr).not.toBe(0);
    expect(result.code).not.toBeNull();
    expectOneLine(result.stderr);
    expect(result.stderr).not.toMatch(/listening/);
    // the first one is unharmed
    const client = server.client();
    await expect(client.send(new ListBucketsCommand({}))).resolves.toBeDefined();
    client.destroy();
  });
});

describe("configuration by environment and flags", () => {
  it("S3_OVERLAY_* alone configure host, port, data dir, credentials and region", async () => {
    const dataDir = path.join(scratchDir(), "from-env");
    const child = spawn(process.execPath, [BIN, "serve"], {
      env: {
        ...cleanEnv(),
        S3_OVERLAY_HOST: "127.0.0.1",
        S3_OVERLAY_PORT: "0",
        S3_OVERLAY_DATA_DIR: dataDir,
        S3_OVERLAY_LOCAL_ACCESS_KEY: "envkey",
        S3_OVERLAY_LOCAL_SECRET_KEY: "envsecret",
        S3_OVERLAY_LOCAL_REGION: "eu-central-1",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    let stderr = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after 20 s: ${stderr}`)), 20_000);
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      const client = new S3Client({ endpoint, region: "eu-central-1", forcePathStyle: true, credentials: { accessKeyId: "envkey", secretAccessKey: "envsecret" } });
      await client.send(new CreateBucketCommand({ Bucket: "env-bucket" }));
      await client.send(new PutObjectCommand({ Bucket: "env-bucket", Key: "k", Body: "from env" }));
      const got = await client.send(new GetObjectCommand({ Bucket: "env-bucket", Key: "k" }));
      expect(await got.Body!.transformToString()).toBe("from env");
      client.destroy();
      expect(readdirSync(dataDir).length).toBeGreaterThan(0);

      const defaults = new S3Client({ endpoint, region: "eu-central-1", forcePathStyle: true, credentials: { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" } });
      await expect(defaults.send(new ListBucketsCommand({}))).rejects.toMatchObject({ name: "InvalidAccessKeyId" });
      defaults.destroy();
    } finally {
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });

  // on an S3 local tier the access key is also the tier's: a different one is refused there
  it.skipIf(TEST_TIER === "rgw")("--access-key wins over S3_OVERLAY_LOCAL_ACCESS_KEY", async () => {
    const server = await startServer({
      args: ["--access-key", "flagkey"],
      env: { S3_OVERLAY_LOCAL_ACCESS_KEY: "envkey", S3_OVERLAY_LOCAL_SECRET_KEY: "sekrit" },
    });
    try {
      const flagClient = server.client({ credentials: { accessKeyId: "flagkey", secretAccessKey: "sekrit" } });
      await expect(flagClient.send(new ListBucketsCommand({}))).resolves.toBeDefined();
      flagClient.destroy();
      const envClient = server.client({ credentials: { accessKeyId: "envkey", secretAccessKey: "sekrit" } });
      await expect(envClient.send(new ListBucketsCommand({}))).rejects.toMatchObject({ name: "InvalidAccessKeyId" });
      envClient.destroy();
    } finally {
      await server.destroy();
    }
  });
});

describe("the data dir", () => {
  it.each(["under a file", "is a file"])("one that cannot be created (%s) exits non-zero with one line and no stack trace", async (shape) => {
    const file = path.join(scratchDir(), "plain-file");
    writeFileSync(file, "not a directory");
    const dataDir = shape === "under a file" ? path.join(file, "data") : file;
    const result = await runCli(["serve", "--port", "0", "--data-dir", dataDir], {}, 15_000);
    expect(result.code, result.stderr).not.toBe(0);
    expect(result.code).not.toBeNull();
    const line = expectOneLine(result.stderr);
    expect(line).toMatch(/^s3-overlay: /);
    expect(line).toContain(dataDir);
    expect(result.stderr).not.toMatch(/listening/);
  });
});

describe("signals", () => {
  it("SIGTERM during a large download: the download completes, then the process exits 0; a restart keeps the objects", async () => {
    const dataDir = scratchDir();
    const server = await startServer({ dataDir });
    const client = server.client();
    const size = 128 * 1024 * 1024;
    const data = randomBytes(size);
    const expectedMd5 = md5(data);
    await client.send(new CreateBucketCommand({ Bucket: "signals" }));
    await client.send(new PutObjectCommand({ Bucket: "signals", Key: "big.bin", Body: data }));
    await client.send(new PutObjectCommand({ Bucket: "signals", Key: "small.txt", Body: "small" }));

    const response = await client.send(new GetObjectCommand({ Bucket: "signals", Key: "big.bin" }));
    const body = response.Body as Readable;
    const hash = createHash("md5");
    let received = 0;
    // take one chunk, then hold the stream so the server is still sending when the signal comes
    const first = await new Promise<Buffer>((resolve) =>
      body.once("data", (chunk: Buffer) => {
        body.pause();
        resolve(chunk);
      }),
    );
    hash.update(first);
    received += first.length;
    expect(received).toBeLessThan(size);

    const exitCode = server.stop("SIGTERM");
    await sleep(500);
    expect(server.process.exitCode, "exited with a download in flight").toBeNull();
    // no new connections once shutting down
    await expect(httpGet(`${server.endpoint}/health`)).rejects.toThrow();

    body.resume();
    for await (const chunk of body) {
      hash.update(chunk as Buffer);
      received += (chunk as Buffer).length;
    }
    expect(received).toBe(size);
    expect(hash.digest("hex")).toBe(expectedMd5);
    expect(await exitCode).toBe(0);
    expect(server.stderr()).not.toMatch(/^\s+at /m);
    client.destroy();

    const restarted = await startServer({ dataDir });
    try {
      const again = restarted.client();
      const head = await again.send(new HeadObjectCommand({ Bucket: "signals", Key: "big.bin" }));
      expect(head.ContentLength).toBe(size);
      expect(head.ETag).toBe(`"${expectedMd5}"`);
      const tail = await again.send(new GetObjectCommand({ Bucket: "signals", Key: "big.bin", Range: "bytes=-1048576" }));
      expect(Buffer.from(await tail.Body!.transformToByteArray()).equals(data.subarray(size - 1048576))).toBe(true);
      const small = await again.send(new GetObjectCommand({ Bucket: "signals", Key: "small.txt" }));
      expect(await small.Body!.transformToString()).toBe("small");
      again.destroy();
    } finally {
      await restarted.stop();
    }
  });

  it("SIGINT with an idle keep-alive client exits 0 promptly", async () => {
    const server = await startServer();
    const client = server.client();
    await client.send(new ListBucketsCommand({}));
    const started = Date.now();
    expect(await server.stop("SIGINT")).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    client.destroy();
    await server.destroy();
  });
});

describe("timeouts", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ args: ["--request-timeout", "1s", "--shutdown-grace", "1s"] });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  function connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(server.port, "127.0.0.1", () => resolve(socket));
      socket.once("error", reject);
    });
  }

  function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (socket.destroyed) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  it("--request-timeout cuts a client that goes silent in the middle of its headers", async () => {
    const socket = await connect();
    socket.on("error", () => {});
    socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const started = Date.now();
    expect(await closedWithin(socket, 5000)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it("--request-timeout is per pause, not per request: a slow upload that keeps sending succeeds", async () => {
    const client = server.client();
    await client.send(new CreateBucketCommand({ Bucket: "slow" }));
    const body = "0123456789";
    const headers = await signHeaders(server.endpoint, { method: "PUT", path: "/slow/trickle", headers: { "content-length": String(body.length) } }, { payloadHash: "UNSIGNED-PAYLOAD" });
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: server.port, method: "PUT", path: "/slow/trickle", headers, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      let sent = 0;
      const tick = setInterval(() => {
        req.write(body[sent++]!);
        if (sent === body.length) {
          clearInterval(tick);
          req.end();
        }
      }, 300); // 3 s in all, never 1 s silent
    });
    expect(status).toBe(200);
    const got = await client.send(new GetObjectCommand({ Bucket: "slow", Key: "trickle" }));
    expect(await got.Body!.transformToString()).toBe(body);
    client.destroy();
  });

  it("--request-timeout cuts an upload that goes silent mid-body, and nothing is stored", async () => {
    const client = server.client();
    await client.send(new CreateBucketCommand({ Bucket: "silent" }));
    const headers = await signHeaders(server.endpoint, { method: "PUT", path: "/silent/half", headers: { "content-length": "1000" } }, { payloadHash: "UNSIGNED-PAYLOAD" });
    const req = http.request({ host: "127.0.0.1", port: server.port, method: "PUT", path: "/silent/half", headers, agent: false });
    const failed = new Promise<string>((resolve) => {
      req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.on("response", (res) => resolve(`answered ${res.statusCode}`));
    });
    req.write(Buffer.alloc(500, 1));
    const outcome = await Promise.race([failed, sleep(5000).then(() => "still open after 5 s")]);
    expect(outcome).toMatch(/ECONNRESET|socket hang up|EPIPE|answered 400/);
    await expect(client.send(new HeadObjectCommand({ Bucket: "silent", Key: "half" }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    req.destroy();
    client.destroy();
  });

  it("--shutdown-grace bounds how long SIGTERM waits for a stalled download, then exits 0", async () => {
    const client = server.client();
    await client.send(new CreateBucketCommand({ Bucket: "grace" }));
    const data = randomBytes(32 * 1024 * 1024);
    await client.send(new PutObjectCommand({ Bucket: "grace", Key: "stalled", Body: data }));
    const response = await client.send(new GetObjectCommand({ Bucket: "grace", Key: "stalled" }));
    const body = response.Body as Readable;
    body.on("error", () => {});
    await new Promise<void>((resolve) => body.once("data", () => (body.pause(), resolve())));

    const started = Date.now();
    const code = await server.stop("SIGTERM");
    const elapsed = Date.now() - started;
    expect(code).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(800);
    expect(elapsed).toBeLessThan(6000);
    body.destroy();
    client.destroy();
  });
});
