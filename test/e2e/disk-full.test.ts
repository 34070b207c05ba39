// A full disk, for real: the data dir is on a small tmpfs (64 MiB) and the test
// fills it with a filler file outside the data dir. Misses that do not fit pass
// through (200, right bytes, X-Cache: pass), a fill that runs out of disk midway
// still serves its reader, writes that do not fit get 507 XMinioStorageFull (the
// aws CLI and the SDK see the code), nothing half-written stays, the process
// stays up, and once space returns misses are cached again.
// Needs root (mount); CI runs as root, so there the test must run, not skip.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client,
  UploadPartCommand, type S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, runCli, storeEnv, TEST_TIER, type RunningServer } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const MiB = 1024 * 1024;
const AWS = "/usr/bin/aws";

/** Mounts a tmpfs of `size` bytes, or says why it cannot (not root, no mount permission). */
function mountTmpfs(size: number): { dir?: string; reason?: string } {
  if (process.platform !== "linux") return { reason: "tmpfs needs Linux" };
  if (process.getuid?.() !== 0) return { reason: "mounting a tmpfs needs root" };
  const dir = mkdtempSync(path.join(tmpdir(), "s3o-diskfull-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (mounted.status === 0) return { dir };
  rmSync(dir, { recursive: true, force: true });
  return { reason: `mount -t tmpfs failed: ${(mounted.stderr || mounted.error?.message || "").trim()}` };
}

const rgwSkip = requireRgw();
// the embedded store is what a full local disk breaks; an RGW local tier has its own disks
const tierSkip = TEST_TIER === "rgw" ? "runs on the embedded store only" : undefined;
const disk = rgwSkip || tierSkip ? {} : mountTmpfs(64 * MiB);
if (disk.reason && process.env.CI) throw new Error(`disk-full tests must run in CI: ${disk.reason}`);
const skipReason = rgwSkip ?? tierSkip ?? disk.reason;
if (skipReason) console.warn(`disk-full tests skipped: ${skipReason}`);

function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

/** Files under `dir` (recursively), for "nothing left behind". */
function filesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => entry.name);
}

async function xCache(client: S3Client, bucket: string, key: string): Promise<{ status: number; cache: string | null; md5: string }> {
  const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
  const response = await fetch(url);
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, cache: response.headers.get("x-cache"), md5: md5(body) };
}

/** A body sent in two halves, with `between` run after the first (the disk fills while it is arriving). */
function twoHalves(data: Buffer, between: () => Promise<void>): Readable {
  const half = Math.floor(data.length / 2);
  return Readable.from((async function* () {
    for (let offset = 0; offset < half; offset += MiB) yield data.subarray(offset, Math.min(half, offset + MiB));
    await between();
    for (let offset = half; offset < data.length; offset += MiB) yield data.subarray(offset, Math.min(data.length, offset + MiB));
  })());
}

function runAws(args: string[], home: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(AWS, args, {
      env: {
        ...cleanEnv(), HOME: home, AWS_CONFIG_FILE: path.join(home, "config"), AWS_SHARED_CREDENTIALS_FILE: path.join(home, "credentials"),
        AWS_ACCESS_KEY_ID: "minioadmin", AWS_SECRET_ACCESS_KEY: "minioadmin", AWS_DEFAULT_REGION: "us-east-1",
        AWS_EC2_METADATA_DISABLED: "true", AWS_PAGER: "",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => resolve({ code, stderr, ms: Date.now() - started }));
  });
}

