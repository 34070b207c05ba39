import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { openFsStore, type FsStore } from "../../src/store/fs/index.js";
import Database from "../../src/store/fs/sqlite.js";
import type { NewObject, ObjectInfo } from "../../src/store/types.js";
import { storeContract } from "./contract.js";
import { bodyOf, eventually, filesIn, localMeta, readAll, settle, tempDataDir } from "./helpers.js";

async function put(store: FsStore, bucket: string, key: string, data: string | Buffer, meta: NewObject = localMeta()): Promise<ObjectInfo> {
  return store.commitObject(bucket, key, [await store.stage(bodyOf(data))], meta);
}

async function s3ErrorOf(promise: Promise<unknown>): Promise<S3Error> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(S3Error);
  return error as S3Error;
}

async function openWithBucket(name = "b"): Promise<{ dir: string; store: FsStore }> {
  const dir = await tempDataDir();
  const store = await openFsStore(dir);
  await store.createBucket(name, "us-east-1");
  return { dir, store };
}

describe("buckets", () => {
  it("creates, lists, gets and deletes buckets", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    expect(await store.createBucket("zeta", "eu-west-1")).toBe(true);
    expect(await store.createBucket("alpha", "us-east-1")).toBe(true);
    expect(await store.createBucket("alpha", "eu-west-1")).toBe(false);
    const alpha = await store.getBucket("alpha");
    expect(alpha?.region).toBe("us-east-1");
    expect(Math.abs(alpha!.createdAt.getTime() - Date.now())).toBeLessThan(5000);
    expect((await store.listBuckets()).map((bucket) => bucket.name)).toEqual(["alpha", "zeta"]);
    expect(await store.getBucket("missing")).toBeUndefined();

    await store.deleteBucket("alpha");
    expect(await store.getBucket("alpha")).toBeUndefined();
    expect((await s3ErrorOf(store.deleteBucket("alpha"))).code).toBe("NoSuchBucket");
    await store.close();
  });

  it("refuses to delete a bucket holding objects or uploads, and drops its tombstones", async () => {
    const { store } = await openWithBucket();
    await put(store, "b", "k", "x");
    expect((await s3ErrorOf(store.deleteBucket("b"))).code).toBe("BucketNotEmpty");
    await store.deleteObject("b", "k");

    const upload = await store.createUpload("b", "k", { headers: {}, userMetadata: {} });
    expect((await s3ErrorOf(store.deleteBucket("b"))).code).toBe("BucketNotEmpty");
    await store.abortUpload(upload.uploadId);

    await store.putTombstone("b", "gone");
    await store.deleteBucket("b");
    await store.createBucket("b", "us-east-1");
    expect(await store.hasTombstone("b", "gone")).toBe(false);
    await store.close();
  });

  it("writes need the bucket", async () => {
    const { dir, store } = await openWithBucket();
    expect((await s3ErrorOf(put(store, "nope", "k", "data"))).code).toBe("NoSuchBucket");
    expect((await s3ErrorOf(store.createUpload("nope", "k", { headers: {}, userMetadata: {} }))).code).toBe("NoSuchBucket");
    expect((await s3ErrorOf(store.putTombstone("nope", "k"))).code).toBe("NoSuchBucket");
    const source = await put(store, "b", "src", "data");
    expect((await s3ErrorOf(store.copyObject(source, "nope", "k", localMeta()))).code).toBe("NoSuchBucket");
    // the failed commit left no file behind; only src's blob exists
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(1));
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await store.close();
  });
});

