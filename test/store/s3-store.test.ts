// The S3 local tier driver against a real Ceph RGW: the shared store contract,
// plus what only a shared tier has (visibility in the tier, several stores on
// one tier, the tier going away).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openS3Store, type S3Store, type S3StoreOptions } from "../../src/store/s3/index.js";
import { rgwAvailable, startRgw, type RgwServer } from "../servers/rgw.js";
import { storeContract } from "./contract.js";
import { bodyOf, readAll, tempDataDir } from "./helpers.js";

const available = rgwAvailable();
// In CI an unavailable RGW is a failure; elsewhere the suite skips with the reason.
const skipReason = !available.ok && !process.env.CI ? `Ceph RGW unavailable: ${available.reason}` : undefined;
if (skipReason) console.warn(`${skipReason} -- S3 store tests skipped`);

let server: RgwServer | undefined;
let store: S3Store;
let bucketCounter = 0;

function optionsFor(rgw: RgwServer, stagingDir?: string): S3StoreOptions {
  return {
    endpoint: rgw.endpoint,
    region: rgw.region,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    cacheBucket: "s3o-test-cache",
    defaultBucketLocation: "us-east-1",
    stagingDir,
  };
}

/** requests RGW has answered so far (its own counter, from the admin socket) */
function rgwRequests(rgw: RgwServer): number {
  const dump = execFileSync("ceph", ["--admin-daemon", join(rgw.dir, "run", "client.rgw.asok"), "perf", "dump", "rgw"], { encoding: "utf8" });
  return JSON.parse(dump).rgw.req as number;
}

function sdkFor(rgw: RgwServer): S3Client {
  return new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
}

