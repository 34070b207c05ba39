// The overlay against a real remote (Ceph RGW): miss-fill, hits without the
// remote, single-flight, deletes that stick, remote trouble.
import {
  CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();
if (skipReason) console.warn(`overlay tests skipped: ${skipReason}`);

/** The SDK hides unknown response headers: read X-Cache through a presigned URL and fetch. */
async function xCache(server: RunningServer, bucket: string, key: string, method: "GET" | "HEAD" = "GET"): Promise<{ status: number; cache: string | null; bytes: number }> {
  const { getSignedUrl } = await import("@aws-sdk/s3-request-presigner");
  const client = server.client();
  const command = method === "GET" ? new GetObjectCommand({ Bucket: bucket, Key: key }) : new HeadObjectCommand({ Bucket: bucket, Key: key });
  const url = await getSignedUrl(client, command, { expiresIn: 60 });
  const response = await fetch(url, { method });
  const bytes = method === "GET" ? (await response.arrayBuffer()).byteLength : 0;
  client.destroy();
  return { status: response.status, cache: response.headers.get("x-cache"), bytes };
}

describe.skipIf(skipReason !== undefined)("overlay on a real remote", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  let client: S3Client;
  const bucket = "prod-data";
  const sizes = [0, 1, 5 * 1024 * 1024, 200 * 1024 * 1024];
  const objects = new Map<string, Buffer>();

  beforeAll(async () => {
    remote = await startRemote();
    for (const [index, size] of sizes.entries()) {
      const data = patternBytes(size, index + 1);
      objects.set(`fill/${size}.bin`, data);
      await remote.put(bucket, `fill/${size}.bin`, data, {
        ContentType: "application/x-test",
        CacheControl: "max-age=60",
        ContentDisposition: `attachment; filename="${size}.bin"`,
        Metadata: { origin: "rgw", size: String(size) },
      });
    }
    server = await startOverlay(remote);
    client = server.client();
  }, 240_000);

  afterAll(async () => {
    client?.destroy();
    await server?.destroy();
    await remote?.stop();
  });

  it("fills misses byte for byte and keeps the remote's identity", async () => {
    for (const size of sizes) {
      const key = `fill/${size}.bin`;
      const expected = objects.get(key)!;
      const direct = await remote.direct.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const miss = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = Buffer.from(await miss.Body!.transformToByteArray());
      expect(body.length).toBe(size);
      expect(md5(body)).toBe(md5(expected));
      expect(miss.ETag).toBe(direct.ETag);
      expect(miss.LastModified?.getTime()).toBe(direct.LastModified?.getTime());
      expect(miss.ContentType).toBe("application/x-test");
      expect(miss.CacheControl).toBe("max-age=60");
      expect(miss.ContentDisposition).toBe(`attachment; filename="${size}.bin"`);
      expect(miss.Metadata).toEqual({ origin: "rgw", size: String(size) });
    }
    // the fills are committed in the background right after the last byte
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const size of sizes) {
      const hit = await xCache(server, bucket, `fill/${size}.bin`);
      expect(hit).toEqual({ status: 200, cache: "hit", bytes: size });
    }
  });

  it("serves hits with the remote stopped, and 503 for what is not cached", async () => {
    await remote.put(bucket, "down/cached.txt", "cached while up");
    await remote.put(bucket, "down/uncached.txt", "never read");
    const first = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "down/cached.txt" }));
    expect(await first.Body!.transformToString()).toBe("cached while up");
    await new Promise((resolve) => setTimeout(resolve, 200));
    await remote.rgw.pause();
    try {
      const hit = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "down/cached.txt" }));
      expect(await hit.Body!.transformToString()).toBe("cached while up");
      const error = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "down/uncached.txt" })).catch((e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode: number } });
      expect((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(503);
      expect((error as { name: string }).name).toBe("ServiceUnavailable");
      expect((error as { message: string }).message).toMatch(/remote S3 at 127\.0\.0\.1:\d+ is unreachable/);
    } finally {
      await remote.rgw.resume();
    }
    // the problem is logged once, not once per request
    const lines = server.stderr().split("\n").filter((line) => /unreachable/.test(line));
    expect(lines.length).toBe(1);
  });

  it("shares one remote download between 16 concurrent cold readers", async () => {
    const size = 40 * 1024 * 1024;
    const data = patternBytes(size, 77);
    await remote.put(bucket, "flight/40mb.bin", data);
    remote.proxy.reset();
    const readers = Array.from({ length: 16 }, (_, index) => {
      const reader = server.client();
      return new Promise((resolve) => setTimeout(resolve, index * 15))
        .then(() => reader.send(new GetObjectCommand({ Bucket: bucket, Key: "flight/40mb.bin" })))
        .then(async (output) => md5(Buffer.from(await output.Body!.transformToByteArray())))
        .finally(() => reader.destroy());
    });
    const digests = await Promise.all(readers);
    expect(new Set(digests)).toEqual(new Set([md5(data)]));
    const fetched = remote.proxy.stats().bytesFromTarget;
    // one body plus a few KB of headers: never a second copy
    expect(fetched).toBeGreaterThanOrEqual(size);
    expect(fetched).toBeLessThan(size * 1.05);
  });

  it("answers HEAD of an uncached object without downloading it", async () => {
    await remote.put(bucket, "head/big.bin", patternBytes(8 * 1024 * 1024, 5));
    remote.proxy.reset();
    const head = await xCache(server, bucket, "head/big.bin", "HEAD");
    expect(head.status).toBe(200);
    expect(head.cache).toBe("miss");
    expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(64 * 1024);
  });

  it("keeps writes local and makes deletes stick across restarts", async () => {
    await remote.put(bucket, "sticky/a.txt", "remote a");
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "sticky/mine.txt", Body: "local only" }));
    const remoteView = await remote.direct.send(new HeadObjectCommand({ Bucket: bucket, Key: "sticky/mine.txt" })).catch((e: { name: string }) => e.name);
    expect(remoteView).toBe("NotFound");

    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "sticky/a.txt" }));
    const gone = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "sticky/a.txt" })).catch((e: { name: string }) => e.name);
    expect(gone).toBe("NoSuchKey");
    // still on the remote: the overlay never deletes there
    const stillRemote = await remote.direct.send(new GetObjectCommand({ Bucket: bucket, Key: "sticky/a.txt" }));
    expect(await stillRemote.Body!.transformToString()).toBe("remote a");

    client.destroy();
    await server.stop();
    server = await startOverlay(remote, { dataDir: server.dataDir });
    client = server.client();
    const afterRestart = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "sticky/a.txt" })).catch((e: { name: string }) => e.name);
    expect(afterRestart).toBe("NotFound");
    // writing the key again brings it back (the client's version)
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "sticky/a.txt", Body: "rewritten" }));
    const back = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "sticky/a.txt" }));
    expect(await back.Body!.transformToString()).toBe("rewritten");
  });

  it("a bad upload into a bucket known only remotely answers BadDigest and the server lives on", async () => {
    await remote.put("remote-only-bucket", "seed.txt", "x");
    // the bucket check goes to the remote first: the body fails verification meanwhile
    const error = await client.send(new PutObjectCommand({ Bucket: "remote-only-bucket", Key: "bad.txt", Body: "hello", ChecksumCRC32: "AAAAAA==" }))
      .catch((e: { name: string }) => e.name);
    expect(error).toBe("BadDigest");
    const seed = await client.send(new GetObjectCommand({ Bucket: "remote-only-bucket", Key: "seed.txt" }));
    expect(await seed.Body!.transformToString()).toBe("x");
  });

  it("remembers remote 404s and forgets them on a local write", async () => {
    const missing = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "neg/later.txt" })).catch((e: { name: string }) => e.name);
    expect(missing).toBe("NoSuchKey");
    await remote.put(bucket, "neg/later.txt", "appeared on the remote");
    remote.proxy.reset();
    const stillMissing = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "neg/later.txt" })).catch((e: { name: string }) => e.name);
    expect(stillMissing).toBe("NoSuchKey");
    expect(remote.proxy.stats().connections + remote.proxy.stats().bytesToTarget).toBe(0);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "neg/later.txt", Body: "mine" }));
    const mine = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "neg/later.txt" }));
    expect(await mine.Body!.transformToString()).toBe("mine");
  });

  it("copies an object that exists only on the remote", async () => {
    await remote.put(bucket, "copy/src.txt", "copy me", { Metadata: { tag: "x" } });
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy/dst.txt", CopySource: `${bucket}/copy/src.txt` }));
    const copied = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "copy/dst.txt" }));
    expect(await copied.Body!.transformToString()).toBe("copy me");
    expect(copied.Metadata).toEqual({ tag: "x" });
    const remoteView = await remote.direct.send(new HeadObjectCommand({ Bucket: bucket, Key: "copy/dst.txt" })).catch((e: { name: string }) => e.name);
    expect(remoteView).toBe("NotFound");
  });

  it("lists mapped and remote-backed buckets", async () => {
    const buckets = await client.send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toContain(bucket);
  });
});