describe("objects", () => {
  it("round-trips every ObjectInfo field, also across a reopen", async () => {
    const { dir, store } = await openWithBucket();
    const meta: NewObject = {
      etag: "d41d8cd98f00b204e9800998ecf8427e-3",
      headers: {
        contentType: "text/plain; charset=utf-8",
        contentEncoding: "gzip",
        contentDisposition: 'attachment; filename="ü.txt"',
        contentLanguage: "de",
        cacheControl: "max-age=60",
        expires: "Thu, 01 Dec 1994 16:00:00 GMT",
      },
      userMetadata: { color: "blue", "x-odd": "ä ✓ \"quoted\"" },
      checksum: { algorithm: "CRC32C", value: "yZRlqg==-3", type: "COMPOSITE" },
      partSizes: [5, 5, 2],
      origin: "remote",
      remote: { etag: "d41d8cd98f00b204e9800998ecf8427e-3", lastModified: new Date(1_600_000_000_123), size: 12, fetchedAt: new Date(1_700_000_000_456) },
      lastModified: new Date(1_600_000_000_123),
    };
    const info = await put(store, "b", "dir/file.txt", "hello world!", meta);
    const expected: ObjectInfo = { bucket: "b", key: "dir/file.txt", size: 12, ...meta, lastModified: new Date(1_600_000_000_123) };
    expect(info).toEqual(expected);
    expect(await store.headObject("b", "dir/file.txt")).toEqual(expected);
    await store.close();

    const reopened = await openFsStore(dir);
    const head = await reopened.headObject("b", "dir/file.txt");
    expect(head).toEqual(expected);
    expect(head!.lastModified.getTime()).toBe(1_600_000_000_123);
    expect(head!.remote!.fetchedAt.getTime()).toBe(1_700_000_000_456);
    expect((await readAll(reopened.readObject(head!))).toString()).toBe("hello world!");
    expect((await reopened.listObjects("b", { limit: 10 }))[0]).toEqual(expected);
    await reopened.close();
  });

  it("omits optional fields that were not given and defaults lastModified to now", async () => {
    const { store } = await openWithBucket();
    const before = Date.now();
    const info = await put(store, "b", "k", "abc");
    expect(Object.keys(info).sort()).toEqual(["bucket", "etag", "headers", "key", "lastModified", "origin", "size", "userMetadata"]);
    expect(info.lastModified.getTime()).toBeGreaterThanOrEqual(before);
    expect(await store.headObject("b", "k")).toEqual(info);
    await store.close();
  });

  it("reads ranges, and ranges across the blobs of a several-part object", async () => {
    const { dir, store } = await openWithBucket();
    const parts = ["first-", "", "second-", "third"];
    const staged = await Promise.all(parts.map((part) => store.stage(bodyOf(part, 3))));
    const info = await store.commitObject("b", "multi", staged, localMeta());
    const whole = parts.join("");
    expect(info.size).toBe(whole.length);
    expect(await filesIn(dir, "blobs")).toHaveLength(3); // the empty part needs no blob
    expect(await filesIn(dir, "tmp")).toEqual([]);
    expect((await readAll(store.readObject(info))).toString()).toBe(whole);
    for (let start = 0; start < whole.length; start++) {
      for (let end = start; end < whole.length; end++) {
        const bytes = await readAll(store.readObject(info, { start, end }));
        expect(bytes.toString()).toBe(whole.slice(start, end + 1));
      }
    }
    // an end beyond the object is clamped, as S3 does
    expect((await readAll(store.readObject(info, { start: 13, end: 1000 }))).toString()).toBe(whole.slice(13));
    await store.close();
  });

  it("stores a 0-byte object without a blob", async () => {
    const { dir, store } = await openWithBucket();
    const info = await put(store, "b", "empty", "");
    expect(info.size).toBe(0);
    expect(await filesIn(dir, "blobs")).toEqual([]);
    expect(await filesIn(dir, "tmp")).toEqual([]);
    expect(await readAll(store.readObject(info))).toEqual(Buffer.alloc(0));
    await store.close();
  });

  it("replacing an object deletes the old blob; a stale ObjectInfo reads as NoSuchKey", async () => {
    const { dir, store } = await openWithBucket();
    const first = await put(store, "b", "k", "version one", localMeta("11111111111111111111111111111111"));
    const second = await put(store, "b", "k", "version two!", localMeta("22222222222222222222222222222222"));
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(1));
    expect((await readAll(store.readObject(second))).toString()).toBe("version two!");
    const error = await readAll(store.readObject(first)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code).toBe("NoSuchKey");

    expect(await store.deleteObject("b", "k")).toBe(true);
    expect(await store.deleteObject("b", "k")).toBe(false);
    expect(await store.headObject("b", "k")).toBeUndefined();
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    await store.close();
  });

  it("a stream for a missing version errors only when read", async () => {
    const { store } = await openWithBucket();
    const info = await put(store, "b", "k", "data");
    await store.deleteObject("b", "k");
    const stream = store.readObject(info);
    await new Promise((resolve) => setTimeout(resolve, 20)); // no listener yet: must not crash the process
    await expect(readAll(stream)).rejects.toMatchObject({ code: "NoSuchKey", status: 404 });
    await store.close();
  });

  it("staged data is used at most once and discard() removes it", async () => {
    const { dir, store } = await openWithBucket();
    const staged = await store.stage(bodyOf("payload"));
    expect(staged.size).toBe(7);
    expect(await filesIn(dir, "tmp")).toHaveLength(1);
    await store.commitObject("b", "k", [staged], localMeta());
    await expect(store.commitObject("b", "k2", [staged], localMeta())).rejects.toThrow("already committed or discarded");
    await staged.discard(); // no-op after use
    expect(await store.headObject("b", "k")).toBeDefined();

    const dropped = await store.stage(bodyOf("throw me away"));
    await dropped.discard();
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await expect(store.commitObject("b", "k3", [dropped], localMeta())).rejects.toThrow("already committed or discarded");

    const other = await openWithBucket();
    const foreign = await other.store.stage(bodyOf("elsewhere"));
    await expect(store.commitObject("b", "k4", [foreign], localMeta())).rejects.toThrow("another store");
    await other.store.close();
    await store.close();
  });

  it("copies share the blobs: no new file, and each copy survives deleting the other", async () => {
    const { dir, store } = await openWithBucket();
    await store.createBucket("other", "us-east-1");
    const source = await put(store, "b", "src", "shared bytes", localMeta("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    const copy = await store.copyObject(source, "other", "dst", { ...localMeta("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), headers: { contentType: "text/x-copy" } });
    expect(copy).toMatchObject({ bucket: "other", key: "dst", size: 12, headers: { contentType: "text/x-copy" } });
    expect(await filesIn(dir, "blobs")).toHaveLength(1);

    await store.deleteObject("b", "src");
    await settle();
    expect(await filesIn(dir, "blobs")).toHaveLength(1);
    expect((await readAll(store.readObject(copy))).toString()).toBe("shared bytes");

    // copy onto itself keeps the blob
    const self = await store.copyObject(copy, "other", "dst", { ...localMeta("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), lastModified: new Date(5000) });
    await settle();
    expect((await readAll(store.readObject(self))).toString()).toBe("shared bytes");

    // copying a version that is gone fails
    expect((await s3ErrorOf(store.copyObject(source, "other", "x", localMeta()))).code).toBe("NoSuchKey");

    await store.deleteObject("other", "dst");
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    await store.close();
  });

  it("keeps any key inside the data dir, as its own object", async () => {
    const { dir, store } = await openWithBucket();
    const keys = ["../x", "../../etc/passwd", "a/", "a//b", "/", "\u0000", "a\u0000b", "日本語/ключ/🎉", ".", "..", "x".repeat(1024), "é".repeat(512), " ", "%2F"];
    for (const [index, key] of keys.entries()) await put(store, "b", key, `value ${index}`);
    for (const [index, key] of keys.entries()) {
      const info = await store.headObject("b", key);
      expect(info?.key).toBe(key);
      expect((await readAll(store.readObject(info!))).toString()).toBe(`value ${index}`);
    }
    expect(await store.listObjects("b", { limit: 100 })).toHaveLength(keys.length);
    const top = (await readdir(dir)).filter((name) => !name.startsWith("catalog.db"));
    expect(top.sort()).toEqual(["blobs", "tmp"]);
    for (const name of await filesIn(dir, "blobs")) expect(name).toMatch(/^[0-9a-f]{32}$/);

    await expect(put(store, "b", "lone \ud800 surrogate", "x")).rejects.toMatchObject({ code: "InvalidArgument" });
    await store.close();
  });
});

describe("multipart uploads", () => {
  it("puts, replaces, lists and completes parts without copying", async () => {
    const { dir, store } = await openWithBucket();
    await store.createBucket("other", "us-east-1");
    const upload = await store.createUpload("b", "big", {
      headers: { contentType: "application/zip" },
      userMetadata: { owner: "me" },
      checksumAlgorithm: "SHA256",
    });
    expect(upload.uploadId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(await store.getUpload("b", upload.uploadId)).toEqual(upload);
    expect(await store.getUpload("other", upload.uploadId)).toBeUndefined();

    const checksum = { algorithm: "SHA256" as const, value: createHash("sha256").update("two").digest("base64"), type: "COMPOSITE" as const };
    const part = async (n: number, data: string) => store.putPart(upload.uploadId, n, await store.stage(bodyOf(data)), { etag: `etag${n}`, checksum });
    await part(3, "three");
    await part(1, "one-old");
    await part(2, "two");
    const replaced = await part(1, "one");
    await part(4, "unused");
    expect(replaced).toMatchObject({ partNumber: 1, size: 3, etag: "etag1", checksum });
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(4)); // the replaced part's blob is gone

    const parts = await store.listParts(upload.uploadId);
    expect(parts.map((p) => [p.partNumber, p.size, p.etag])).toEqual([
      [1, 3, "etag1"],
      [2, 3, "etag2"],
      [3, 5, "etag3"],
      [4, 6, "etag4"],
    ]);
    expect(parts[0]!.checksum).toEqual(checksum);

    const blobsBefore = new Set(await filesIn(dir, "blobs"));
    const info = await store.completeUpload(upload.uploadId, [1, 2, 3], { ...localMeta("cafebabecafebabecafebabecafebabe-3"), headers: upload.headers });
    expect(info).toMatchObject({ bucket: "b", key: "big", size: 11, partSizes: [3, 3, 5], etag: "cafebabecafebabecafebabecafebabe-3" });
    expect((await readAll(store.readObject(info))).toString()).toBe("onetwothree");
    expect((await readAll(store.readObject(info, { start: 2, end: 6 }))).toString()).toBe("etwot");
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(3)); // part 4's blob removed
    const blobsAfter = await filesIn(dir, "blobs"); // the others became the object's
    for (const blob of blobsAfter) expect(blobsBefore.has(blob)).toBe(true);

    expect(await store.getUpload("b", upload.uploadId)).toBeUndefined();
    expect((await s3ErrorOf(store.listParts(upload.uploadId))).code).toBe("NoSuchUpload");
    expect((await s3ErrorOf(store.completeUpload(upload.uploadId, [1], localMeta()))).code).toBe("NoSuchUpload");
    await store.close();
  });

  it("rejects unknown parts and keeps the upload; abort removes everything", async () => {
    const { dir, store } = await openWithBucket();
    const upload = await store.createUpload("b", "k", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("data")), { etag: "e1" });
    const error = await s3ErrorOf(store.completeUpload(upload.uploadId, [1, 2], localMeta()));
    expect(error.code).toBe("InvalidPart");
    expect(error.details.PartNumber).toBe("2");
    expect(await store.listParts(upload.uploadId)).toHaveLength(1);
    expect(await store.headObject("b", "k")).toBeUndefined();

    await store.abortUpload(upload.uploadId);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    expect((await s3ErrorOf(store.abortUpload(upload.uploadId))).code).toBe("NoSuchUpload");
    const late = await store.stage(bodyOf("too late"));
    expect((await s3ErrorOf(store.putPart(upload.uploadId, 2, late, { etag: "e2" }))).code).toBe("NoSuchUpload");
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await store.close();
  });

  it("completing replaces an existing object and keeps an empty single part", async () => {
    const { store } = await openWithBucket();
    await put(store, "b", "k", "old");
    const upload = await store.createUpload("b", "k", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("")), { etag: "e" });
    const info = await store.completeUpload(upload.uploadId, [1], { ...localMeta(), partSizes: [0] });
    expect(info.size).toBe(0);
    expect(await readAll(store.readObject(info))).toEqual(Buffer.alloc(0));
    await store.close();
  });

  it("keeps an upload's checksum type; an upload of a catalog from before checksum types (version 5) keeps its algorithm, with no type", async () => {
    const { dir, store } = await openWithBucket();
    const typed = await store.createUpload("b", "typed", { headers: {}, userMetadata: {}, checksumAlgorithm: "CRC32", checksumType: "FULL_OBJECT" });
    await store.close();
    const db = new Database(join(dir, "catalog.db"));
    db.exec("ALTER TABLE uploads DROP COLUMN checksum_type; PRAGMA user_version = 5;");
    db.prepare("INSERT INTO uploads (id, bucket, key, initiated, headers, user_metadata, checksum_algorithm) VALUES ('old', 'b', 'old', 0, '{}', '{}', 'SHA256')").run();
    db.close();
    const upgraded = await openFsStore(dir);
    expect(await upgraded.getUpload("b", "old")).toMatchObject({ checksumAlgorithm: "SHA256" });
    expect((await upgraded.getUpload("b", "old"))?.checksumType).toBeUndefined();
    expect((await upgraded.getUpload("b", typed.uploadId))?.checksumType).toBeUndefined();
    const again = await upgraded.createUpload("b", "typed", { headers: {}, userMetadata: {}, checksumAlgorithm: "CRC32C", checksumType: "COMPOSITE" });
    expect(await upgraded.getUpload("b", again.uploadId)).toMatchObject({ checksumAlgorithm: "CRC32C", checksumType: "COMPOSITE" });
    await upgraded.close();
  });

  it("lists uploads by key, then initiation, after the markers", async () => {
    const { store } = await openWithBucket();
    await store.createBucket("other", "us-east-1");
    const create = (key: string) => store.createUpload("b", key, { headers: {}, userMetadata: {} });
    const a1 = await create("a");
    await new Promise((resolve) => setTimeout(resolve, 3));
    const a2 = await create("a");
    const c = await create("c");
    const b = await create("b");
    const photo = await create("photos/1");
    await store.createUpload("other", "a", { headers: {}, userMetadata: {} });
    const ids = (uploads: { uploadId: string }[]) => uploads.map((upload) => upload.uploadId);

    expect(ids(await store.listUploads("b", { limit: 10 }))).toEqual(ids([a1, a2, b, c, photo]));
    expect(ids(await store.listUploads("b", { limit: 2 }))).toEqual(ids([a1, a2]));
    expect(ids(await store.listUploads("b", { limit: 10, keyMarker: "a" }))).toEqual(ids([b, c, photo]));
    expect(ids(await store.listUploads("b", { limit: 10, keyMarker: "a", uploadIdMarker: a1.uploadId }))).toEqual(ids([a2, b, c, photo]));
    expect(ids(await store.listUploads("b", { limit: 10, prefix: "photos/" }))).toEqual(ids([photo]));
    expect(ids(await store.listUploads("b", { limit: 10, prefix: "b" }))).toEqual(ids([b]));
    await store.close();
  });
});

