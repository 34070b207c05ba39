// Block checksums of the embedded store's blobs: recorded at write, verified on
// read (stream and file spans), per blob so multipart parts of any size and
// shared copies work; data dirs from before them are upgraded and served unverified.
import Database from "../../src/store/fs/sqlite.js";
import { openSync, readdirSync, readFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BLOCK_SIZE, CorruptBlockError } from "../../src/block-crc.js";
import { openFsStore, type FsStore } from "../../src/store/fs/index.js";
import { fileSpansOf, type ObjectInfo } from "../../src/store/types.js";
import { bodyOf, localMeta, readAll, tempDataDir } from "./helpers.js";

function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 13)) & 0xff;
  return out;
}

function blobHolding(dir: string, data: Buffer): string {
  for (const shard of readdirSync(join(dir, "blobs"))) {
    for (const name of readdirSync(join(dir, "blobs", shard))) {
      const file = join(dir, "blobs", shard, name);
      if (readFileSync(file).equals(data)) return file;
    }
  }
  throw new Error("not found");
}

function flip(file: string, offset: number): void {
  const fd = openSync(file, "r+");
  writeSync(fd, Buffer.from([readFileSync(file)[offset]! ^ 0x10]), 0, 1, offset);
  closeSync(fd);
}

async function failure(read: () => Promise<unknown>): Promise<unknown> {
  return read().then(() => undefined, (error: unknown) => error);
}

async function setup(): Promise<{ dir: string; store: FsStore }> {
  const dir = await tempDataDir();
  const store = await openFsStore(dir);
  await store.createBucket("b", "us-east-1");
  return { dir, store };
}

async function put(store: FsStore, key: string, data: Buffer): Promise<ObjectInfo> {
  return store.commitObject("b", key, [await store.stage(bodyOf(data, 65536))], localMeta());
}

describe("blob block checksums", () => {
  it("reads are verified block by block: good ranges pass, a range touching the bad block fails", async () => {
    const { dir, store } = await setup();
    const data = bytes(3 * BLOCK_SIZE + 500, 1);
    const info = await put(store, "k", data);
    expect((await readAll(store.readObject(info))).equals(data)).toBe(true);
    const spans = fileSpansOf(store.readObject(info, { start: 10, end: 20 }));
    expect(spans?.[0]?.check?.crcs).toHaveLength(4);
    flip(blobHolding(dir, data), 2 * BLOCK_SIZE + 1);
    const range = { start: BLOCK_SIZE - 3, end: 2 * BLOCK_SIZE - 1 };
    expect((await readAll(store.readObject(info, range))).equals(data.subarray(range.start, range.end + 1))).toBe(true);
    expect((await readAll(store.readObject(info, { start: 3 * BLOCK_SIZE, end: data.length - 1 }))).equals(data.subarray(3 * BLOCK_SIZE))).toBe(true);
    expect(await failure(() => readAll(store.readObject(info, { start: 2 * BLOCK_SIZE + 400, end: 2 * BLOCK_SIZE + 401 })))).toBeInstanceOf(CorruptBlockError);
    expect(await failure(() => readAll(store.readObject(info)))).toBeInstanceOf(CorruptBlockError);
    await store.close();
  });

  it("multipart objects keep each part's checksums at the part's own offsets; copies share them", async () => {
    const { dir, store } = await setup();
    const parts = [bytes(BLOCK_SIZE + 7, 2), bytes(2 * BLOCK_SIZE - 3, 3), bytes(100, 4)];
    const upload = await store.createUpload("b", "m", { headers: {}, userMetadata: {} });
    for (const [index, part] of parts.entries()) await store.putPart(upload.uploadId, index + 1, await store.stage(bodyOf(part, 4096)), { etag: `e${index}` });
    const info = await store.completeUpload(upload.uploadId, [1, 2, 3], localMeta("abc-3"));
    const whole = Buffer.concat(parts);
    const across = { start: BLOCK_SIZE - 1, end: BLOCK_SIZE + 10 };
    expect((await readAll(store.readObject(info, across))).equals(whole.subarray(across.start, across.end + 1))).toBe(true);
    const copy = await store.copyObject(info, "b", "copy", localMeta("abc-3"));
    flip(blobHolding(dir, parts[1]!), BLOCK_SIZE + 5);
    // part 2's second block starts at object offset (BLOCK_SIZE + 7) + BLOCK_SIZE
    const good = { start: 0, end: 2 * BLOCK_SIZE + 6 };
    expect((await readAll(store.readObject(info, good))).equals(whole.subarray(0, good.end + 1))).toBe(true);
    expect(await failure(() => readAll(store.readObject(copy, { start: 2 * BLOCK_SIZE + 7, end: 2 * BLOCK_SIZE + 8 })))).toBeInstanceOf(CorruptBlockError);
    await store.markCorrupt(info);
    // the blob is shared: both objects are known corrupt now
    expect(() => store.readObject(copy)).toThrow(/stored bytes of b\/copy are corrupt/);
    await store.close();
  });

  it("adopted files are verified only with the CRCs their writer computed as the bytes arrived", async () => {
    const { dir, store } = await setup();
    const data = bytes(5000, 5);
    const spool = join(dir, "spool-file");
    const { writeFileSync } = await import("node:fs");
    const { BlockCrcs } = await import("../../src/block-crc.js");
    writeFileSync(spool, data);
    const bare = await store.commitObject("b", "bare", [await store.adoptFile(spool)], localMeta());
    expect(await store.uncheckedFiles(bare)).toBe(1);
    const crcs = new BlockCrcs();
    crcs.update(data);
    writeFileSync(spool, data);
    const checked = await store.commitObject("b", "checked", [await store.adoptFile(spool, crcs.finish())], localMeta());
    expect(await store.uncheckedFiles(checked)).toBe(0);
    expect((await readAll(store.readObject(checked))).equals(data)).toBe(true);
    await store.close();
  });

  it("a data dir from before checksums is upgraded: its blobs are served unverified until verify --repair records them", async () => {
    const { dir, store } = await setup();
    const data = bytes(BLOCK_SIZE + 10, 6);
    const info = await put(store, "old", data);
    await store.close();
    // what catalog version 3 looked like: no blob_checks table
    const db = new Database(join(dir, "catalog.db"));
    db.exec("ALTER TABLE uploads DROP COLUMN checksum_type; DROP TRIGGER blob_checks_follow_refs; DROP TABLE blob_checks; PRAGMA user_version = 3;");
    db.close();
    const reopened = await openFsStore(dir);
    expect(await reopened.uncheckedFiles(info)).toBe(1);
    expect(fileSpansOf(reopened.readObject(info))?.[0]?.check).toBeUndefined();
    expect(await reopened.recordChecks(info)).toBe(1);
    expect(await reopened.uncheckedFiles(info)).toBe(0);
    flip(blobHolding(dir, data), 3);
    expect(await failure(() => readAll(reopened.readObject(info)))).toBeInstanceOf(CorruptBlockError);
    // a deleted object's checksums go with its blob
    await reopened.deleteObject("b", "old");
    await reopened.close();
    const after = new Database(join(dir, "catalog.db"));
    expect(after.prepare("SELECT COUNT(*) AS n FROM blob_checks").get()).toEqual({ n: 0 });
    after.close();
  });
});
