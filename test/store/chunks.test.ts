import Database from "../../src/store/fs/sqlite.js";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { crc32 } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openFsStore, type FsStore } from "../../src/store/fs/index.js";
import type { ChunkKey, NewObject, ObjectInfo } from "../../src/store/types.js";
import { bodyOf, eventually, filesIn, localMeta, readAll, settle, tempDataDir } from "./helpers.js";

const CHUNK_SIZE = 1 << 20;
const ETAG = "9b2cf535f27731c974343645a3985328-4";

afterEach(() => {
  vi.useRealTimers();
});

function manifestMeta(size: number, etag = ETAG, chunkSize = CHUNK_SIZE): NewObject & { lastModified: Date } {
  return {
    etag,
    headers: { contentType: "application/octet-stream" },
    userMetadata: { source: "remote" },
    origin: "remote",
    chunkSize,
    remote: { etag, size, lastModified: new Date(1_600_000_000_123), fetchedAt: new Date(1_700_000_000_456) },
    lastModified: new Date(1_600_000_000_123),
  };
}

/** A store with bucket "b" holding a manifest "big" of `size` bytes; `content` is what its chunks hold. */
async function withManifest(size = 2 * CHUNK_SIZE + 1000) {
  const dir = await tempDataDir();
  const store = await openFsStore(dir);
  await store.createBucket("b", "us-east-1");
  const manifest = await store.commitObject("b", "big", [], manifestMeta(size));
  const content = randomBytes(size);
  return { dir, store, manifest, content };
}

function chunkKey(index: number, overrides: Partial<ChunkKey> = {}): ChunkKey {
  return { bucket: "b", key: "big", etag: ETAG, chunkSize: CHUNK_SIZE, index, ...overrides };
}

function chunkBytes(content: Buffer, index: number): Buffer {
  return content.subarray(index * CHUNK_SIZE, (index + 1) * CHUNK_SIZE);
}

function crcOf(bytes: Buffer): string {
  const digest = Buffer.alloc(4);
  digest.writeUInt32BE(crc32(bytes));
  return digest.toString("base64");
}

async function putChunk(store: FsStore, content: Buffer, index: number, overrides: Partial<ChunkKey> = {}): Promise<boolean> {
  const bytes = chunkBytes(content, index);
  return store.putChunk(chunkKey(index, overrides), await store.stage(bodyOf(bytes, 256 << 10)), crcOf(bytes));
}

describe("manifests", () => {
  it("take their size from remote.size, keep chunkSize, list and head like objects, across a reopen", async () => {
    const dir = await tempDataDir();
    let store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const size = 5 * 1024 ** 3 + 17; // a remote object far larger than anything staged
    const meta = manifestMeta(size);
    const info = await store.commitObject("b", "big", [], meta);
    const expected: ObjectInfo = { bucket: "b", key: "big", size, ...meta };
    expect(info).toEqual(expected);
    expect(await store.headObject("b", "big")).toEqual(expected);
    expect(await store.listObjects("b", { limit: 10 })).toEqual([expected]);
    expect(await filesIn(dir, "blobs")).toEqual([]);
    await store.close();

    store = await openFsStore(dir);
    expect(await store.headObject("b", "big")).toEqual(expected);
    expect((await store.listObjects("b", { prefix: "b", limit: 10 }))[0]!.size).toBe(size);
    expect(await store.deleteObject("b", "big")).toBe(true);
    expect(await store.headObject("b", "big")).toBeUndefined();
    await store.close();
  });

  it("cannot be read, copied or made without the right inputs", async () => {
    const { dir, store, manifest } = await withManifest();
    expect(() => store.readObject(manifest)).toThrow("b/big is a chunked manifest: read its chunks instead");
    await expect(store.copyObject(manifest, "b", "copy", localMeta())).rejects.toThrow("is a chunked manifest");

    const staged = await store.stage(bodyOf("bytes"));
    await expect(store.commitObject("b", "m", [staged], manifestMeta(5))).rejects.toThrow("committed without staged data");
    await staged.discard();
    const { remote: _, ...withoutRemote } = manifestMeta(5);
    await expect(store.commitObject("b", "m", [], withoutRemote)).rejects.toThrow("needs meta.remote");
    await expect(store.commitObject("b", "m", [], manifestMeta(5, ETAG, 0))).rejects.toThrow("invalid chunk size 0");

    const plain = await store.commitObject("b", "plain", [await store.stage(bodyOf("plain"))], localMeta());
    await expect(store.copyObject(plain, "b", "m", manifestMeta(5))).rejects.toThrow("only commitObject makes a manifest");
    const upload = await store.createUpload("b", "m", { headers: {}, userMetadata: {} });
    await expect(store.completeUpload(upload.uploadId, [], manifestMeta(5))).rejects.toThrow("only commitObject makes a manifest");

    expect(await store.headObject("b", "m")).toBeUndefined();
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await store.close();
  });

  it("a whole object of the same remote version is not the manifest's version, nor the reverse", async () => {
    const { store, manifest, content } = await withManifest(100);
    const { chunkSize: _, ...wholeMeta } = manifestMeta(100);
    const whole = await store.commitObject("b", "big", [await store.stage(bodyOf(content))], wholeMeta);
    expect(whole).toMatchObject({ etag: manifest.etag, size: manifest.size, lastModified: manifest.lastModified });
    expect(whole.chunkSize).toBeUndefined();
    expect((await readAll(store.readObject(whole))).equals(content)).toBe(true);

    await store.commitObject("b", "big", [], manifestMeta(100));
    await expect(readAll(store.readObject(whole))).rejects.toMatchObject({ code: "NoSuchKey" });
    await expect(store.copyObject(whole, "b", "copy", localMeta())).rejects.toMatchObject({ code: "NoSuchKey" });
    await store.close();
  });
});

