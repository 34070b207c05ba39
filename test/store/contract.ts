// Store contract cases that any driver must pass. A driver's test file calls
// storeContract() with a way to get a store (and a fresh bucket name per test).
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { expect, it } from "vitest";
import type { NewObject, Store } from "../../src/store/types.js";
import { bodyOf, readAll } from "./helpers.js";

export interface ContractSetup {
  store: () => Store;
  /** a bucket name no other test uses */
  freshBucket: () => string;
}

const md5 = (data: Buffer | string) => createHash("md5").update(data).digest("hex");

function localMeta(data: Buffer | string, extra: Partial<NewObject> = {}): NewObject {
  return { etag: md5(data), headers: {}, userMetadata: {}, origin: "local", ...extra };
}

async function put(store: Store, bucket: string, key: string, data: Buffer | string, extra: Partial<NewObject> = {}) {
  return store.commitObject(bucket, key, [await store.stage(bodyOf(data, 4096))], localMeta(data, extra));
}

export function storeContract(setup: ContractSetup): void {
  it("creates, finds and deletes buckets; deleting a non-empty one fails", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    expect(await store.getBucket(bucket)).toBeUndefined();
    expect(await store.createBucket(bucket, "us-east-1")).toBe(true);
    expect(await store.createBucket(bucket, "us-east-1")).toBe(false);
    expect((await store.listBuckets()).map((b) => b.name)).toContain(bucket);
    expect((await store.getBucket(bucket))?.name).toBe(bucket);
    await put(store, bucket, "a", "x");
    await expect(store.deleteBucket(bucket)).rejects.toMatchObject({ code: "BucketNotEmpty" });
    await store.deleteObject(bucket, "a");
    await store.deleteBucket(bucket);
    expect(await store.getBucket(bucket)).toBeUndefined();
    await expect(store.deleteBucket(bucket)).rejects.toMatchObject({ code: "NoSuchBucket" });
  });

  it("round-trips every ObjectInfo field and reads ranges", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const data = Buffer.from("hello, tier ".repeat(1000));
    const meta: NewObject = {
      etag: "0123456789abcdef0123456789abcdef-3",
      headers: { contentType: "text/plain", contentEncoding: "identity", contentDisposition: "inline", contentLanguage: "en", cacheControl: "no-cache", expires: "Wed, 21 Oct 2015 07:28:00 GMT" },
      userMetadata: { color: "blue", "multi-word": "a b" },
      checksum: { algorithm: "CRC32", value: "AAAAAA==-3", type: "COMPOSITE" },
      partSizes: [5000, 5000, 2000],
      origin: "remote",
      remote: { etag: "0123456789abcdef0123456789abcdef-3", lastModified: new Date("2020-01-02T03:04:05.000Z"), size: data.length, fetchedAt: new Date("2024-05-06T07:08:09.123Z") },
      lastModified: new Date("2020-01-02T03:04:05.000Z"),
    };
    const info = await store.commitObject(bucket, "dir/obj", [await store.stage(bodyOf(data, 1000))], meta);
    const head = await store.headObject(bucket, "dir/obj");
    expect(head).toEqual(info);
    expect(head).toMatchObject({ size: data.length, etag: meta.etag, headers: meta.headers, userMetadata: meta.userMetadata, checksum: meta.checksum, partSizes: meta.partSizes, origin: "remote", remote: meta.remote });
    expect(head!.lastModified.toISOString()).toBe("2020-01-02T03:04:05.000Z");
    expect((await readAll(store.readObject(head!))).equals(data)).toBe(true);
    expect((await readAll(store.readObject(head!, { start: 5, end: 20 }))).equals(data.subarray(5, 21))).toBe(true);

    const plain = await put(store, bucket, "plain", "");
    const plainHead = await store.headObject(bucket, "plain");
    expect(plainHead).toEqual(plain);
    expect(plainHead).toMatchObject({ size: 0, headers: {}, userMetadata: {}, origin: "local" });
    expect(plainHead!.checksum).toBeUndefined();
    expect((await readAll(store.readObject(plainHead!))).length).toBe(0);
  });

  it("a lookup for a read describes each object as headObject does and reads the same bytes, whole and ranged", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    // empty, small, just inside and just past a lookup's read-ahead (64 KiB on the S3 tier), larger
    for (const size of [0, 1, 4096, 65536, 65537, 300_000]) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 7 + size) & 0xff;
      const info = await put(store, bucket, `k${size}`, data);
      const looked = await store.headObject(bucket, `k${size}`, "read");
      expect(looked, `size ${size}`).toEqual(info);
      expect((await readAll(store.readObject(looked!))).equals(data), `size ${size}`).toBe(true);
      if (size > 10) expect((await readAll(store.readObject(looked!, { start: 3, end: size - 2 }))).equals(data.subarray(3, size - 1))).toBe(true);
    }
    expect(await store.headObject(bucket, "absent", "read")).toBeUndefined();
    expect(await store.headObject(setup.freshBucket(), "k1", "read")).toBeUndefined();
  });

  it("a replaced or deleted version reads as NoSuchKey; a missing bucket/key heads as undefined", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const first = await put(store, bucket, "k", "first");
    await put(store, bucket, "k", "second");
    await expect(readAll(store.readObject(first))).rejects.toMatchObject({ code: "NoSuchKey" });
    const second = (await store.headObject(bucket, "k"))!;
    expect(await store.deleteObject(bucket, "k")).toBe(true);
    expect(await store.deleteObject(bucket, "k")).toBe(false);
    await expect(readAll(store.readObject(second))).rejects.toMatchObject({ code: "NoSuchKey" });
    expect(await store.headObject(bucket, "k")).toBeUndefined();
    expect(await store.headObject(setup.freshBucket(), "k")).toBeUndefined();
  });

  it("lists in UTF-8 byte order with prefix, startAfter and limit", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const keys = ["a/1", "a/2", "a/é", "a/z", "a/😀", "a/\uFF21", "b"];
    await Promise.all(keys.map((key) => put(store, bucket, key, key)));
    const byteOrder = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect((await store.listObjects(bucket, { limit: 100 })).map((o) => o.key)).toEqual(byteOrder);
    const underA = byteOrder.filter((k) => k.startsWith("a/"));
    expect((await store.listObjects(bucket, { prefix: "a/", startAfter: "a/2", limit: 2 })).map((o) => o.key)).toEqual(underA.slice(2, 4));
    const listed = await store.listObjects(bucket, { prefix: "b", limit: 10 });
    expect(listed).toEqual([await store.headObject(bucket, "b")]);
    expect(await store.listObjects(setup.freshBucket(), { limit: 10 })).toEqual([]);
  });

  it("staged data is committed once; discard and a failing body leave nothing", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const staged = await store.stage(bodyOf("abc"));
    expect(staged.size).toBe(3);
    await store.commitObject(bucket, "k", [staged], localMeta("abc"));
    await expect(store.commitObject(bucket, "k2", [staged], localMeta("abc"))).rejects.toThrow(/already committed/);
    const discarded = await store.stage(bodyOf("zzz"));
    await discarded.discard();
    await expect(store.commitObject(bucket, "k3", [discarded], localMeta("zzz"))).rejects.toThrow(/discarded/);
    const failing = new Readable({
      read() {
        this.push("partial");
        this.destroy(new Error("client went away"));
      },
    });
    await expect(store.stage(failing)).rejects.toThrow("client went away");
    // several staged parts concatenate
    const parts = [await store.stage(bodyOf("one-")), await store.stage(bodyOf("two-")), await store.stage(bodyOf("three"))];
    const joined = await store.commitObject(bucket, "joined", parts, localMeta("one-two-three"));
    expect((await readAll(store.readObject(joined))).toString()).toBe("one-two-three");
    expect(await store.headObject(bucket, "k2")).toBeUndefined();
  });

  it("copies an object with new metadata; a changed source is NoSuchKey", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const source = await put(store, bucket, "src", "copy me", { userMetadata: { a: "1" } });
    const copy = await store.copyObject(source, bucket, "dst", localMeta("copy me", { userMetadata: { b: "2" }, headers: { contentType: "text/x" } }));
    expect(await store.headObject(bucket, "dst")).toEqual(copy);
    expect(copy.userMetadata).toEqual({ b: "2" });
    expect((await readAll(store.readObject(copy))).toString()).toBe("copy me");
    await put(store, bucket, "src", "changed");
    await expect(store.copyObject(source, bucket, "dst2", localMeta("copy me"))).rejects.toMatchObject({ code: "NoSuchKey" });
  });

  it("multipart: parts replace, list and complete; abort removes the upload", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const upload = await store.createUpload(bucket, "big", { headers: { contentType: "application/x-test" }, userMetadata: { m: "v" }, checksumAlgorithm: "CRC32", checksumType: "FULL_OBJECT" });
    expect(await store.getUpload(bucket, upload.uploadId)).toMatchObject({ bucket, key: "big", headers: { contentType: "application/x-test" }, userMetadata: { m: "v" }, checksumAlgorithm: "CRC32", checksumType: "FULL_OBJECT" });
    expect(await store.getUpload(setup.freshBucket(), upload.uploadId)).toBeUndefined();
    // Every uploaded part is chosen: RGW completes only the parts in upload order, without gaps.
    const part1 = Buffer.alloc(5 * 1024 * 1024, 1);
    const part2 = Buffer.from("second part");
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("to be replaced")), { etag: md5("to be replaced") });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf(part1, 65536)), { etag: md5(part1), checksum: { algorithm: "CRC32", value: "AQIDBA==", type: "FULL_OBJECT" } });
    await store.putPart(upload.uploadId, 2, await store.stage(bodyOf(part2)), { etag: md5(part2) });
    const parts = await store.listParts(upload.uploadId);
    expect(parts.map((p) => [p.partNumber, p.size, p.etag])).toEqual([[1, part1.length, md5(part1)], [2, part2.length, md5(part2)]]);
    expect(parts[0]!.checksum).toEqual({ algorithm: "CRC32", value: "AQIDBA==", type: "FULL_OBJECT" });
    expect(parts[1]!.checksum).toBeUndefined();
    expect((await store.listUploads(bucket, { limit: 10 })).map((u) => u.uploadId)).toEqual([upload.uploadId]);
    await expect(store.completeUpload(upload.uploadId, [1, 4], localMeta("x"))).rejects.toMatchObject({ code: "InvalidPart" });

    const etag = `${md5(Buffer.concat([Buffer.from(md5(part1), "hex"), Buffer.from(md5(part2), "hex")]))}-2`;
    const checksum = { algorithm: "CRC32" as const, value: "AAAAAA==-2", type: "COMPOSITE" as const };
    const info = await store.completeUpload(upload.uploadId, [1, 2], { etag, headers: upload.headers, userMetadata: upload.userMetadata, origin: "local", checksum });
    expect(info).toMatchObject({ size: part1.length + part2.length, etag, partSizes: [part1.length, part2.length], checksum });
    expect(await store.headObject(bucket, "big")).toEqual(info);
    const bytes = await readAll(store.readObject(info, { start: part1.length - 2, end: part1.length + 3 }));
    expect(bytes.equals(Buffer.concat([part1.subarray(-2), part2.subarray(0, 4)]))).toBe(true);
    expect(await store.getUpload(bucket, upload.uploadId)).toBeUndefined();
    expect(await store.listUploads(bucket, { limit: 10 })).toEqual([]);

    const aborted = await store.createUpload(bucket, "gone", { headers: {}, userMetadata: {} });
    await store.putPart(aborted.uploadId, 1, await store.stage(bodyOf("x")), { etag: md5("x") });
    await store.abortUpload(aborted.uploadId);
    expect(await store.getUpload(bucket, aborted.uploadId)).toBeUndefined();
    await expect(store.listParts(aborted.uploadId)).rejects.toMatchObject({ code: "NoSuchUpload" });
    await expect(store.abortUpload(aborted.uploadId)).rejects.toMatchObject({ code: "NoSuchUpload" });
    expect(await store.headObject(bucket, "gone")).toBeUndefined();
  });

  it("tombstones are set, listed in order and cleared by a local write, not by a mirror fill", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await expect(store.putTombstone(bucket, "x")).rejects.toMatchObject({ code: "NoSuchBucket" });
    await store.createBucket(bucket, "us-east-1");
    for (const key of ["t/b", "t/a", "t/é", "u"]) await store.putTombstone(bucket, key);
    expect(await store.hasTombstone(bucket, "t/a")).toBe(true);
    expect(await store.hasTombstone(bucket, "t/zz")).toBe(false);
    expect(await store.listTombstones(bucket, { prefix: "t/", limit: 10 })).toEqual(["t/a", "t/b", "t/é"]);
    expect(await store.listTombstones(bucket, { startAfter: "t/a", limit: 2 })).toEqual(["t/b", "t/é"]);
    await store.commitObject(bucket, "t/a", [await store.stage(bodyOf("m"))], { ...localMeta("m"), origin: "remote" });
    expect(await store.hasTombstone(bucket, "t/a")).toBe(true);
    await put(store, bucket, "t/a", "mine");
    expect(await store.hasTombstone(bucket, "t/a")).toBe(false);
    expect(await store.deleteTombstone(bucket, "t/b")).toBe(true);
    expect(await store.deleteTombstone(bucket, "t/b")).toBe(false);
    expect(await store.listTombstones(bucket, { limit: 10 })).toEqual(["t/é", "u"]);
  });

  it("remembers remote 404s until they expire, per key, and forgets them on request and with the bucket", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const later = new Date(Date.now() + 60_000);
    const longKey = "k".repeat(1000); // a marker must fit the tier whatever the key length
    for (const key of ["gone", "soon", longKey]) await store.rememberAbsent(bucket, key, key === "soon" ? new Date(Date.now() + 300) : later);
    expect((await store.absentUntil(bucket, "gone"))?.getTime()).toBe(later.getTime());
    expect((await store.absentUntil(bucket, longKey))?.getTime()).toBe(later.getTime());
    expect(await store.absentUntil(bucket, "other")).toBeUndefined();
    expect(await store.absentUntil(bucket, "soon")).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await store.absentUntil(bucket, "soon")).toBeUndefined();
    await store.forgetAbsent(bucket, "gone");
    expect(await store.absentUntil(bucket, "gone")).toBeUndefined();
    await store.forgetAbsent(bucket, "never-remembered");
    // a deleted bucket takes its markers with it: a new bucket of that name starts clean
    await store.deleteBucket(bucket);
    await store.createBucket(bucket, "us-east-1");
    expect(await store.absentUntil(bucket, longKey)).toBeUndefined();
  });

  it("chunks live only with their manifest and go when it is replaced", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const remote = { etag: "feedfeedfeedfeedfeedfeedfeedfeed-7", lastModified: new Date("2021-01-01T00:00:00Z"), size: 25, fetchedAt: new Date() };
    const chunk = { bucket, key: "large", etag: remote.etag, chunkSize: 10, index: 0 };
    // no manifest yet: refused
    expect(await store.putChunk(chunk, await store.stage(bodyOf("0123456789")), "AAAAAA==")).toBe(false);
    const manifest = await store.commitObject(bucket, "large", [], { etag: remote.etag, headers: {}, userMetadata: {}, origin: "remote", remote, lastModified: remote.lastModified, chunkSize: 10 });
    expect(manifest).toMatchObject({ size: 25, chunkSize: 10 });
    expect(await store.headObject(bucket, "large")).toEqual(manifest);
    expect((await store.listObjects(bucket, { limit: 10 }))[0]).toEqual(manifest);
    expect(() => store.readObject(manifest)).toThrow(/manifest/);
    await expect(store.putChunk({ ...chunk, index: 2 }, await store.stage(bodyOf("too long!")), "AAAAAA==")).rejects.toThrow(/cannot hold/);
    expect(await store.putChunk({ ...chunk, index: 2 }, await store.stage(bodyOf("tail!")), "q83vEg==")).toBe(true);
    expect(await store.putChunk(chunk, await store.stage(bodyOf("0123456789")), "AAAAAA==")).toBe(true);
    expect(await store.putChunk({ ...chunk, chunkSize: 5 }, await store.stage(bodyOf("01234")), "AAAAAA==")).toBe(false);
    const got = await store.getChunk(chunk);
    expect(got).toMatchObject({ ...chunk, size: 10, crc32: "AAAAAA==" });
    expect((await readAll(store.readChunk(got!))).toString()).toBe("0123456789");
    expect((await store.listChunks(bucket, "large", remote.etag)).map((c) => [c.index, c.size, c.crc32])).toEqual([[0, 10, "AAAAAA=="], [2, 5, "q83vEg=="]]);
    // a read's lookup: only the present chunks overlapping the byte range, of that version and chunk size
    const version = { bucket, key: "large", etag: remote.etag, chunkSize: 10 };
    const indexesIn = async (start: number, end: number, of = version) => (await store.chunksIn(of, { start, end })).map((c) => c.index);
    expect((await store.chunksIn(version, { start: 0, end: 24 })).map((c) => [c.index, c.size, c.crc32])).toEqual([[0, 10, "AAAAAA=="], [2, 5, "q83vEg=="]]);
    expect(await indexesIn(10, 19)).toEqual([]);
    expect(await indexesIn(5, 12)).toEqual([0]);
    expect(await indexesIn(19, 20)).toEqual([2]);
    expect(await indexesIn(9, 9)).toEqual([0]);
    expect(await indexesIn(0, 24, { ...version, etag: "another-version" })).toEqual([]);
    expect(await indexesIn(0, 24, { ...version, chunkSize: 5 })).toEqual([]);
    const [fromRange] = await store.chunksIn(version, { start: 20, end: 24 });
    expect((await readAll(store.readChunk(fromRange!))).toString()).toBe("tail!");
    await store.deleteChunk({ ...chunk, index: 2 });
    expect(await store.getChunk({ ...chunk, index: 2 })).toBeUndefined();
    expect(await indexesIn(0, 24)).toEqual([0]);
    await put(store, bucket, "large", "client data");
    expect(await store.listChunks(bucket, "large", remote.etag)).toEqual([]);
    await expect(readAll(store.readChunk(got!))).rejects.toMatchObject({ code: "NoSuchKey" });
  });

  it("usage, listCached and evict see mirrored data and never client writes", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const remote = (etag: string, size: number) => ({ etag, lastModified: new Date("2021-01-01T00:00:00Z"), size, fetchedAt: new Date() });
    await put(store, bucket, "mine", "local bytes");
    const mirrored = await store.commitObject(bucket, "mirror", [await store.stage(bodyOf("remote bytes"))], { ...localMeta("remote bytes"), origin: "remote", remote: remote(md5("remote bytes"), 12) });
    await store.commitObject(bucket, "chunked", [], { etag: "e-2", headers: {}, userMetadata: {}, origin: "remote", remote: remote("e-2", 30), chunkSize: 20 });
    await store.putChunk({ bucket, key: "chunked", etag: "e-2", chunkSize: 20, index: 1 }, await store.stage(bodyOf("0123456789")), "AAAAAA==");
    await store.putTombstone(bucket, "deleted");
    expect(await store.usage({ bucket })).toEqual([{
      bucket, mirroredObjects: 1, mirroredBytes: 12, chunkedObjects: 1, chunkedBytes: 30, chunksCached: 1, chunksTotal: 2, chunkBytes: 10, localObjects: 1, localBytes: 11, tombstones: 1,
    }]);
    expect(await store.diskUsage()).toBeGreaterThanOrEqual(11 + 12 + 10);
    const cached = await store.listCached({ bucket, limit: 10 });
    expect(cached.map((e) => `${e.kind}:${e.key}:${e.size}`).sort()).toEqual(["chunk:chunked:10", "manifest:chunked:10", "object:mirror:12"]);
    expect(cached.every((e, i) => i === 0 || cached[i - 1]!.lastAccess <= e.lastAccess)).toBe(true);
    expect(await store.listCached({ bucket, limit: 10, accessedBefore: new Date(0) })).toEqual([]);
    // a client write replacing the mirror meanwhile is never evicted
    const stale = cached.find((e) => e.kind === "object")!;
    await put(store, bucket, "mirror", "now a client's");
    expect(await store.evict(stale)).toBe(false);
    expect((await store.headObject(bucket, "mirror"))?.origin).toBe("local");
    expect(mirrored.origin).toBe("remote");
    expect(await store.evict(cached.find((e) => e.kind === "manifest")!)).toBe(true);
    expect(await store.headObject(bucket, "chunked")).toBeUndefined();
    expect(await store.listChunks(bucket, "chunked", "e-2")).toEqual([]);
  });

  it("listClientWrites lists client writes only, in order, with prefix, startAfter and limit", async () => {
    const store = setup.store();
    const bucket = setup.freshBucket();
    await store.createBucket(bucket, "us-east-1");
    const mirror = (key: string) => store.stage(bodyOf("m")).then((data) => store.commitObject(bucket, key, [data], { ...localMeta("m"), origin: "remote" }));
    for (const key of ["p/c", "p/a", "p/é", "q"]) await put(store, bucket, key, `client ${key}`);
    for (const key of ["p/b", "p/d", "a"]) await mirror(key);
    const keys = async (options: { prefix?: string; startAfter?: string; limit: number }) => (await store.listClientWrites(bucket, options)).map((info) => info.key);
    expect(await keys({ limit: 10 })).toEqual(["p/a", "p/c", "p/é", "q"]);
    expect(await keys({ prefix: "p/", startAfter: "p/a", limit: 10 })).toEqual(["p/c", "p/é"]);
    expect(await keys({ limit: 2 })).toEqual(["p/a", "p/c"]);
    const [first] = await store.listClientWrites(bucket, { prefix: "q", limit: 1 });
    expect(first).toMatchObject({ bucket, key: "q", origin: "local", size: "client q".length, etag: md5("client q") });
    // a mirror fill over a client write's key makes it a mirror again; a client write over a mirror makes it one
    await mirror("q");
    await put(store, bucket, "p/b", "mine now");
    expect(await keys({ limit: 10 })).toEqual(["p/a", "p/b", "p/c", "p/é"]);
  });
}
