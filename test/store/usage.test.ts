// Cache accounting (usage, diskUsage) and LRU eviction support (listCached, evict)
// of the embedded store, on real temp dirs.
import Database from "../../src/store/fs/sqlite.js";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openFsStore, type FsStore } from "../../src/store/fs/index.js";
import type { BucketUsage, CachedEntry, ChunkKey, NewObject, ObjectInfo } from "../../src/store/types.js";
import { bodyOf, eventually, filesIn, localMeta, readAll, settle, tempDataDir } from "./helpers.js";

const CHUNK_SIZE = 1000;
const T0 = 1_800_000_000_000;

afterEach(() => {
  vi.useRealTimers();
});

function useClock(time: number): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(time);
}

function mirrorMeta(etag: string, size: number, extra: Partial<NewObject> = {}): NewObject {
  return {
    etag,
    headers: {},
    userMetadata: {},
    origin: "remote",
    remote: { etag, size, lastModified: new Date(1_600_000_000_000), fetchedAt: new Date(1_700_000_000_000) },
    lastModified: new Date(1_600_000_000_000),
    ...extra,
  };
}

async function put(store: FsStore, bucket: string, key: string, content: Buffer | string, meta: NewObject): Promise<ObjectInfo> {
  return store.commitObject(bucket, key, [await store.stage(bodyOf(content, 4096))], meta);
}

async function putMirror(store: FsStore, bucket: string, key: string, content: Buffer | string, etag = `etag-${key}`): Promise<ObjectInfo> {
  return put(store, bucket, key, content, mirrorMeta(etag, Buffer.byteLength(content)));
}

async function putManifest(store: FsStore, bucket: string, key: string, size: number, etag = `etag-${key}`): Promise<ObjectInfo> {
  return store.commitObject(bucket, key, [], mirrorMeta(etag, size, { chunkSize: CHUNK_SIZE }));
}

/** Stores chunk `index` of `manifest` (filled with random bytes); returns its key. */
async function putChunk(store: FsStore, manifest: ObjectInfo, index: number): Promise<ChunkKey> {
  const chunk: ChunkKey = { bucket: manifest.bucket, key: manifest.key, etag: manifest.etag, chunkSize: CHUNK_SIZE, index };
  const bytes = randomBytes(Math.min(CHUNK_SIZE, manifest.size - index * CHUNK_SIZE));
  const digest = Buffer.alloc(4);
  digest.writeUInt32BE(crc32(bytes));
  expect(await store.putChunk(chunk, await store.stage(bodyOf(bytes, 4096)), digest.toString("base64"))).toBe(true);
  return chunk;
}

function emptyUsage(bucket: string): BucketUsage {
  return { bucket, mirroredObjects: 0, mirroredBytes: 0, chunkedObjects: 0, chunkedBytes: 0, chunksCached: 0, chunksTotal: 0, chunkBytes: 0, localObjects: 0, localBytes: 0, tombstones: 0 };
}

/** What listCached says, as "kind bucket/key[#index] size @ms-after-T0". */
function describeEntries(entries: CachedEntry[]): string[] {
  return entries.map((entry) => {
    const index = entry.kind === "chunk" ? `#${entry.index}` : "";
    return `${entry.kind} ${entry.bucket}/${entry.key}${index} ${entry.size} @${entry.lastAccess.getTime() - T0}`;
  });
}

async function openWithBuckets(...buckets: string[]): Promise<{ dir: string; store: FsStore }> {
  const dir = await tempDataDir();
  const store = await openFsStore(dir);
  for (const bucket of buckets) await store.createBucket(bucket, "us-east-1");
  return { dir, store };
}