describe("chunks", () => {
  it("are put, got, read and listed in index order", async () => {
    const { dir, store, content } = await withManifest();
    const before = Date.now();
    for (const index of [2, 0, 1]) expect(await putChunk(store, content, index)).toBe(true);
    expect(await filesIn(dir, "tmp")).toEqual([]);
    expect(await filesIn(dir, "blobs")).toHaveLength(3);

    const last = await store.getChunk(chunkKey(2));
    expect(last).toEqual({ ...chunkKey(2), size: 1000, crc32: crcOf(chunkBytes(content, 2)), lastAccess: last!.lastAccess });
    expect(last!.lastAccess.getTime()).toBeGreaterThanOrEqual(before);
    expect(last!.lastAccess.getTime()).toBeLessThanOrEqual(Date.now());

    const listed = await store.listChunks("b", "big", ETAG);
    expect(listed.map((chunk) => [chunk.index, chunk.size])).toEqual([
      [0, CHUNK_SIZE],
      [1, CHUNK_SIZE],
      [2, 1000],
    ]);
    for (const chunk of listed) {
      const bytes = await readAll(store.readChunk(chunk));
      expect(bytes.equals(chunkBytes(content, chunk.index))).toBe(true);
      expect(crcOf(bytes)).toBe(chunk.crc32);
    }

    expect(await store.getChunk(chunkKey(3))).toBeUndefined();
    expect(await store.getChunk(chunkKey(0, { etag: "other" }))).toBeUndefined();
    expect(await store.getChunk(chunkKey(0, { chunkSize: CHUNK_SIZE * 2 }))).toBeUndefined();
    expect(await store.getChunk(chunkKey(0, { key: "big2" }))).toBeUndefined();
    expect(await store.listChunks("b", "big", "other")).toEqual([]);
    await store.close();
  });

  it("a chunk put again replaces the earlier copy and its blob", async () => {
    const { dir, store, content } = await withManifest();
    await putChunk(store, content, 0);
    const [firstBlob] = await filesIn(dir, "blobs");
    await putChunk(store, content, 0);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(1));
    expect((await filesIn(dir, "blobs"))[0]).not.toBe(firstBlob);
    expect(await store.listChunks("b", "big", ETAG)).toHaveLength(1);
    expect((await readAll(store.readChunk((await store.getChunk(chunkKey(0)))!))).equals(chunkBytes(content, 0))).toBe(true);
    await store.close();
  });

  it("are refused without a matching manifest, and the staged data is gone", async () => {
    const { dir, store, content } = await withManifest();
    await store.createBucket("other", "us-east-1");
    await store.commitObject("b", "plain", [await store.stage(bodyOf("not a manifest"))], localMeta());
    const blobsBefore = await filesIn(dir, "blobs");
    const refusals: Partial<ChunkKey>[] = [
      { etag: "another-version" },
      { chunkSize: CHUNK_SIZE / 2 },
      { key: "missing" },
      { key: "plain" },
      { bucket: "other" },
      { bucket: "no-such-bucket" },
    ];
    for (const overrides of refusals) {
      expect(await putChunk(store, content, 0, overrides)).toBe(false);
    }
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await eventually(async () => expect((await filesIn(dir, "blobs")).sort()).toEqual(blobsBefore.sort()));
    expect(await store.listChunks("b", "big", ETAG)).toEqual([]);
    expect(await store.listChunks("b", "big", "another-version")).toEqual([]);
    await store.close();
  });

  it("must have the size the manifest implies for their index", async () => {
    const { dir, store, content } = await withManifest();
    const wrong = async (index: number, bytes: Buffer) =>
      store.putChunk(chunkKey(index), await store.stage(bodyOf(bytes, 1 << 16)), crcOf(bytes));
    await expect(wrong(0, content.subarray(0, CHUNK_SIZE - 1))).rejects.toThrow("cannot hold");
    await expect(wrong(2, content.subarray(0, 1001))).rejects.toThrow("cannot hold");
    await expect(wrong(3, content.subarray(0, 1))).rejects.toThrow("cannot hold");
    await expect(wrong(-1, content.subarray(0, CHUNK_SIZE))).rejects.toThrow("cannot hold");
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    expect(await store.listChunks("b", "big", ETAG)).toEqual([]);
    await store.close();
  });

  it("a chunk read after it was deleted or rewritten with other bytes fails with NoSuchKey", async () => {
    const { store, content } = await withManifest();
    await putChunk(store, content, 1);
    const chunk = (await store.getChunk(chunkKey(1)))!;
    await store.deleteChunk(chunkKey(1));
    expect(await store.getChunk(chunkKey(1))).toBeUndefined();
    await expect(readAll(store.readChunk(chunk))).rejects.toMatchObject({ code: "NoSuchKey" });

    const other = randomBytes(CHUNK_SIZE);
    await store.putChunk(chunkKey(1), await store.stage(bodyOf(other, 1 << 16)), crcOf(other));
    await expect(readAll(store.readChunk(chunk))).rejects.toMatchObject({ code: "NoSuchKey" });
    await store.deleteChunk(chunkKey(7)); // deleting a missing chunk is fine
    await store.close();
  });

  it("a reader keeps the chunk's bytes when the chunk is deleted meanwhile", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const chunkSize = 4 << 20; // several 1 MiB reads
    await store.commitObject("b", "big", [], manifestMeta(chunkSize, ETAG, chunkSize));
    const bytes = randomBytes(chunkSize);
    const key = { ...chunkKey(0), chunkSize };
    expect(await store.putChunk(key, await store.stage(bodyOf(bytes, 1 << 20)), crcOf(bytes))).toBe(true);

    const reader = store.readChunk((await store.getChunk(key))!)[Symbol.asyncIterator]();
    const received = [(await reader.next()).value as Buffer];
    await store.deleteChunk(key);
    await settle();
    expect(await filesIn(dir, "blobs")).toHaveLength(1); // pinned by the reader
    for (let next = await reader.next(); !next.done; next = await reader.next()) received.push(next.value as Buffer);
    expect(Buffer.concat(received).equals(bytes)).toBe(true);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    await store.close();
  });

  it("a read marks the chunk used, at most once a second", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_800_000_000_000);
    const { store, content } = await withManifest();
    await putChunk(store, content, 0);
    const read = async () => readAll(store.readChunk((await store.getChunk(chunkKey(0)))!));
    expect((await store.getChunk(chunkKey(0)))!.lastAccess.getTime()).toBe(1_800_000_000_000);

    vi.setSystemTime(1_800_000_000_500);
    await read();
    expect((await store.getChunk(chunkKey(0)))!.lastAccess.getTime()).toBe(1_800_000_000_000);

    vi.setSystemTime(1_800_000_005_000);
    await read();
    expect((await store.getChunk(chunkKey(0)))!.lastAccess.getTime()).toBe(1_800_000_005_000);
    await store.close();
  });

  it("lookups are fast", async () => {
    const { store, content } = await withManifest(100 * CHUNK_SIZE);
    for (let index = 0; index < 10; index++) await putChunk(store, content, index);
    const lookups = 20_000;
    const started = performance.now();
    for (let n = 0; n < lookups; n++) await store.getChunk(chunkKey(n % 20));
    const micros = ((performance.now() - started) * 1000) / lookups;
    console.log(`getChunk: ${micros.toFixed(1)} µs per lookup`);
    expect(micros).toBeLessThan(200);
    await store.close();
  });
});

