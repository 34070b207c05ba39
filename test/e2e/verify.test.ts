// Bit rot in the embedded store never reaches a client with a success status
// (issue 10 item 3): bytes flipped in blob files under the data dir of a running
// serve are caught by the block CRC32s. A client write answers InternalError (an
// abort if the headers were already out) and stays marked; a mirrored object is
// dropped and fetched again from the remote (Ceph RGW). `verify` finds both
// kinds offline and while serve runs, and --repair drops what can be refetched.
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client } from "@aws-sdk/client-s3";
import { openSync, readdirSync, readFileSync, writeSync, closeSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startServer, TEST_TIER, type RunningServer } from "./harness.js";
import { patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const MiB = 1 << 20;

/** The blob file under the data dir whose bytes are exactly `bytes`. */
function blobHolding(dataDir: string, bytes: Buffer): string {
  const root = path.join(dataDir, "blobs");
  for (const shard of readdirSync(root)) {
    for (const name of readdirSync(path.join(root, shard))) {
      const file = path.join(root, shard, name);
      const content = readFileSync(file);
      if (content.equals(bytes)) return file;
    }
  }
  throw new Error("no blob holds those bytes");
}

/** Flips one byte in place (same inode, as bit rot would). */
function flipByte(file: string, offset: number): void {
  const fd = openSync(file, "r+");
  const byte = Buffer.alloc(1);
  byte[0] = readFileSync(file)[offset]! ^ 0xff;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}

/** A GET as a client sees it: the bytes, or how it failed (S3 error code, or an aborted body). */
async function get(client: S3Client, bucket: string, key: string, range?: string): Promise<{ status?: number; bytes?: Buffer; error?: string }> {
  try {
    const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    try {
      return { status: response.$metadata.httpStatusCode, bytes: Buffer.from(await response.Body!.transformToByteArray()) };
    } catch (error) {
      return { status: response.$metadata.httpStatusCode, error: `aborted: ${(error as Error).message}` };
    }
  } catch (error) {
    return { error: (error as Error).name };
  }
}

describe.skipIf(TEST_TIER !== "embedded")("client writes with flipped bytes", () => {
  let server: RunningServer;
  let client: S3Client;
  const bucket = "rot";

  beforeAll(async () => {
    server = await startServer();
    // no retries: each GET is one request, so what the server answered is what the test sees
    client = server.client({ maxAttempts: 1 });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    client?.destroy();
    await server?.destroy();
  });

  it("a small object with a flipped byte answers InternalError, then keeps answering it; HEAD still works", async () => {
    const body = patternBytes(100_000, 1);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "small", Body: body }));
    expect((await get(client, bucket, "small")).bytes?.equals(body)).toBe(true);
    flipByte(blobHolding(server.dataDir, body), 5000);
    expect(await get(client, bucket, "small")).toEqual({ error: "InternalError" });
    expect(await get(client, bucket, "small", "bytes=0-10")).toEqual({ error: "InternalError" });
    expect((await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "small" }))).ContentLength).toBe(100_000);
    expect(server.stderr()).toMatch(/corrupt stored bytes of rot\/small .*client write, kept and marked/);
  });

  it("a multi-MiB object corrupt in a middle block: ranged reads of good blocks succeed, the whole GET aborts, later reads answer InternalError", async () => {
    const body = patternBytes(5 * MiB + 123, 2);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "big", Body: body }));
    flipByte(blobHolding(server.dataDir, body), 2 * MiB + 77);
    // blocks 0, 1 and 3.. are intact: ranges within them (not block-aligned) are served
    const head = await get(client, bucket, "big", `bytes=100-${2 * MiB - 1}`);
    expect(head.status).toBe(206);
    expect(head.bytes?.equals(body.subarray(100, 2 * MiB))).toBe(true);
    const tail = await get(client, bucket, "big", `bytes=${3 * MiB + 5}-`);
    expect(tail.bytes?.equals(body.subarray(3 * MiB + 5))).toBe(true);
    // the whole object: headers went out before block 2 was read, so the body is cut short
    const whole = await get(client, bucket, "big");
    expect(whole.bytes).toBeUndefined();
    expect(whole.error).toMatch(/^aborted|^InternalError/);
    // from now on an S3 error, even for ranges that begin in good blocks
    expect(await get(client, bucket, "big", "bytes=0-99")).toEqual({ error: "InternalError" });
    // a range starting in the bad block is refused before any header
    expect(await get(client, bucket, "big", `bytes=${2 * MiB + 10}-${2 * MiB + 20}`)).toEqual({ error: "InternalError" });
  });

  it("a multipart object (parts not multiples of 1 MiB) corrupt in its second part", async () => {
    const parts = [patternBytes(5 * MiB + 1000, 3), patternBytes(5 * MiB + 333, 4), patternBytes(4000, 5)];
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "multi" }));
    const etags = [];
    for (const [index, part] of parts.entries()) {
      etags.push((await client.send(new UploadPartCommand({ Bucket: bucket, Key: "multi", UploadId, PartNumber: index + 1, Body: part }))).ETag!);
    }
    await client.send(new CompleteMultipartUploadCommand({
      Bucket: bucket, Key: "multi", UploadId, MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
    }));
    const whole = Buffer.concat(parts);
    // a range across the part boundary: blocks of both parts are verified at their own offsets
    const across = await get(client, bucket, "multi", `bytes=${5 * MiB}-${5 * MiB + 3000}`);
    expect(across.bytes?.equals(whole.subarray(5 * MiB, 5 * MiB + 3001))).toBe(true);
    flipByte(blobHolding(server.dataDir, parts[1]!), MiB + 1);
    const before = await get(client, bucket, "multi", `bytes=0-${5 * MiB + 1000 + MiB - 1}`);
    expect(before.bytes?.equals(whole.subarray(0, 5 * MiB + 1000 + MiB))).toBe(true);
    expect(await get(client, bucket, "multi", `bytes=${5 * MiB + 1000 + MiB + 5}-${5 * MiB + 1000 + MiB + 9}`)).toEqual({ error: "InternalError" });
  });

  it("status counts the corrupt objects; verify reports them and --repair never deletes client writes", async () => {
    const status = JSON.parse((await runCli(["status", "--json", "--data-dir", server.dataDir])).stdout);
    expect(status.server.counters.corruptObjects).toBeGreaterThanOrEqual(3);
    // /metrics reads the same counter
    const metrics = await (await fetch(`${server.endpoint}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^s3o_corrupt_objects_total ${status.server.counters.corruptObjects}$`, "m"));
    const good = patternBytes(3 * MiB, 6);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "good", Body: good }));
    // through the running serve's admin API
    const result = await runCli(["verify", bucket, "--repair", "--json", "--data-dir", server.dataDir]);
    expect(result.code).toBe(1);
    const summary = JSON.parse(result.stdout);
    expect(summary.corrupt.map((entry: { key: string }) => entry.key).sort()).toEqual(["big", "multi", "small"]);
    expect(summary.corrupt.every((entry: { action: string; origin: string }) => entry.action === "marked" && entry.origin === "local")).toBe(true);
    expect(summary.remaining).toBe(3);
    expect((await get(client, bucket, "good")).bytes?.equals(good)).toBe(true);
    expect(await get(client, bucket, "small")).toEqual({ error: "InternalError" });
    // writing the object again replaces the corrupt bytes
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "small", Body: "fresh" }));
    expect((await get(client, bucket, "small")).bytes?.toString()).toBe("fresh");
  });
});

