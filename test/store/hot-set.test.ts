// The fs store's hot set (src/store/fs/hot-set.ts): small objects read again come
// from memory, and no write, delete, eviction, copy, upload or corruption of a key
// ever lets an older version's bytes or row be served from it.
import { describe, expect, it } from "vitest";
import { openFsStore, type FsStore } from "../../src/store/fs/index.js";
import { HOT_OBJECT_MAX_BYTES, HOT_SET_MAX_BYTES, HotSet } from "../../src/store/fs/hot-set.js";
import { objectBytesOf, type NewObject, type ObjectInfo } from "../../src/store/types.js";
import { bodyOf, eventually, localMeta, readAll, tempDataDir } from "./helpers.js";

async function setup(): Promise<FsStore> {
  const store = await openFsStore(await tempDataDir());
  await store.createBucket("b", "us-east-1");
  return store;
}

// the same ETag for every version on purpose: only forgetting the key can tell them apart
async function put(store: FsStore, key: string, data: string, meta: NewObject = localMeta()): Promise<ObjectInfo> {
  return store.commitObject("b", key, [await store.stage(bodyOf(data))], meta);
}

/** Reads bucket b's key the way the engine does (head, then read) and returns its bytes as text. */
async function get(store: FsStore, key: string): Promise<string | undefined> {
  const info = await store.headObject("b", key);
  return info && (await readAll(store.readObject(info))).toString();
}

/** Reads until the object is served from memory (the first read loads it in the background). */
async function getHot(store: FsStore, key: string): Promise<string> {
  let text = "";
  await eventually(async () => {
    const info = (await store.headObject("b", key))!;
    const stream = store.readObject(info);
    const fromMemory = objectBytesOf(stream) !== undefined;
    text = (await readAll(stream)).toString();
    expect(fromMemory).toBe(true);
  });
  return text;
}

describe("the fs store's hot set", () => {
  it("serves a repeated read from memory, ranges included, and reports its size", async () => {
    const store = await setup();
    await put(store, "k", "hello hot set");
    expect(await getHot(store, "k")).toBe("hello hot set");
    const info = (await store.headObject("b", "k"))!;
    expect((await readAll(store.readObject(info, { start: 6, end: 8 }))).toString()).toBe("hot");
    expect(store.hotSetStats()).toMatchObject({ objects: 1, bytes: 13, maxBytes: HOT_SET_MAX_BYTES });
    expect(store.hotSetStats().hits).toBeGreaterThan(0);
    await store.close();
  });

  it("never serves the old bytes or row after an overwrite, delete, copy onto the key, upload or tombstone", async () => {
    const store = await setup();
    await put(store, "k", "version one");
    expect(await getHot(store, "k")).toBe("version one");
    await put(store, "k", "version two!", { ...localMeta(), headers: { contentType: "text/two" } });
    expect((await store.headObject("b", "k"))?.headers.contentType).toBe("text/two");
    expect(await get(store, "k")).toBe("version two!");
    expect(await getHot(store, "k")).toBe("version two!");

    await store.deleteObject("b", "k");
    expect(await store.headObject("b", "k")).toBeUndefined();

    const source = await put(store, "src", "copied bytes");
    await put(store, "k", "before the copy");
    expect(await getHot(store, "k")).toBe("before the copy");
    await store.copyObject(source, "b", "k", localMeta());
    expect(await get(store, "k")).toBe("copied bytes");

    expect(await getHot(store, "k")).toBe("copied bytes");
    const upload = await store.createUpload("b", "k", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("uploaded")), { etag: "e1" });
    await store.completeUpload(upload.uploadId, [1], localMeta());
    expect(await get(store, "k")).toBe("uploaded");

    expect(await getHot(store, "k")).toBe("uploaded");
    await store.putTombstone("b", "k");
    await store.deleteObject("b", "k");
    expect(await get(store, "k")).toBeUndefined();
    await store.close();
  });

  it("an eviction or a corrupt mark drops the kept object", async () => {
    const store = await setup();
    const remote = { etag: "r1", size: 8, lastModified: new Date(1000), fetchedAt: new Date(2000) };
    await put(store, "m", "mirrored", { ...localMeta(), origin: "remote", remote });
    expect(await getHot(store, "m")).toBe("mirrored");
    const [entry] = await store.listCached({ bucket: "b", limit: 10 });
    expect(await store.evict(entry!)).toBe(true);
    expect(await get(store, "m")).toBeUndefined();

    const info = await put(store, "c", "soon corrupt");
    expect(await getHot(store, "c")).toBe("soon corrupt");
    await store.markCorrupt(info);
    expect(() => store.readObject(info)).toThrow(/corrupt/);
    await store.close();
  });

  it("a load still running when the key is written is not kept", async () => {
    const store = await setup();
    await put(store, "k", "old bytes");
    // the first read starts a load of "old bytes"; the write lands before that load is done
    const first = (await store.headObject("b", "k"))!;
    const reading = readAll(store.readObject(first));
    await put(store, "k", "new bytes");
    expect((await reading).toString()).toBe("old bytes");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await get(store, "k")).toBe("new bytes");
    expect(await getHot(store, "k")).toBe("new bytes");
    await store.close();
  });

  it("drops what a load brings when its key was forgotten while it ran", async () => {
    const set = new HotSet();
    const info: ObjectInfo = { bucket: "b", key: "k", size: 3, etag: "e", lastModified: new Date(0), headers: {}, userMetadata: {}, origin: "local" };
    let finish: (bytes: Buffer) => void = () => {};
    set.load(info, 0, () => new Promise<Buffer>((resolve) => (finish = resolve)));
    set.forget("b", "k"); // a write of b/k committed meanwhile
    finish(Buffer.from("old"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(set.info("b", "k")).toBeUndefined();
    expect(set.read(info, 0, 1000, () => true)).toBeUndefined();
  });

  it("keeps only small objects, within its byte bound, least recently used out first", async () => {
    const store = await setup();
    await put(store, "big", "x".repeat(HOT_OBJECT_MAX_BYTES + 1));
    for (let i = 0; i < 3; i++) await get(store, "big");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.hotSetStats().objects).toBe(0);
    await store.close();

    const set = new HotSet(20, 10);
    const info = (key: string, size: number): ObjectInfo => ({ bucket: "b", key, size, etag: key, lastModified: new Date(0), headers: {}, userMetadata: {}, origin: "local" });
    const touch = () => true;
    for (const key of ["a", "b"]) set.load(info(key, 10), 0, async () => Buffer.alloc(10));
    await new Promise((resolve) => setImmediate(resolve));
    expect(set.read(info("a", 10), 0, 1000, touch)).toBeDefined(); // a is now the most recent
    set.load(info("c", 10), 0, async () => Buffer.alloc(10));
    await new Promise((resolve) => setImmediate(resolve));
    expect(set.info("b", "b")).toBeUndefined();
    expect(set.info("b", "a")).toBeDefined();
    expect(set.stats()).toMatchObject({ objects: 2, bytes: 20 });
  });
});