describe("chunk lifecycle", () => {
  async function expectNoChunks(dir: string, store: FsStore) {
    expect(await store.listChunks("b", "big", ETAG)).toEqual([]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
  }

  async function withChunks() {
    const setup = await withManifest();
    for (const index of [0, 1, 2]) await putChunk(setup.store, setup.content, index);
    expect(await filesIn(setup.dir, "blobs")).toHaveLength(3);
    return setup;
  }

  it("replacing the object by a client write drops its chunks", async () => {
    const { dir, store } = await withChunks();
    await store.commitObject("b", "big", [], localMeta()); // 0 bytes: no blob of its own
    await expectNoChunks(dir, store);
    await store.close();
  });

  it("replacing the manifest by another version drops the old version's chunks", async () => {
    const { dir, store, content } = await withChunks();
    const newer = "ffffffffffffffffffffffffffffffff-4";
    await store.commitObject("b", "big", [], manifestMeta(content.length, newer));
    await expectNoChunks(dir, store);
    expect(await putChunk(store, content, 0)).toBe(false); // old version's chunk: refused
    expect(await putChunk(store, content, 0, { etag: newer })).toBe(true);
    await store.close();
  });

  it("a manifest with another chunk size drops the chunks", async () => {
    const { dir, store, content } = await withChunks();
    await store.commitObject("b", "big", [], manifestMeta(content.length, ETAG, CHUNK_SIZE * 2));
    await expectNoChunks(dir, store);
    await store.close();
  });

  it("committing the same manifest again (a revalidation) keeps the chunks", async () => {
    const { dir, store, content } = await withChunks();
    const meta = manifestMeta(content.length);
    meta.remote!.fetchedAt = new Date(1_800_000_000_000);
    await store.commitObject("b", "big", [], meta);
    await settle();
    expect(await store.listChunks("b", "big", ETAG)).toHaveLength(3);
    expect(await filesIn(dir, "blobs")).toHaveLength(3);
    expect((await store.headObject("b", "big"))!.remote!.fetchedAt.getTime()).toBe(1_800_000_000_000);
    await store.close();
  });

  it("a copy onto the key drops its chunks", async () => {
    const { dir, store } = await withChunks();
    const source = await store.commitObject("b", "src", [await store.stage(bodyOf("copied"))], localMeta());
    await store.copyObject(source, "b", "big", localMeta());
    expect(await store.listChunks("b", "big", ETAG)).toEqual([]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(1)); // src's blob, shared by the copy
    await store.close();
  });

  it("completing an upload onto the key drops its chunks", async () => {
    const { dir, store } = await withChunks();
    const upload = await store.createUpload("b", "big", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("part")), { etag: "e1" });
    await store.completeUpload(upload.uploadId, [1], localMeta());
    expect(await store.listChunks("b", "big", ETAG)).toEqual([]);
    await eventually(async () => expect(await filesIn(dir, "blobs")).toHaveLength(1)); // the part's blob
    await store.close();
  });

  it("deleting the object drops its chunks; then the bucket can go and comes back without them", async () => {
    const { dir, store, content } = await withChunks();
    await expect(store.deleteBucket("b")).rejects.toMatchObject({ code: "BucketNotEmpty" });
    expect(await store.listChunks("b", "big", ETAG)).toHaveLength(3);
    expect(await store.deleteObject("b", "big")).toBe(true);
    await expectNoChunks(dir, store);
    await store.deleteBucket("b");

    await store.createBucket("b", "us-east-1");
    await store.commitObject("b", "big", [], manifestMeta(content.length));
    expect(await store.listChunks("b", "big", ETAG)).toEqual([]);
    await store.close();
  });

  it("other keys' chunks are untouched", async () => {
    const { store, content } = await withManifest();
    await store.commitObject("b", "big/neighbour", [], manifestMeta(content.length));
    await putChunk(store, content, 0);
    await putChunk(store, content, 0, { key: "big/neighbour" });
    await store.deleteObject("b", "big");
    expect(await store.listChunks("b", "big/neighbour", ETAG)).toHaveLength(1);
    await store.close();
  });
});