const skipReason = TEST_TIER !== "embedded" ? "embedded store only" : requireRgw();

describe.skipIf(skipReason !== undefined)("mirrored objects with flipped bytes", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  let client: S3Client;
  const bucket = "rotmirror";
  const bodies = { a: patternBytes(200_000, 11), b: patternBytes(4 * MiB + 10, 12), c: patternBytes(50_000, 13), d: patternBytes(2 * MiB, 14) };

  beforeAll(async () => {
    remote = await startRemote();
    for (const [key, body] of Object.entries(bodies)) await remote.put(bucket, key, body);
    server = await startOverlay(remote);
    client = server.client({ maxAttempts: 1 });
    for (const [key, body] of Object.entries(bodies)) {
      expect((await get(client, bucket, key)).bytes?.equals(body)).toBe(true);
    }
    // the fills commit just after the last byte went out: wait for their blobs
    for (const body of Object.values(bodies)) {
      for (let tries = 0; ; tries++) {
        try {
          blobHolding(server.dataDir, body);
          break;
        } catch (error) {
          if (tries > 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
  }, 120_000);

  afterAll(async () => {
    client?.destroy();
    await server?.destroy();
    await remote?.stop();
  });

  it("corruption in the first block: one InternalError (the SDK's retry) and then the remote's bytes again", async () => {
    flipByte(blobHolding(server.dataDir, bodies.a), 10);
    expect(await get(client, bucket, "a")).toEqual({ error: "InternalError" });
    const again = await get(client, bucket, "a");
    expect(again.bytes?.equals(bodies.a)).toBe(true);
    // with the SDK's default retries a client never sees the error at all
    flipByte(blobHolding(server.dataDir, bodies.c), 49_999);
    const retrying = server.client();
    expect((await get(retrying, bucket, "c")).bytes?.equals(bodies.c)).toBe(true);
    retrying.destroy();
  });

  it("corruption in a middle block: one aborted read, then the refetched bytes", async () => {
    flipByte(blobHolding(server.dataDir, bodies.b), 3 * MiB + 3);
    const first = await get(client, bucket, "b");
    expect(first.bytes).toBeUndefined();
    const second = await get(client, bucket, "b");
    expect(second.bytes?.equals(bodies.b)).toBe(true);
    expect(server.stderr()).toMatch(/corrupt stored bytes of rotmirror\/b .*mirrored object, dropped/);
  });

  it("verify finds a corrupt mirror without serving it; --repair drops it and the next read refetches it", async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    flipByte(blobHolding(server.dataDir, bodies.d), MiB + 9);
    const dataDir = server.dataDir;
    await server.stop();
    const env = remote.env;
    const report = await runCli(["verify", "--json", "--data-dir", dataDir], env);
    expect(report.code).toBe(1);
    const found = JSON.parse(report.stdout);
    expect(found.corrupt).toEqual([expect.objectContaining({ bucket, key: "d", origin: "remote", action: "none" })]);
    const repair = await runCli(["verify", bucket, "--repair", "--data-dir", dataDir], env);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toMatch(/corrupt: rotmirror\/d \(mirrored\): block 1 does not match its CRC32; dropped/);
    expect((await runCli(["verify", "--data-dir", dataDir], env)).code).toBe(0);
    server = await startOverlay(remote, { dataDir });
    client.destroy();
    client = server.client({ maxAttempts: 1 });
    const read = await get(client, bucket, "d");
    expect(read.bytes?.equals(bodies.d)).toBe(true);
  });
});