describe.skipIf(skipReason !== undefined)("S3Store on Ceph RGW", () => {
  beforeAll(async () => {
    if (!available.ok) throw new Error(available.reason);
    server = await startRgw();
    store = await openS3Store(optionsFor(server));
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  describe("store contract", () => {
    storeContract({ store: () => store, freshBucket: () => `contract-${process.pid}-${++bucketCounter}` });
  });

  it("hides the cache bucket and keeps objects 1:1 in the tier's buckets, s3o metadata out of sight", async () => {
    const s3 = sdkFor(server!);
    expect((await store.listBuckets()).map((b) => b.name)).not.toContain("s3o-test-cache");
    expect(await store.getBucket("s3o-test-cache")).toBeUndefined();
    // written directly into the tier: visible through the store as a client object
    await s3.send(new CreateBucketCommand({ Bucket: "preexisting" }));
    await s3.send(new PutObjectCommand({ Bucket: "preexisting", Key: "old.txt", Body: "already here", Metadata: { owner: "me" } }));
    const old = await store.headObject("preexisting", "old.txt");
    expect(old).toMatchObject({ size: 12, origin: "local", userMetadata: { owner: "me" } });
    expect(old!.etag).toMatch(/^[0-9a-f]{32}$/);
    expect((await readAll(store.readObject(old!))).toString()).toBe("already here");
    // written through the store: a plain object in the tier with the user's metadata
    await store.commitObject("preexisting", "new.txt", [await store.stage(bodyOf("via overlay"))], {
      etag: "0123456789abcdef0123456789abcdef", headers: { contentType: "text/plain" }, userMetadata: { k: "v", "s3o-etag": "sneaky" }, origin: "local",
    });
    const got = await s3.send(new GetObjectCommand({ Bucket: "preexisting", Key: "new.txt" }));
    expect(await got.Body!.transformToString()).toBe("via overlay");
    expect(got.ContentType).toBe("text/plain");
    expect(got.Metadata?.k).toBe("v");
    const head = await store.headObject("preexisting", "new.txt");
    expect(head?.userMetadata).toEqual({ k: "v" });
    expect(head?.etag).toBe("0123456789abcdef0123456789abcdef");
    // the tier holds the plain bytes
    const raw = await s3.send(new HeadObjectCommand({ Bucket: "preexisting", Key: "new.txt" }));
    expect(raw.ContentLength).toBe(11);
  });

  it("two stores on one tier see each other's writes and tombstones", async () => {
    const other = await openS3Store(optionsFor(server!, await tempDataDir()));
    try {
      const bucket = `shared-${process.pid}`;
      await store.createBucket(bucket, "us-east-1");
      expect(await other.getBucket(bucket)).toBeDefined();
      await store.commitObject(bucket, "k", [await store.stage(bodyOf("from one"))], { etag: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", headers: {}, userMetadata: {}, origin: "local" });
      const seen = await other.headObject(bucket, "k");
      expect((await readAll(other.readObject(seen!))).toString()).toBe("from one");
      await other.deleteObject(bucket, "k");
      await other.putTombstone(bucket, "k");
      expect(await store.headObject(bucket, "k")).toBeUndefined();
      expect(await store.hasTombstone(bucket, "k")).toBe(true);
      // staged data of one store cannot be committed by the other
      const staged = await store.stage(bodyOf("x"));
      await expect(other.commitObject(bucket, "x", [staged], { etag: "x", headers: {}, userMetadata: {}, origin: "local" })).rejects.toThrow(/another store/);
      await staged.discard();
    } finally {
      await other.close();
    }
  });

  it("getBucket: existence is the tier's at every call, the creation date the tier's listing", async () => {
    const other = await openS3Store(optionsFor(server!, await tempDataDir()));
    try {
      const bucket = `seen-${process.pid}`;
      await store.createBucket(bucket, "us-east-1");
      const listed = (await store.listBuckets()).find((b) => b.name === bucket)!;
      expect(await store.getBucket(bucket)).toEqual(listed);
      // deleted by another process: gone at once, not remembered
      await other.deleteBucket(bucket);
      expect(await store.getBucket(bucket)).toBeUndefined();
      await other.createBucket(bucket, "us-east-1");
      expect((await store.getBucket(bucket))?.name).toBe(bucket);
      await store.deleteBucket(bucket);
      expect(await store.getBucket(bucket)).toBeUndefined();
      expect(await other.getBucket(bucket)).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it("commits a large staged object as a parallel multipart upload with our ETag", async () => {
    const bucket = `large-${process.pid}`;
    await store.createBucket(bucket, "us-east-1");
    const data = Buffer.alloc(70 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    const info = await store.commitObject(bucket, "big", [await store.stage(bodyOf(data, 1 << 20))], { etag: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", headers: {}, userMetadata: {}, origin: "local" });
    expect(info.size).toBe(data.length);
    const head = await store.headObject(bucket, "big");
    expect(head).toEqual(info);
    const tail = await readAll(store.readObject(head!, { start: data.length - 5000, end: data.length - 1 }));
    expect(tail.equals(data.subarray(data.length - 5000))).toBe(true);
    expect((await readAll(store.readObject(head!))).equals(data)).toBe(true);
  }, 60_000);

  it("a small object's lookup for a read and its read are one tier request; a larger one's are two, an empty one's two", async () => {
    const bucket = `lookup-${process.pid}`;
    await store.createBucket(bucket, "us-east-1");
    const sizes = { small: 4096, larger: 65537, empty: 0 };
    for (const [key, size] of Object.entries(sizes)) {
      await store.commitObject(bucket, key, [await store.stage(bodyOf(Buffer.alloc(size, 7)))], { etag: "dddddddddddddddddddddddddddddddd", headers: {}, userMetadata: {}, origin: "local" });
    }
    const requestsFor = async (key: string) => {
      const before = rgwRequests(server!);
      const info = await store.headObject(bucket, key, "read");
      expect((await readAll(store.readObject(info!))).length).toBe(sizes[key as keyof typeof sizes]);
      return rgwRequests(server!) - before;
    };
    expect(await requestsFor("small")).toBe(1);
    expect(await requestsFor("larger")).toBe(2);
    expect(await requestsFor("empty")).toBe(2);
    // the bytes are those of the version the lookup described, even if it is replaced before the read
    const looked = await store.headObject(bucket, "small", "read");
    await store.commitObject(bucket, "small", [await store.stage(bodyOf("replaced"))], { etag: "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", headers: {}, userMetadata: {}, origin: "local" });
    expect((await readAll(store.readObject(looked!))).equals(Buffer.alloc(4096, 7))).toBe(true);
    // without the lookup's bytes (a plain HEAD's info) a replaced version is NoSuchKey, as before
    await expect(readAll(store.readObject({ ...looked! }))).rejects.toMatchObject({ code: "NoSuchKey" });
  });

  it("the tier down: store calls throw ServiceUnavailable naming it; openS3Store fails with a clear error", async () => {
    const bucket = `down-${process.pid}`;
    await store.createBucket(bucket, "us-east-1");
    const info = await store.commitObject(bucket, "k", [await store.stage(bodyOf("v"))], { etag: "cccccccccccccccccccccccccccccccc", headers: {}, userMetadata: {}, origin: "local" });
    await server!.pause("refuse");
    try {
      const host = new URL(server!.endpoint).host;
      for (const call of [() => store.headObject(bucket, "k"), () => store.headObject(bucket, "k", "read"), () => store.listObjects(bucket, { limit: 10 }), () => store.listBuckets(), () => store.hasTombstone(bucket, "k"), () => readAll(store.readObject(info))]) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        expect(error).toMatchObject({ code: "ServiceUnavailable", status: 503 });
        expect((error as Error).message).toContain(host);
      }
      await expect(openS3Store(optionsFor(server!))).rejects.toThrow(server!.endpoint);
    } finally {
      await server!.resume();
    }
    expect((await store.headObject(bucket, "k"))?.etag).toBe(info.etag);
  }, 60_000);
});