describe("chunks across reopen and crashes", () => {
  it("are kept across a reopen", async () => {
    const { dir, store, content } = await withManifest();
    await putChunk(store, content, 2);
    const chunk = await store.getChunk(chunkKey(2));
    await store.close();

    const reopened = await openFsStore(dir);
    expect(await reopened.getChunk(chunkKey(2))).toEqual(chunk);
    expect((await readAll(reopened.readChunk(chunk!))).equals(chunkBytes(content, 2))).toBe(true);
    await reopened.close();
  });

  it("a staged chunk and a chunk blob never committed are removed at open; committed chunks stay", async () => {
    const { dir, store, content } = await withManifest();
    await putChunk(store, content, 0);
    await store.stage(bodyOf(chunkBytes(content, 1), 1 << 16)); // a fetch cut short by the crash
    await store.close();
    const orphan = randomBytes(16).toString("hex"); // renamed into blobs/ but the transaction never ran
    await writeFile(join(dir, "blobs", orphan.slice(0, 2), orphan), chunkBytes(content, 1));
    const kept = await filesIn(dir, "blobs");
    expect(kept).toHaveLength(2);

    const reopened = await openFsStore(dir);
    expect(await filesIn(dir, "tmp")).toEqual([]);
    expect(await filesIn(dir, "blobs")).toEqual(kept.filter((name) => name !== orphan));
    expect((await readAll(reopened.readChunk((await reopened.getChunk(chunkKey(0)))!))).equals(chunkBytes(content, 0))).toBe(true);
    await reopened.close();
  });

  it("chunk rows whose manifest is gone or another version are dropped at open, with their blobs", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const content = randomBytes(CHUNK_SIZE);
    for (const key of ["gone", "changed", "kept"]) {
      await store.commitObject("b", key, [], manifestMeta(content.length));
      await putChunk(store, content, 0, { key });
    }
    await store.close();
    expect(await filesIn(dir, "blobs")).toHaveLength(3);

    // a catalog changed behind the store's back
    const db = new Database(join(dir, "catalog.db"));
    db.prepare("DELETE FROM objects WHERE key = 'gone'").run();
    db.prepare("UPDATE objects SET etag = 'newer' WHERE key = 'changed'").run();
    db.close();

    const reopened = await openFsStore(dir);
    expect(await reopened.listChunks("b", "gone", ETAG)).toEqual([]);
    expect(await reopened.listChunks("b", "changed", ETAG)).toEqual([]);
    expect(await reopened.listChunks("b", "kept", ETAG)).toHaveLength(1);
    expect(await filesIn(dir, "blobs")).toHaveLength(1);
    await reopened.close();
  });

  it("a data dir from before chunks (catalog version 1) is upgraded", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const old = await store.commitObject("b", "old", [await store.stage(bodyOf("from version 1"))], localMeta());
    await store.close();
    // turn it back into a version 1 catalog
    const db = new Database(join(dir, "catalog.db"));
    db.exec("ALTER TABLE uploads DROP COLUMN checksum_type;"); // version 5
    db.exec("DROP INDEX objects_by_access; ALTER TABLE objects DROP COLUMN last_access; ALTER TABLE blob_refs DROP COLUMN size;"); // version 3
    db.exec("DROP TRIGGER blob_checks_follow_refs; DROP TABLE blob_checks; DROP TABLE chunks; ALTER TABLE objects DROP COLUMN chunk_size; PRAGMA user_version = 1;");
    db.close();

    const upgraded = await openFsStore(dir);
    expect(await upgraded.headObject("b", "old")).toEqual(old);
    expect((await readAll(upgraded.readObject(old))).toString()).toBe("from version 1");
    const content = randomBytes(100);
    await upgraded.commitObject("b", "big", [], manifestMeta(content.length));
    expect(await upgraded.putChunk(chunkKey(0), await upgraded.stage(bodyOf(content)), crcOf(content))).toBe(true);
    await upgraded.close();
    const reader = new Database(join(dir, "catalog.db"), { readonly: true });
    expect(reader.pragma("user_version", { simple: true })).toBe(6);
    reader.close();
  });

  it("a newer catalog is refused", async () => {
    const dir = await tempDataDir();
    await (await openFsStore(dir)).close();
    const db = new Database(join(dir, "catalog.db"));
    db.pragma("user_version = 9");
    db.close();
    await expect(openFsStore(dir)).rejects.toThrow("has catalog version 9; this s3-overlay knows up to 6");
  });
});