describe.skipIf(skipReason !== undefined)("overlay: mapping, trouble and pass-through", () => {
  let remote: RemoteFixture;

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put("prod-bucket-2024", "data/x.csv", "a,b\n1,2\n", { ContentType: "text/csv" });
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
  });

  it("maps a local bucket name to a remote bucket", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_BUCKET_MAPPING: "dev:prod-bucket-2024" } });
    const client = server.client();
    try {
      const output = await client.send(new GetObjectCommand({ Bucket: "dev", Key: "data/x.csv" }));
      expect(await output.Body!.transformToString()).toBe("a,b\n1,2\n");
      expect(output.ContentType).toBe("text/csv");
      const buckets = await client.send(new ListBucketsCommand({}));
      expect(buckets.Buckets?.map((b) => b.Name)).toContain("dev");
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("answers 403 naming the remote when its credentials are wrong", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: "not-the-secret" } });
    const client = server.client();
    try {
      const error = await client.send(new GetObjectCommand({ Bucket: "prod-bucket-2024", Key: "data/x.csv" })).catch((e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode: number } });
      expect((error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode).toBe(403);
      expect((error as { message: string }).message).toMatch(/remote S3 .* denied/);
      expect(server.stderr()).not.toContain("not-the-secret");
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("starts with the remote down and fills once it is back", async () => {
    await remote.rgw.pause();
    const server = await startOverlay(remote);
    const client = server.client();
    try {
      const error = await client.send(new GetObjectCommand({ Bucket: "prod-bucket-2024", Key: "data/x.csv" })).catch((e: { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode);
      expect(error).toBe(503);
      await remote.rgw.resume();
      const output = await client.send(new GetObjectCommand({ Bucket: "prod-bucket-2024", Key: "data/x.csv" }));
      expect(await output.Body!.transformToString()).toBe("a,b\n1,2\n");
      expect(server.stderr()).toMatch(/answers again/);
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("aborts the response and keeps nothing when the remote dies mid-transfer", async () => {
    const size = 64 * 1024 * 1024;
    await remote.put("prod-bucket-2024", "big/dies.bin", patternBytes(size, 9));
    const server = await startOverlay(remote);
    const client = server.client();
    try {
      // the remote dies for good a quarter of the way through (retries are refused too)
      remote.proxy.dieAfter(size / 4);
      const output = await client.send(new GetObjectCommand({ Bucket: "prod-bucket-2024", Key: "big/dies.bin" }));
      const stream = output.Body as NodeJS.ReadableStream;
      let received = 0;
      const outcome = await new Promise<string>((resolve) => {
        stream.on("data", (chunk: Buffer) => (received += chunk.length));
        stream.on("end", () => resolve("end"));
        stream.on("error", () => resolve("error"));
      });
      expect(outcome).toBe("error");
      expect(received).toBeLessThan(size);
      remote.proxy.revive();
      // nothing was committed: the next read is a miss again, and complete
      const again = await xCache(server, "prod-bucket-2024", "big/dies.bin");
      expect(again).toEqual({ status: 200, cache: "miss", bytes: size });
    } finally {
      remote.proxy.revive();
      client.destroy();
      await server.destroy();
    }
  });

  it("passes through without caching when S3_OVERLAY_CACHE_ENABLED=false", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_CACHE_ENABLED: "false" } });
    try {
      for (let i = 0; i < 2; i++) {
        const read = await xCache(server, "prod-bucket-2024", "data/x.csv");
        expect(read).toEqual({ status: 200, cache: "pass", bytes: 8 });
      }
    } finally {
      await server.destroy();
    }
  });
});

