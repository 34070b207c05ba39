// What the endpoint exposes: the remote credentials serve only the buckets the
// configuration names; the default credentials never face a network with a
// remote behind them; secrets in settings are never echoed; the data dir is
// private; oversized headers get S3 error XML instead of a reset.
import { readdirSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startServer, tempDir, TEST_TIER } from "./harness.js";
import { requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const rgwMissing = requireRgw();

async function statusOf(promise: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await promise;
    return { status: 200, code: "" };
  } catch (error) {
    const e = error as { name: string; $metadata?: { httpStatusCode?: number } };
    return { status: e.$metadata?.httpStatusCode ?? 0, code: e.name };
  }
}

describe.skipIf(rgwMissing)("remote reach: only the buckets the configuration names", () => {
  let remote: RemoteFixture;

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put("prod", "data/x.csv", "a,b\n");
    await remote.put("secretbkt", "sec.txt", "payroll");
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
  });

  it("with a mapping, an unmapped bucket and the mapped target under its real name are local-only", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_REMOTE_BUCKETS: "", S3_OVERLAY_BUCKET_MAPPING: "dev:prod" } });
    const client = server.client();
    try {
      const mapped = await client.send(new GetObjectCommand({ Bucket: "dev", Key: "data/x.csv" }));
      expect(await mapped.Body!.transformToString()).toBe("a,b\n");
      for (const [bucket, key] of [["secretbkt", "sec.txt"], ["prod", "data/x.csv"]] as const) {
        expect(await statusOf(client.send(new GetObjectCommand({ Bucket: bucket, Key: key })))).toEqual({ status: 404, code: "NoSuchBucket" });
        expect(await statusOf(client.send(new ListObjectsV2Command({ Bucket: bucket })))).toEqual({ status: 404, code: "NoSuchBucket" });
      }
      const names = (await client.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
      expect(names).toContain("dev");
      expect(names).not.toContain("prod");
      expect(names).not.toContain("secretbkt");
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("a local bucket of the same name as a remote one is not merged with it", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_REMOTE_BUCKETS: "", S3_OVERLAY_BUCKET_MAPPING: "dev:prod" } });
    const client = server.client();
    try {
      // a client may create "secretbkt" locally: it holds only what clients write
      await client.send(new CreateBucketCommand({ Bucket: "secretbkt" }));
      await client.send(new PutObjectCommand({ Bucket: "secretbkt", Key: "mine.txt", Body: "mine" }));
      expect(await statusOf(client.send(new GetObjectCommand({ Bucket: "secretbkt", Key: "sec.txt" })))).toEqual({ status: 404, code: "NoSuchKey" });
      const listed = await client.send(new ListObjectsV2Command({ Bucket: "secretbkt" }));
      expect(listed.Contents?.map((c) => c.Key)).toEqual(["mine.txt"]);
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("S3_OVERLAY_REMOTE_BUCKETS names buckets read under their own name", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_REMOTE_BUCKETS: "secretbkt" } });
    const client = server.client();
    try {
      const read = await client.send(new GetObjectCommand({ Bucket: "secretbkt", Key: "sec.txt" }));
      expect(await read.Body!.transformToString()).toBe("payroll");
      expect(await statusOf(client.send(new GetObjectCommand({ Bucket: "prod", Key: "data/x.csv" })))).toEqual({ status: 404, code: "NoSuchBucket" });
      expect((await client.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toContain("secretbkt");
    } finally {
      client.destroy();
      await server.destroy();
    }
  });
});

describe("settings that would expose the remote are refused", () => {
  const remoteEnv = { S3_OVERLAY_REMOTE_ENDPOINT: "http://127.0.0.1:9", S3_OVERLAY_REMOTE_ACCESS_KEY_ID: "k", S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: "s" };
  const dirs: string[] = [];
  const dataDir = () => {
    const dir = tempDir("s3o-exposure-");
    dirs.push(dir);
    return dir;
  };

  it("a remote with no bucket named exits 2 saying how to name them", async () => {
    const result = await runCli(["serve", "--port", "0", "--data-dir", dataDir()], remoteEnv, 15_000);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/S3_OVERLAY_BUCKET_MAPPING.*S3_OVERLAY_REMOTE_BUCKETS/);
  });

  it("listening beyond loopback with the default credentials and a remote exits 2", async () => {
    const result = await runCli(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", dataDir()], { ...remoteEnv, S3_OVERLAY_REMOTE_BUCKETS: "*" }, 15_000);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/default credentials.*S3_OVERLAY_LOCAL_SECRET_KEY/);
  });

  it.each([
    ["own credentials", { S3_OVERLAY_LOCAL_ACCESS_KEY: "ci", S3_OVERLAY_LOCAL_SECRET_KEY: "a-real-secret" }, []],
    ["the explicit opt-in", {}, ["--allow-default-credentials"]],
  ])("with %s it listens on 0.0.0.0", async (_what, env, args) => {
    const server = await startServer({ args: ["--host", "0.0.0.0", ...args], env: { ...remoteEnv, S3_OVERLAY_REMOTE_BUCKETS: "*", ...env } });
    try {
      expect(server.stderr()).toMatch(/listening on http:\/\/0\.0\.0\.0:/);
    } finally {
      await server.destroy();
    }
  });

  it("a remote endpoint with userinfo exits 2 without echoing the secret", async () => {
    const result = await runCli(["serve", "--port", "0", "--data-dir", dataDir()], {
      ...remoteEnv, S3_OVERLAY_REMOTE_BUCKETS: "*", S3_OVERLAY_REMOTE_ENDPOINT: "http://user:SuperSecret42@127.0.0.1:9",
    }, 15_000);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain("S3_OVERLAY_REMOTE_ENDPOINT");
    expect(result.stderr + result.stdout).not.toContain("SuperSecret42");
  });

  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? [full, ...listFiles(full)] : [full];
  });
}

describe("the data dir and the HTTP front door", () => {
  it.skipIf(TEST_TIER !== "embedded")("the data dir and everything in it is private to its owner", async () => {
    const server = await startServer();
    const client = server.client();
    try {
      await client.send(new CreateBucketCommand({ Bucket: "priv" }));
      await client.send(new PutObjectCommand({ Bucket: "priv", Key: "k", Body: "private bytes" }));
      expect(statSync(server.dataDir).mode & 0o777).toBe(0o700);
      const entries = listFiles(server.dataDir);
      expect(entries.length).toBeGreaterThan(2);
      for (const entry of entries) expect({ entry, mode: statSync(entry).mode & 0o077 }).toEqual({ entry, mode: 0 });
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("a 64 KiB request header gets S3 error XML, not a reset", async () => {
    const server = await startServer();
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${server.endpoint}/bucket/key`, { headers: { "x-amz-meta-big": "a".repeat(64 * 1024) }, agent: false }, (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toContain("<Code>RequestHeaderSectionTooLarge</Code>");
      // the server is still there for the next client
      const socket = net.connect(server.port, "127.0.0.1");
      const health = await new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
        socket.on("end", () => resolve(text));
        socket.write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      expect(health).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await server.destroy();
    }
  });
});