describe("usage", () => {
  it("counts mirrored, chunked and client-written objects, chunks and tombstones per bucket, with bucket and prefix filters", async () => {
    const { store } = await openWithBuckets("a", "b", "empty");
    await putMirror(store, "a", "m/1", "x".repeat(10));
    await putMirror(store, "a", "m/2", "y".repeat(20));
    await put(store, "a", "l/1", "hello", localMeta());
    const big = await putManifest(store, "a", "m/big", 2500); // 3 chunks: 1000, 1000, 500
    await putChunk(store, big, 0);
    await putChunk(store, big, 2);
    await putManifest(store, "a", "m/empty-manifest", 0); // 0 chunks
    await store.putTombstone("a", "m/gone");
    await store.putTombstone("a", "l/gone");
    await put(store, "b", "x/local", "local bytes", localMeta());
    await putMirror(store, "b", "y/mirror", "mirror");
    await store.putTombstone("b", "x/gone");

    const a: BucketUsage = {
      bucket: "a",
      mirroredObjects: 2,
      mirroredBytes: 30,
      chunkedObjects: 2,
      chunkedBytes: 2500,
      chunksCached: 2,
      chunksTotal: 3,
      chunkBytes: 1500,
      localObjects: 1,
      localBytes: 5,
      tombstones: 2,
    };
    const b: BucketUsage = { ...emptyUsage("b"), mirroredObjects: 1, mirroredBytes: 6, localObjects: 1, localBytes: 11, tombstones: 1 };
    // "empty" holds nothing, so it is left out unless asked for
    expect(await store.usage({})).toEqual([a, b]);
    expect(await store.usage({ bucket: "empty" })).toEqual([emptyUsage("empty")]);
    expect(await store.usage({ bucket: "b" })).toEqual([b]);
    expect(await store.usage({ bucket: "a", prefix: "m/" })).toEqual([{ ...a, localObjects: 0, localBytes: 0, tombstones: 1 }]);
    expect(await store.usage({ bucket: "a", prefix: "l/" })).toEqual([{ ...emptyUsage("a"), localObjects: 1, localBytes: 5, tombstones: 1 }]);
    // a prefix without a bucket applies to every bucket
    expect(await store.usage({ prefix: "x/" })).toEqual([{ ...emptyUsage("b"), localObjects: 1, localBytes: 11, tombstones: 1 }]);
    expect(await store.usage({ prefix: "nothing-here/" })).toEqual([]);

    // deleting the manifest takes its chunks out of the numbers
    await store.deleteObject("a", "m/big");
    expect((await store.usage({ bucket: "a" }))[0]).toMatchObject({ chunkedObjects: 1, chunkedBytes: 0, chunksCached: 0, chunksTotal: 0, chunkBytes: 0 });
    await store.close();
  });
});

describe("diskUsage", () => {
  it("counts each referenced blob once (copies share), parts and chunks, staged files until used, not dropped blobs", async () => {
    const { dir, store } = await openWithBuckets("b");
    expect(await store.diskUsage()).toBe(0);
    const original = await put(store, "b", "one", "a".repeat(100), localMeta());
    await store.copyObject(original, "b", "copy", localMeta()); // shares the blob: no new bytes
    await putMirror(store, "b", "mirror", "m".repeat(40));
    const big = await putManifest(store, "b", "big", 1200);
    await putChunk(store, big, 1); // 200 bytes
    const upload = await store.createUpload("b", "multi", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("p".repeat(30))), { etag: "part" });
    expect(await store.diskUsage()).toBe(100 + 40 + 200 + 30);

    const staged = await store.stage(bodyOf("s".repeat(7)));
    expect(await store.diskUsage()).toBe(370 + 7);
    await staged.discard();
    expect(await store.diskUsage()).toBe(370);

    await store.deleteObject("b", "one");
    expect(await store.diskUsage()).toBe(370); // "copy" still holds the blob
    await store.deleteObject("b", "copy");
    await store.abortUpload(upload.uploadId);
    expect(await store.diskUsage()).toBe(240);
    await store.close();

    // the counted sizes survive a reopen and match the files on disk
    const reopened = await openFsStore(dir);
    expect(await reopened.diskUsage()).toBe(240);
    expect((await filesIn(dir, "blobs")).length).toBe(2);
    await reopened.close();
  });
});

