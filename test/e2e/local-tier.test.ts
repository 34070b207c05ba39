// An S3-compatible local tier (issue: MinIO / Ceph RGW instead of the embedded
// store): several serves on one tier behave as one overlay, data written
// through the endpoint is plain objects in the tier, and an unreachable tier is
// a 503, not a crash. The remote is a second Ceph RGW.
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListBucketsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRgw, type RgwServer } from "../servers/rgw.js";
import { containerRuntimeAvailable, startMinioContainer } from "../servers/minio.js";
import { ACCESS_KEY, SECRET_KEY, startServer, startServers, type RunningServer } from "./harness.js";
import { requireRgw, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();

async function xCache(server: RunningServer, bucket: string, key: string): Promise<{ status: number; cache: string | null; body: string }> {
  const client = server.client();
  const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
  client.destroy();
  const response = await fetch(url);
  return { status: response.status, cache: response.headers.get("x-cache"), body: await response.text() };
}

describe.skipIf(skipReason !== undefined)("two serves on one Ceph RGW local tier", () => {
  let remote: RemoteFixture;
  let tier: RgwServer;
  let tierClient: S3Client;
  let first: RunningServer;
  let second: RunningServer;

  beforeAll(async () => {
    [remote, tier] = await Promise.all([startRemote(), startRgw({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY })]);
    await remote.put("shared", "data/a.txt", "from the remote");
    await remote.put("shared", "data/b.txt", "also remote");
    const env = { S3_OVERLAY_LOCAL_ENDPOINT: tier.endpoint };
    [first, second] = await startServers([{ env: { ...remote.env, ...env } }, { env: { ...remote.env, ...env } }]);
    tierClient = new S3Client({
      endpoint: tier.endpoint, region: "us-east-1", forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, requestChecksumCalculation: "WHEN_REQUIRED",
    });
  }, 240_000);

  afterAll(async () => {
    tierClient?.destroy();
    await first?.destroy();
    await second?.destroy();
    await Promise.all([remote?.stop(), tier?.stop()]);
  });

  it("a fill through one serve is a hit through the other, and a plain object in the tier", async () => {
    expect(await xCache(first, "shared", "data/a.txt")).toEqual({ status: 200, cache: "miss", body: "from the remote" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    remote.proxy.reset();
    expect(await xCache(second, "shared", "data/a.txt")).toEqual({ status: 200, cache: "hit", body: "from the remote" });
    expect(remote.proxy.stats().bytesFromTarget).toBe(0);
    // what the tier holds is an ordinary object a MinIO console (or any client) can read
    const inTier = await tierClient.send(new GetObjectCommand({ Bucket: "shared", Key: "data/a.txt" }));
    expect(await inTier.Body!.transformToString()).toBe("from the remote");
  });

  it("a delete through one sticks in the other", async () => {
    const client = first.client();
    await client.send(new DeleteObjectCommand({ Bucket: "shared", Key: "data/b.txt" }));
    client.destroy();
    expect((await xCache(second, "shared", "data/b.txt")).status).toBe(404);
  });

  it("a remote 404 seen by one serve is trusted by the other for the negative-cache time", async () => {
    expect((await xCache(first, "shared", "data/late.txt")).status).toBe(404);
    // the object appears on the remote; the overlay keeps trusting the 404 (default 30 s), through either serve
    await remote.put("shared", "data/late.txt", "arrived late");
    remote.proxy.reset();
    expect((await xCache(second, "shared", "data/late.txt")).status).toBe(404);
    expect(remote.proxy.stats().connections + remote.proxy.stats().bytesToTarget).toBe(0);
  });

  it("writes through the endpoint land in same-named tier buckets, never on the remote", async () => {
    const client = second.client();
    await client.send(new PutObjectCommand({ Bucket: "shared", Key: "mine.txt", Body: "local write", Metadata: { owner: "me" } }));
    client.destroy();
    const inTier = await tierClient.send(new GetObjectCommand({ Bucket: "shared", Key: "mine.txt" }));
    expect(await inTier.Body!.transformToString()).toBe("local write");
    expect(inTier.Metadata?.owner).toBe("me");
    const remoteView = await remote.direct.send(new HeadObjectCommand({ Bucket: "shared", Key: "mine.txt" })).catch((e: { name: string }) => e.name);
    expect(remoteView).toBe("NotFound");
    expect(await xCache(first, "shared", "mine.txt")).toEqual({ status: 200, cache: "hit", body: "local write" });
  });

  it("a multipart upload may send its parts through different serves (a round-robin load balancer)", async () => {
    const [viaFirst, viaSecond] = [first.client(), second.client()];
    try {
      const parts = [Buffer.alloc(5 * 1024 * 1024, 1), Buffer.alloc(1024, 2)];
      const { UploadId } = await viaFirst.send(new CreateMultipartUploadCommand({ Bucket: "shared", Key: "balanced.bin", ContentType: "application/x-test" }));
      const one = await viaSecond.send(new UploadPartCommand({ Bucket: "shared", Key: "balanced.bin", UploadId, PartNumber: 1, Body: parts[0] }));
      const two = await viaFirst.send(new UploadPartCommand({ Bucket: "shared", Key: "balanced.bin", UploadId, PartNumber: 2, Body: parts[1] }));
      const listed = await viaFirst.send(new ListPartsCommand({ Bucket: "shared", Key: "balanced.bin", UploadId }));
      expect((listed.Parts ?? []).map((part) => part.PartNumber)).toEqual([1, 2]);
      await viaSecond.send(new CompleteMultipartUploadCommand({
        Bucket: "shared", Key: "balanced.bin", UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: one.ETag }, { PartNumber: 2, ETag: two.ETag }] },
      }));
      const got = await viaFirst.send(new GetObjectCommand({ Bucket: "shared", Key: "balanced.bin" }));
      expect(got.ContentType).toBe("application/x-test");
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(parts))).toBe(true);
    } finally {
      viaFirst.destroy();
      viaSecond.destroy();
    }
  });

  it("data already in the tier is visible through the endpoint", async () => {
    await tierClient.send(new PutObjectCommand({ Bucket: "shared", Key: "put-directly.txt", Body: "was here before" }));
    expect(await xCache(first, "shared", "put-directly.txt")).toEqual({ status: 200, cache: "hit", body: "was here before" });
  });

  it("starts with the tier down, says so, answers 503, and recovers", async () => {
    await tier.pause();
    let server: RunningServer | undefined;
    try {
      server = await startServer({ env: { S3_OVERLAY_LOCAL_ENDPOINT: tier.endpoint } });
      expect(server.stderr()).toMatch(/S3 local tier at http:\/\/127\.0\.0\.1:\d+/);
      const client = server.client();
      const status = await client.send(new HeadObjectCommand({ Bucket: "shared", Key: "mine.txt" }))
        .then(() => 200, (e: { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode);
      expect(status).toBe(503);
      await tier.resume();
      const head = await client.send(new HeadObjectCommand({ Bucket: "shared", Key: "mine.txt" }));
      expect(head.ContentLength).toBe(11);
      client.destroy();
    } finally {
      await tier.resume().catch(() => undefined);
      await server?.destroy();
    }
  });
});