describe("tombstones", () => {
  it("are set, listed in order and cleared by a local write only", async () => {
    const { store } = await openWithBucket();
    for (const key of ["p/b", "p/a", "q", "p/é", "p/z"]) await store.putTombstone("b", key);
    await store.putTombstone("b", "q"); // twice is fine
    expect(await store.hasTombstone("b", "q")).toBe(true);
    expect(await store.hasTombstone("b", "p")).toBe(false);
    expect(await store.listTombstones("b", { limit: 10 })).toEqual(["p/a", "p/b", "p/z", "p/é", "q"]);
    expect(await store.listTombstones("b", { prefix: "p/", startAfter: "p/b", limit: 2 })).toEqual(["p/z", "p/é"]);

    await put(store, "b", "q", "mirrored", { ...localMeta(), origin: "remote" });
    expect(await store.hasTombstone("b", "q")).toBe(true);
    await put(store, "b", "q", "written by a client");
    expect(await store.hasTombstone("b", "q")).toBe(false);

    const source = await put(store, "b", "src", "x");
    await store.copyObject(source, "b", "p/a", localMeta());
    expect(await store.hasTombstone("b", "p/a")).toBe(false);

    await store.putTombstone("b", "m");
    const upload = await store.createUpload("b", "m", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("m")), { etag: "e" });
    await store.completeUpload(upload.uploadId, [1], localMeta());
    expect(await store.hasTombstone("b", "m")).toBe(false);
    await store.close();
  });
});