describe("listCached", () => {
  it("lists mirrored objects least recently used first; a read moves one to the end, at most once a second", async () => {
    const { store } = await openWithBuckets("b");
    useClock(T0);
    const first = await putMirror(store, "b", "first", "1111");
    vi.setSystemTime(T0 + 1000);
    await putMirror(store, "b", "second", "22");
    vi.setSystemTime(T0 + 2000);
    await putMirror(store, "b", "third", "333");
    await put(store, "b", "client", "never listed", localMeta());
    expect(describeEntries(await store.listCached({ limit: 10 }))).toEqual(["object b/first 4 @0", "object b/second 2 @1000", "object b/third 3 @2000"]);

    vi.setSystemTime(T0 + 5000);
    expect((await readAll(store.readObject(first))).toString()).toBe("1111");
    expect(describeEntries(await store.listCached({ limit: 10 }))).toEqual(["object b/second 2 @1000", "object b/third 3 @2000", "object b/first 4 @5000"]);

    // a read less than a second later does not write
    vi.setSystemTime(T0 + 5900);
    await readAll(store.readObject(first, { start: 1, end: 2 }));
    expect(describeEntries(await store.listCached({ limit: 10 }))).toContain("object b/first 4 @5000");
    vi.setSystemTime(T0 + 6000);
    await readAll(store.readObject(first));
    expect(describeEntries(await store.listCached({ limit: 10 }))).toContain("object b/first 4 @6000");

    // limit and accessedBefore (strictly before)
    expect(describeEntries(await store.listCached({ limit: 1 }))).toEqual(["object b/second 2 @1000"]);
    expect(describeEntries(await store.listCached({ limit: 10, accessedBefore: new Date(T0 + 2000) }))).toEqual(["object b/second 2 @1000"]);
    expect(await store.listCached({ limit: 10, accessedBefore: new Date(T0 + 1000) })).toEqual([]);
    await store.close();
  });

  it("lists chunks before their manifest; a chunk read marks the manifest used; a manifest's size is its chunks' bytes", async () => {
    const { store } = await openWithBuckets("b");
    useClock(T0);
    const big = await putManifest(store, "b", "big", 2500);
    const bare = await putManifest(store, "b", "bare", 5000); // never gets a chunk
    vi.setSystemTime(T0 + 1000);
    const chunk0 = await putChunk(store, big, 0);
    vi.setSystemTime(T0 + 2000);
    await putChunk(store, big, 2);
    vi.setSystemTime(T0 + 3000);
    await putMirror(store, "b", "whole", "w".repeat(50));
    expect(describeEntries(await store.listCached({ limit: 10 }))).toEqual([
      "manifest b/bare 0 @0",
      "chunk b/big#0 1000 @1000",
      "chunk b/big#2 500 @2000",
      "manifest b/big 1500 @2000",
      "object b/whole 50 @3000",
    ]);
    expect(bare.chunkSize).toBe(CHUNK_SIZE);

    vi.setSystemTime(T0 + 4000);
    const info = await store.getChunk(chunk0);
    expect((await readAll(store.readChunk(info!))).length).toBe(1000);
    expect(describeEntries(await store.listCached({ limit: 10 }))).toEqual([
      "manifest b/bare 0 @0",
      "chunk b/big#2 500 @2000",
      "object b/whole 50 @3000",
      "chunk b/big#0 1000 @4000",
      "manifest b/big 1500 @4000",
    ]);
    const entries = await store.listCached({ limit: 2 });
    expect(entries[1]).toEqual({ kind: "chunk", bucket: "b", key: "big", etag: big.etag, size: 500, lastAccess: new Date(T0 + 2000), chunkSize: CHUNK_SIZE, index: 2 });
    expect(entries[0]).toEqual({ kind: "manifest", bucket: "b", key: "bare", etag: bare.etag, size: 0, lastAccess: new Date(T0) });
    await store.close();
  });

  it("filters by bucket and prefix", async () => {
    const { store } = await openWithBuckets("a", "b");
    useClock(T0);
    await putMirror(store, "a", "x/1", "1");
    vi.setSystemTime(T0 + 1000);
    const big = await putManifest(store, "b", "x/big", 1500);
    await putChunk(store, big, 1);
    vi.setSystemTime(T0 + 2000);
    await putMirror(store, "b", "y/1", "22");
    expect(describeEntries(await store.listCached({ bucket: "b", limit: 10 }))).toEqual(["chunk b/x/big#1 500 @1000", "manifest b/x/big 500 @1000", "object b/y/1 2 @2000"]);
    expect(describeEntries(await store.listCached({ prefix: "x/", limit: 10 }))).toEqual(["object a/x/1 1 @0", "chunk b/x/big#1 500 @1000", "manifest b/x/big 500 @1000"]);
    expect(describeEntries(await store.listCached({ bucket: "b", prefix: "y/", limit: 10 }))).toEqual(["object b/y/1 2 @2000"]);
    expect(await store.listCached({ bucket: "a", prefix: "y/", limit: 10 })).toEqual([]);
    await store.close();
  });
});