describe.skipIf(skipReason !== undefined)("a compose file written for the original package (MinIO + proxy)", () => {
  // only the original package's variables, as its README's docker-compose example sets them
  const composeKeys = { accessKeyId: "compose-user", secretAccessKey: "compose-password" };
  let remote: RemoteFixture;
  let tier: RgwServer;
  let server: RunningServer;

  beforeAll(async () => {
    [remote, tier] = await Promise.all([startRemote(), startRgw(composeKeys)]);
    await remote.put("prod-data", "small.txt", "from production", { ContentType: "text/plain", Metadata: { team: "data" } });
    await remote.put("prod-data", "large.bin", Buffer.alloc(3 * 1024 * 1024, 7));
    server = await startServer({
      env: {
        S3_OVERLAY_LOCAL_ENDPOINT: tier.endpoint,
        S3_OVERLAY_LOCAL_ACCESS_KEY: composeKeys.accessKeyId,
        S3_OVERLAY_LOCAL_SECRET_KEY: composeKeys.secretAccessKey,
        S3_OVERLAY_LOCAL_REGION: "us-east-1",
        S3_OVERLAY_DEFAULT_BUCKET_LOCATION: "us-east-1",
        S3_OVERLAY_CHUNK_THRESHOLD: String(1024 * 1024),
        S3_OVERLAY_CHUNK_SIZE: String(256 * 1024),
        S3_OVERLAY_CACHE_BUCKET: "compose-cache",
        ...remote.env,
        S3_OVERLAY_BUCKET_MAPPING: "local-bucket:prod-data",
      },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.destroy();
    await Promise.all([remote?.stop(), tier?.stop()]);
  });

  it("clients sign with the local keys; mirrored objects land in the tier bucket of the local name, chunks in S3_OVERLAY_CACHE_BUCKET", async () => {
    const client = server.client({ credentials: composeKeys });
    const tierClient = new S3Client({
      endpoint: tier.endpoint, region: "us-east-1", forcePathStyle: true, credentials: composeKeys, requestChecksumCalculation: "WHEN_REQUIRED",
    });
    try {
      const small = await client.send(new GetObjectCommand({ Bucket: "local-bucket", Key: "small.txt" }));
      expect(await small.Body!.transformToString()).toBe("from production");
      expect(small.Metadata?.team).toBe("data");
      const range = await client.send(new GetObjectCommand({ Bucket: "local-bucket", Key: "large.bin", Range: "bytes=600000-600009" }));
      expect(Buffer.from(await range.Body!.transformToByteArray())).toEqual(Buffer.alloc(10, 7));

      // the bucket was created in the tier under the local name, holding a plain copy
      const inTier = await tierClient.send(new GetObjectCommand({ Bucket: "local-bucket", Key: "small.txt" }));
      expect(await inTier.Body!.transformToString()).toBe("from production");
      expect(inTier.ContentType).toBe("text/plain");
      // the range's chunk fills beside the response (a range deep in a cold chunk is fetched directly)
      const chunkSizes = async () =>
        ((await tierClient.send(new ListObjectsV2Command({ Bucket: "compose-cache", Prefix: "chunks/" }))).Contents ?? []).map((entry) => entry.Size);
      let sizes = await chunkSizes();
      for (let waited = 0; sizes.length === 0 && waited < 5000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        sizes = await chunkSizes();
      }
      expect(sizes).toEqual([256 * 1024]);
      // and the default cache bucket was never made
      const buckets = await tierClient.send(new ListBucketsCommand({}));
      expect((buckets.Buckets ?? []).map((bucket) => bucket.Name).sort()).toEqual(["compose-cache", "local-bucket"]);

      // the default minioadmin keys are refused: the local keys are the only ones
      const wrongKeys = server.client();
      const status = await wrongKeys.send(new HeadObjectCommand({ Bucket: "local-bucket", Key: "small.txt" }))
        .then(() => 200, (e: { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode);
      wrongKeys.destroy();
      expect(status).toBe(403);
    } finally {
      client.destroy();
      tierClient.destroy();
    }
  });
});

const runtime = await containerRuntimeAvailable();
if (!runtime.ok) console.warn(`MinIO local tier tests skipped: ${runtime.reason}`);

describe.skipIf(!runtime.ok)("a MinIO local tier (testcontainers)", () => {
  it("serves a round trip with MinIO as the local tier", async () => {
    const minio = await startMinioContainer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const server = await startServer({ env: { S3_OVERLAY_LOCAL_ENDPOINT: minio.endpoint } });
    const client = server.client();
    try {
      await client.send(new CreateBucketCommand({ Bucket: "mybucket" }));
      await client.send(new PutObjectCommand({ Bucket: "mybucket", Key: "x", Body: "y" }));
      const got = await client.send(new GetObjectCommand({ Bucket: "mybucket", Key: "x" }));
      expect(await got.Body!.transformToString()).toBe("y");
    } finally {
      client.destroy();
      await server.destroy();
      await minio.stop();
    }
  }, 300_000);
});