describe.skipIf(skipReason !== undefined)("a full disk", () => {
  // a skipped suite is still collected: a placeholder path, never used, when no tmpfs was mounted
  const mount = disk.dir ?? path.join(tmpdir(), "s3o-no-tmpfs");
  const dataDir = path.join(mount, "data");
  const filler = path.join(mount, "filler");
  const bucket = "diskfull";
  const big = patternBytes(20 * MiB, 1);
  const mid = patternBytes(18 * MiB, 2);
  // above the 24 MiB chunk threshold set below: cached in 8 MiB chunks
  const chunked = patternBytes(28 * MiB, 9);
  let remote: RemoteFixture;
  let server: RunningServer;
  let client: S3Client;

  /** Leaves about `free` bytes free on the tmpfs (the filler is outside the data dir). */
  const leaveFree = (free: number) => {
    rmSync(filler, { force: true });
    const fd = openSync(filler, "w");
    const block = Buffer.alloc(MiB, 1);
    try {
      for (let left = freeBytes(mount) - free; left > 0; left -= block.length) writeSync(fd, block, 0, Math.min(block.length, left));
    } catch (error) {
      // the server wrote at the same time: the disk is as full as it gets
      if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    } finally {
      closeSync(fd);
    }
  };
  const freeUp = () => rmSync(filler, { force: true });
  const logCount = (text: string) => server.stderr().split(text).length - 1;
  const counters = async () => {
    const result = await runCli(["status", "--data-dir", dataDir, "--json"], { ...(await storeEnv()), ...remote.env }, 60_000);
    return (JSON.parse(result.stdout) as { server: { counters: Record<string, number> } }).server.counters;
  };

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put(bucket, "big.bin", big);
    await remote.put(bucket, "mid.bin", mid);
    await remote.put(bucket, "chunked.bin", chunked);
    mkdirSync(dataDir);
    server = await startOverlay(remote, { dataDir, env: { S3_OVERLAY_CHUNK_THRESHOLD: String(24 * MiB), S3_OVERLAY_CHUNK_SIZE: String(8 * MiB) } });
    client = server.client();
  }, 240_000);

  afterAll(async () => {
    client?.destroy();
    await server?.stop();
    await remote?.stop();
    spawnSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  it("a miss larger than the free space is served from the remote without being kept (X-Cache: pass)", async () => {
    leaveFree(16 * MiB);
    const before = freeBytes(mount);
    for (let round = 0; round < 2; round++) {
      expect(await xCache(client, bucket, "big.bin")).toEqual({ status: 200, cache: "pass", md5: md5(big) });
    }
    const sdk = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "big.bin" }));
    expect(md5(Buffer.from(await sdk.Body!.transformToByteArray()))).toBe(md5(big));
    expect(server.process.exitCode).toBeNull();
    expect(filesIn(path.join(dataDir, "spool"))).toEqual([]);
    expect(filesIn(path.join(dataDir, "tmp"))).toEqual([]);
    expect(filesIn(path.join(dataDir, "blobs"))).toEqual([]);
    expect(freeBytes(mount)).toBeGreaterThan(before - MiB);
    expect(logCount("disk full: serving misses without caching")).toBe(1);
    expect(await counters()).toMatchObject({ passes: 3, passThroughDiskFull: 3 });
    // /metrics reads the same counter
    expect(await (await fetch(`${server.endpoint}/metrics`)).text()).toMatch(/^s3o_disk_full_passthrough_total 3$/m);
    // warm cannot keep it either, and says why instead of reporting it cached
    const warm = await runCli(["warm", `${bucket}/big.bin`, "--data-dir", dataDir], { ...(await storeEnv()), ...remote.env }, 60_000);
    expect(warm.code).toBe(1);
    expect(warm.stderr).toMatch(/warm: failed diskfull\/big\.bin: .*minimum free drive threshold/);
    expect(filesIn(path.join(dataDir, "blobs"))).toEqual([]);
  });

  it("a fill that runs out of disk midway still gives its reader every byte, and keeps nothing", async () => {
    freeUp();
    const spoolDir = path.join(dataDir, "spool");
    // the remote's bytes stop after ~6 MiB; meanwhile the disk fills up
    remote.proxy.holdAfter(6 * MiB);
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: "mid.bin" }), { expiresIn: 60 });
    const response = await fetch(url);
    expect(response.headers.get("x-cache")).toBe("miss");
    const body = response.arrayBuffer();
    for (let waited = 0; filesIn(spoolDir).length === 0 || statSync(path.join(spoolDir, filesIn(spoolDir)[0]!)).size < 4 * MiB; waited += 50) {
      if (waited > 20_000) throw new Error("the fill did not start spooling");
      await sleep(50);
    }
    leaveFree(MiB);
    remote.proxy.release();
    expect(md5(Buffer.from(await body))).toBe(md5(mid));
    await sleep(300);
    expect(filesIn(spoolDir)).toEqual([]);
    expect(filesIn(path.join(dataDir, "blobs"))).toEqual([]);
    expect(server.process.exitCode).toBeNull();
    expect(server.stderr()).toMatch(/disk full: .*filling diskfull\/mid\.bin/);
    // not kept: the next read is a pass-through while the disk is full
    expect(await xCache(client, bucket, "mid.bin")).toEqual({ status: 200, cache: "pass", md5: md5(mid) });
  }, 60_000);

  it("chunks of a large object that do not fit are read from the remote and not kept", async () => {
    leaveFree(12 * MiB);
    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "chunked.bin" }));
    expect(md5(Buffer.from(await read.Body!.transformToByteArray()))).toBe(md5(chunked));
    await sleep(300);
    expect(filesIn(path.join(dataDir, "blobs"))).toEqual([]);
    expect(filesIn(path.join(dataDir, "spool"))).toEqual([]);
    // the manifest is kept (a catalog row), its chunks are not: still a miss
    expect(await xCache(client, bucket, "chunked.bin")).toEqual({ status: 200, cache: "miss", md5: md5(chunked) });
    expect((await counters()).passThroughDiskFull).toBeGreaterThanOrEqual(8);
    expect(server.process.exitCode).toBeNull();
  }, 60_000);

  it("a PUT that does not fit is 507 XMinioStorageFull, for the SDK and the aws CLI, and leaves nothing", async () => {
    leaveFree(16 * MiB);
    const data = patternBytes(20 * MiB, 3);
    const refused = await client.send(new PutObjectCommand({ Bucket: bucket, Key: "put/too-big.bin", Body: data })).catch((error: S3ServiceException) => error);
    expect(refused).toMatchObject({ name: "XMinioStorageFull", $metadata: { httpStatusCode: 507 } });
    expect((refused as Error).message).toMatch(/minimum free drive threshold/);

    const home = mkdtempSync(path.join(tmpdir(), "s3o-diskfull-aws-"));
    writeFileSync(path.join(home, "config"), "");
    writeFileSync(path.join(home, "credentials"), "");
    const file = path.join(home, "too-big.bin");
    writeFileSync(file, data);
    try {
      const aws = await runAws(["--endpoint-url", server.endpoint, "s3api", "put-object", "--bucket", bucket, "--key", "put/aws.bin", "--body", file], home);
      expect(aws.code).not.toBe(0);
      // the error code, not a reset connection, and no retries (507 is not transient)
      expect(aws.stderr).toContain("An error occurred (XMinioStorageFull) when calling the PutObject operation");
      expect(aws.ms).toBeLessThan(20_000);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    for (const key of ["put/too-big.bin", "put/aws.bin"]) {
      await expect(client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    }
    expect(filesIn(path.join(dataDir, "tmp"))).toEqual([]);
    expect(server.process.exitCode).toBeNull();
  }, 60_000);

  it("a PUT whose body runs out of disk while it arrives is 507 too, and no staging file is left", async () => {
    freeUp();
    const data = patternBytes(20 * MiB, 4);
    const body = twoHalves(data, async () => leaveFree(2 * MiB));
    const refused = await client.send(new PutObjectCommand({ Bucket: bucket, Key: "put/midway.bin", Body: body, ContentLength: data.length }))
      .catch((error: S3ServiceException) => error);
    expect(refused).toMatchObject({ name: "XMinioStorageFull", $metadata: { httpStatusCode: 507 } });
    await expect(client.send(new HeadObjectCommand({ Bucket: bucket, Key: "put/midway.bin" }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    expect(filesIn(path.join(dataDir, "tmp"))).toEqual([]);
    expect(server.process.exitCode).toBeNull();
  }, 60_000);

  it("an UploadPart that does not fit is 507, and the upload goes on once space returns", async () => {
    freeUp();
    const parts = [patternBytes(6 * MiB, 5), patternBytes(8 * MiB, 6)];
    const key = "mp/object.bin";
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const first = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: parts[0] }));
    // 8 MiB do not fit in 12 MiB free with the 8 MiB margin
    leaveFree(12 * MiB);
    const refused = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: parts[1] }))
      .catch((error: S3ServiceException) => error);
    expect(refused).toMatchObject({ name: "XMinioStorageFull", $metadata: { httpStatusCode: 507 } });
    expect(filesIn(path.join(dataDir, "tmp"))).toEqual([]);
    freeUp();
    const second = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: parts[1] }));
    await client.send(new CompleteMultipartUploadCommand({
      Bucket: bucket, Key: key, UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.ETag }, { PartNumber: 2, ETag: second.ETag }] },
    }));
    const read = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(md5(Buffer.from(await read.Body!.transformToByteArray()))).toBe(md5(Buffer.concat(parts)));
    expect((await counters()).storageFull).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it("once space returns, a miss is cached again (miss, then hit), and the log says so once", async () => {
    freeUp();
    // room for both objects below (64 MiB in all)
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "mp/object.bin" }));
    // fills commit just after their last byte went out
    const untilHit = async (key: string) => {
      let read = await xCache(client, bucket, key);
      for (let tries = 0; read.cache !== "hit" && tries < 30; tries++) {
        await sleep(100);
        read = await xCache(client, bucket, key);
      }
      return read;
    };
    expect(await xCache(client, bucket, "big.bin")).toEqual({ status: 200, cache: "miss", md5: md5(big) });
    expect(await untilHit("big.bin")).toEqual({ status: 200, cache: "hit", md5: md5(big) });
    expect(await xCache(client, bucket, "chunked.bin")).toEqual({ status: 200, cache: "miss", md5: md5(chunked) });
    expect(await untilHit("chunked.bin")).toEqual({ status: 200, cache: "hit", md5: md5(chunked) });
    // hits go on with the disk full to the last byte (a read marks its object used, at most once a second)
    leaveFree(0);
    await sleep(1100);
    expect(await xCache(client, bucket, "big.bin")).toEqual({ status: 200, cache: "hit", md5: md5(big) });
    expect(await xCache(client, bucket, "chunked.bin")).toEqual({ status: 200, cache: "hit", md5: md5(chunked) });
    freeUp();
    expect(logCount("disk space is back")).toBeGreaterThanOrEqual(1);
    expect(logCount("disk space is back")).toBeLessThanOrEqual(logCount("disk full: serving misses without caching"));
    expect(server.process.exitCode).toBeNull();
  });
});