describe("evict", () => {
  it("removes a mirrored object and its blob, leaving no tombstone", async () => {
    const { dir, store } = await openWithBuckets("b");
    await putMirror(store, "b", "m", "mirrored bytes");
    const [entry] = await store.listCached({ limit: 10 });
    expect(await store.evict(entry!)).toBe(true);
    expect(await store.headObject("b", "m")).toBeUndefined();
    expect(await store.hasTombstone("b", "m")).toBe(false);
    expect(await store.listCached({ limit: 10 })).toEqual([]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    expect(await store.evict(entry!)).toBe(false); // already gone
    await store.close();
  });

  it("refuses a stale entry: the key was rewritten by a client, or refilled with another version, or is another kind now", async () => {
    const { dir, store } = await openWithBuckets("b");
    await putMirror(store, "b", "k", "from the remote", "remote-etag");
    const [stale] = await store.listCached({ limit: 10 });

    // a client write with the same ETag still is not evictable
    const client = await put(store, "b", "k", "client data", localMeta("remote-etag"));
    expect(await store.evict(stale!)).toBe(false);
    expect(await store.evict({ ...stale!, kind: "manifest" })).toBe(false);
    await settle();
    expect((await readAll(store.readObject(client))).toString()).toBe("client data");
    expect(await filesIn(dir, "blobs")).toHaveLength(1);

    // a refill with a new remote version
    await putMirror(store, "b", "k", "newer remote version", "newer-etag");
    expect(await store.evict(stale!)).toBe(false);
    expect((await store.headObject("b", "k"))!.etag).toBe("newer-etag");

    // a manifest of the same version is not the whole object, nor the reverse
    await putManifest(store, "b", "k", 2000, "newer-etag");
    const [manifest] = await store.listCached({ limit: 10 });
    expect(manifest!.kind).toBe("manifest");
    expect(await store.evict({ ...manifest!, kind: "object" })).toBe(false);
    expect(await store.evict(manifest!)).toBe(true);
    expect(await store.headObject("b", "k")).toBeUndefined();
    await store.close();
  });

  it("a manifest goes with its chunks and their blobs; a single chunk goes alone", async () => {
    const { dir, store } = await openWithBuckets("b");
    const big = await putManifest(store, "b", "big", 3000);
    await putChunk(store, big, 0);
    const chunk1 = await putChunk(store, big, 1);
    await putChunk(store, big, 2);
    expect(await filesIn(dir, "blobs")).toHaveLength(3);

    const chunkEntry = (await store.listCached({ limit: 10 })).find((entry) => entry.kind === "chunk" && entry.index === 1)!;
    expect(await store.evict(chunkEntry)).toBe(true);
    expect(await store.getChunk(chunk1)).toBeUndefined();
    expect((await store.listChunks("b", "big", big.etag)).map((chunk) => chunk.index)).toEqual([0, 2]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(2));
    expect(await store.evict(chunkEntry)).toBe(false);

    const manifestEntry = (await store.listCached({ limit: 10 })).find((entry) => entry.kind === "manifest")!;
    expect(manifestEntry.size).toBe(2000);
    expect(await store.evict(manifestEntry)).toBe(true);
    expect(await store.headObject("b", "big")).toBeUndefined();
    expect(await store.listChunks("b", "big", big.etag)).toEqual([]);
    expect(await store.listCached({ limit: 10 })).toEqual([]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    expect(await store.diskUsage()).toBe(0);
    await store.close();
  });

  it("a reader that has started keeps reading an evicted object; its blob goes when the reader is done", async () => {
    const { dir, store } = await openWithBuckets("b");
    const content = randomBytes(5 << 20);
    const info = await putMirror(store, "b", "big", content);
    const stream = store.readObject(info);
    const [entry] = await store.listCached({ limit: 1 });
    expect(await store.evict(entry!)).toBe(true);
    await settle();
    expect(await filesIn(dir, "blobs")).toHaveLength(1);
    expect((await readAll(stream)).equals(content)).toBe(true);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    // a new reader of the evicted version finds it gone
    await expect(readAll(store.readObject(info))).rejects.toMatchObject({ code: "NoSuchKey" });
    await store.close();
  });
});

describe("deleteTombstone", () => {
  it("removes one tombstone and says whether there was one", async () => {
    const { store } = await openWithBuckets("b");
    await store.putTombstone("b", "k");
    await store.putTombstone("b", "other");
    expect(await store.deleteTombstone("b", "k")).toBe(true);
    expect(await store.deleteTombstone("b", "k")).toBe(false);
    expect(await store.hasTombstone("b", "k")).toBe(false);
    expect(await store.listTombstones("b", { limit: 10 })).toEqual(["other"]);
    await store.close();
  });
});

describe("upgrade from catalog version 2", () => {
  it("starts last access at the fetch time (mirrors) or Last-Modified, and learns blob sizes", async () => {
    const { dir, store } = await openWithBuckets("b");
    await putMirror(store, "b", "mirror", "m".repeat(40));
    await put(store, "b", "client", "c".repeat(10), { ...localMeta(), lastModified: new Date(1_650_000_000_000) });
    const original = await store.commitObject("b", "two-blobs", [await store.stage(bodyOf("a".repeat(3))), await store.stage(bodyOf("b".repeat(4)))], localMeta());
    await store.copyObject(original, "b", "copy", localMeta());
    const big = await putManifest(store, "b", "big", 1500);
    await putChunk(store, big, 1);
    const upload = await store.createUpload("b", "multi", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("p".repeat(30))), { etag: "part" });
    await store.close();

    const db = new Database(join(dir, "catalog.db"));
    db.exec("DROP TRIGGER blob_checks_follow_refs; DROP TABLE blob_checks; DROP INDEX objects_by_access; DROP INDEX chunks_by_access; ALTER TABLE objects DROP COLUMN last_access; ALTER TABLE blob_refs DROP COLUMN size; ALTER TABLE uploads DROP COLUMN checksum_type; PRAGMA user_version = 2;");
    db.close();

    const upgraded = await openFsStore(dir);
    expect(await upgraded.diskUsage()).toBe(40 + 10 + 7 + 500 + 30);
    const entries = await upgraded.listCached({ limit: 10 });
    expect(entries.map((entry) => [entry.kind, entry.key, entry.lastAccess.getTime()])).toEqual([
      // equal times: key order
      ["manifest", "big", 1_700_000_000_000],
      ["object", "mirror", 1_700_000_000_000],
      ["chunk", "big", entries[2]!.lastAccess.getTime()], // chunks always had last_access
    ]);
    expect(entries[2]!.lastAccess.getTime()).toBeGreaterThan(1_700_000_000_000);
    await upgraded.close();
    const reader = new Database(join(dir, "catalog.db"), { readonly: true });
    expect(reader.prepare("SELECT key, last_access FROM objects WHERE origin = 'local' ORDER BY key").all()).toContainEqual({ key: "client", last_access: 1_650_000_000_000 });
    reader.close();
  });
});

describe("at 100k objects", () => {
  it("usage, listCached and diskUsage stay fast", { timeout: 120_000 }, async () => {
    const { store } = await openWithBuckets("big", "small");
    const count = 100_000;
    let time = T0;
    useClock(time);
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      vi.setSystemTime(++time);
      const key = `dir${i % 100}/object-${i}`;
      // no data, so no files: this measures the catalog
      if (i % 5 === 0) await store.commitObject("big", key, [], localMeta());
      else if (i % 5 === 1) await store.commitObject("big", key, [], mirrorMeta(`m${i}`, 3 * CHUNK_SIZE, { chunkSize: CHUNK_SIZE }));
      else await store.commitObject("big", key, [], mirrorMeta(`e${i}`, 0));
    }
    for (let i = 0; i < 3; i++) await putMirror(store, "small", `k${i}`, "abc");
    const filled = performance.now();

    const timed = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const result = await run();
      console.log(`${what}: ${(performance.now() - start).toFixed(1)} ms`);
      return result;
    };
    console.log(`filled ${count} objects in ${((filled - started) / 1000).toFixed(1)} s`);
    const usage = await timed("usage (all buckets)", () => store.usage({}));
    expect(usage.map((bucket) => [bucket.bucket, bucket.localObjects, bucket.chunkedObjects, bucket.mirroredObjects, bucket.chunksTotal])).toEqual([
      ["big", 20_000, 20_000, 60_000, 60_000],
      ["small", 0, 0, 3, 0],
    ]);
    const prefixed = await timed("usage (bucket + prefix)", () => store.usage({ bucket: "big", prefix: "dir7/" }));
    expect(prefixed[0]!.mirroredObjects + prefixed[0]!.chunkedObjects + prefixed[0]!.localObjects).toBe(1000);
    const oldest = await timed("listCached (1000 oldest)", () => store.listCached({ limit: 1000 }));
    expect(oldest).toHaveLength(1000);
    expect(oldest[0]).toMatchObject({ bucket: "big", key: "dir1/object-1", kind: "manifest" });
    const newest = await timed("listCached (small bucket, 10)", () => store.listCached({ bucket: "small", limit: 10 }));
    expect(newest.map((entry) => entry.key)).toEqual(["k0", "k1", "k2"]);
    await timed("listCached (bucket big, 1000)", () => store.listCached({ bucket: "big", limit: 1000 }));
    expect(await timed("diskUsage", () => store.diskUsage())).toBe(9);
    await store.close();
  });
});