describe("lifecycle", () => {
  it("fails cleanly after close", async () => {
    const { store } = await openWithBucket();
    const info = await put(store, "b", "k", "x");
    await store.close();
    await store.close();
    await expect(store.listBuckets()).rejects.toThrow("the store is closed");
    await expect(store.headObject("b", "k")).rejects.toThrow("the store is closed");
    expect(() => store.readObject(info)).toThrow("the store is closed");
  });

  it("refuses a data dir another store holds, in this process or another", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await expect(openFsStore(dir)).rejects.toThrow(`data dir ${dir} is in use by another s3-overlay process`);

    // another process sees SQLite's exclusive lock too
    const probe = `
      const sqlite = process.getBuiltinModule("node:sqlite");
      const open = (file) => (sqlite ? new sqlite.DatabaseSync(file, { timeout: 0 }) : new (require("better-sqlite3"))(file, { timeout: 0 }));
      try { open(process.argv[1]).prepare("SELECT count(*) FROM buckets").get(); console.log("open"); }
      catch (error) { console.log(error.message); }`;
    const output = execFileSync(process.execPath, ["--no-warnings", "-e", probe, join(dir, "catalog.db")], { cwd: process.cwd(), encoding: "utf8" });
    expect(output.trim()).toBe("database is locked");

    await store.close();
    const again = await openFsStore(dir); // the lock went with the first store
    await expect(openFsStore(dir)).rejects.toThrow("is in use by another s3-overlay process");
    await again.close();
  });
});

describe("store contract (embedded)", () => {
  let store: FsStore;
  let dir: string;
  let bucketCounter = 0;
  beforeAll(async () => {
    // one store for the whole contract (tempDataDir's are removed after each test)
    dir = await mkdtemp(join(tmpdir(), "s3-overlay-contract-"));
    store = await openFsStore(dir);
  });
  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });
  storeContract({ store: () => store, freshBucket: () => `contract-${++bucketCounter}` });
});
