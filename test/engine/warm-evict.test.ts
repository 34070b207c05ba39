// Warm and evict on the test doubles: what they fetch, skip and remove, and
// what that costs the remote. The commands end to end: test/e2e/warm.test.ts,
// test/e2e/evict-status.test.ts.
import { describe, expect, it } from "vitest";
import { evict, type EvictRequest } from "../../src/engine/evict.js";
import { warmRequest } from "../../src/cli/requests.js";
import { warm } from "../../src/engine/warm.js";
import { bytesOf, CHUNK, clientPut, engineOnDoubles, getBytes } from "../doubles/engine.js";
import { Gate } from "../doubles/fake-remote.js";

const evictAll: EvictRequest = { scope: {}, chunksOnly: false, tombstones: false, clientWrites: false, dryRun: false };

describe("warm", () => {
  it("fetches what the store lacks under a prefix, skips client writes and tombstones, and a second run only lists", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "data/a", "aaa");
    remote.put("remote", "data/b", "bbbb");
    const large = remote.put("remote", "data/large", bytesOf(3 * CHUNK + 1));
    remote.put("remote", "data/mine", "remote's");
    remote.put("remote", "data/deleted", "remote's");
    remote.put("remote", "other/c", "not in scope");
    await clientPut(engine, "remote", "data/mine", "client's");
    await engine.deleteObject("remote", "data/deleted");

    const summary = await warm(engine, warmRequest({ targets: ["remote/data/"] }, {}, {}));
    expect(summary).toMatchObject({ objects: 5, fetched: { objects: 3, bytes: 3 + 4 + 3 * CHUNK + 1 }, skipped: { cached: 0, local: 1, deleted: 1 }, failed: [] });
    expect((await store.headObject("remote", "data/a"))?.origin).toBe("remote");
    expect((await store.listChunks("remote", "data/large", large.etag)).map((chunk) => chunk.index)).toEqual([0, 1, 2, 3]);
    expect(await store.headObject("remote", "other/c")).toBeUndefined();
    expect((await store.headObject("remote", "data/mine"))?.origin).toBe("local");

    const before = remote.requests.length;
    const again = await warm(engine, warmRequest({ targets: ["remote/data/"] }, {}, {}));
    expect(again).toMatchObject({ fetched: { objects: 0, bytes: 0 }, skipped: { cached: 3, local: 1, deleted: 1 } });
    expect(remote.requests.slice(before).map((request) => request.method)).toEqual(["LIST"]);
    // warmed data is a hit
    expect((await getBytes(engine, "remote", "data/a")).cache).toBe("hit");
  });

  it("--chunks picks only the chunks asked for; a dry run fetches nothing", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const large = remote.put("remote", "table.parquet", bytesOf(5 * CHUNK + 10, 9));
    const dry = await warm(engine, warmRequest({ targets: ["remote"] }, { chunks: "tail:1KiB", dryRun: true }, {}));
    // the last KiB is the 10 bytes of chunk 5 and the end of chunk 4
    expect(dry).toMatchObject({ dryRun: true, fetched: { objects: 1, bytes: CHUNK + 10 }, planned: [{ bucket: "remote", key: "table.parquet", bytes: CHUNK + 10 }] });
    expect(remote.count("GET")).toBe(0);
    const summary = await warm(engine, warmRequest({ targets: ["remote"] }, { chunks: "first,tail:1KiB" }, {}));
    expect(summary.fetched).toEqual({ objects: 1, bytes: 2 * CHUNK + 10 });
    expect((await store.listChunks("remote", "table.parquet", large.etag)).map((chunk) => chunk.index)).toEqual([0, 4, 5]);
  });

  it("an object whose bytes do not match its ETag fails the warm and leaves nothing cached", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "data/good", "good");
    remote.put("remote", "data/corrupt", "what the remote sends", { etag: "0123456789abcdef0123456789abcdef" });
    const summary = await warm(engine, warmRequest({ targets: ["remote/data/"] }, {}, {}));
    expect(summary.fetched.objects).toBe(1);
    expect(summary.failed).toEqual([{ bucket: "remote", key: "data/corrupt", error: expect.stringMatching(/do not match its ETag/) }]);
    expect(await store.headObject("remote", "data/corrupt")).toBeUndefined();
    expect((await store.headObject("remote", "data/good"))?.origin).toBe("remote");
  });

  it("waits for a fill a client's GET started, without fetching the object twice", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const body = bytesOf(50_000);
    remote.put("remote", "data/shared", body);
    const gate = new Gate();
    remote.intercept = async (request) => {
      if (request.method === "GET") await gate.opened;
    };
    const reading = getBytes(engine, "remote", "data/shared");
    const warming = warm(engine, warmRequest({ targets: ["remote/data/"] }, {}, {}));
    await new Promise((resolve) => setTimeout(resolve, 50));
    gate.open();
    const [read, summary] = await Promise.all([reading, warming]);
    expect(read.bytes.equals(body)).toBe(true);
    expect(summary).toMatchObject({ fetched: { objects: 1, bytes: body.length }, failed: [] });
    expect(remote.count("GET", "data/shared")).toBe(1);
    expect((await store.headObject("remote", "data/shared"))?.size).toBe(body.length);
  });

  it("a remote object replaced since it was mirrored is fetched again", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "k", "version 1");
    await warm(engine, warmRequest({ targets: ["remote"] }, {}, {}));
    const v2 = remote.put("remote", "k", "version 2!");
    const summary = await warm(engine, warmRequest({ targets: ["remote"] }, {}, {}));
    expect(summary.fetched).toEqual({ objects: 1, bytes: 10 });
    expect(await store.headObject("remote", "k")).toMatchObject({ etag: v2.etag, size: 10 });
  });
});

describe("evict", () => {
  it("removes mirrored data least recently used first down to --to-size, never client writes", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    for (const key of ["old", "middle", "new"]) {
      remote.put("remote", key, bytesOf(1000, key.length));
      await warm(engine, warmRequest({ targets: [`remote/${key}`] }, {}, {}));
      // lastAccess has millisecond resolution
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await clientPut(engine, "remote", "mine", "client bytes");
    const summary = await evict(engine, { ...evictAll, toSize: 1500 });
    expect(summary).toMatchObject({ evicted: { objects: 2, bytes: 2000 }, cachedBytesBefore: 3000, cachedBytesAfter: 1000 });
    expect(await store.headObject("remote", "old")).toBeUndefined();
    expect(await store.headObject("remote", "middle")).toBeUndefined();
    expect(await store.headObject("remote", "new")).toBeDefined();
    expect((await store.headObject("remote", "mine"))?.origin).toBe("local");
    // an evicted object is a miss again, filled from the remote
    expect((await getBytes(engine, "remote", "old")).cache).toBe("miss");
  });

  it("--chunks-only keeps manifests; a dry run removes nothing but counts the same", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const large = remote.put("remote", "big", bytesOf(3 * CHUNK, 2));
    remote.put("remote", "small", "small");
    await warm(engine, warmRequest({ targets: ["remote"] }, {}, {}));
    const dry = await evict(engine, { ...evictAll, chunksOnly: true, dryRun: true });
    expect(dry.evicted).toEqual({ objects: 0, manifests: 0, chunks: 3, bytes: 3 * CHUNK });
    expect(await store.listChunks("remote", "big", large.etag)).toHaveLength(3);
    const done = await evict(engine, { ...evictAll, chunksOnly: true });
    expect(done.evicted).toEqual(dry.evicted);
    expect(await store.listChunks("remote", "big", large.etag)).toEqual([]);
    expect(await store.headObject("remote", "big")).toMatchObject({ chunkSize: CHUNK });
    expect(await store.headObject("remote", "small")).toBeDefined();
  });

  it("--tombstones and --client-writes let the remote's objects show again", async () => {
    const { engine, remote } = await engineOnDoubles();
    remote.put("remote", "deleted", "remote's deleted");
    remote.put("remote", "written", "remote's written");
    await engine.deleteObject("remote", "deleted");
    await clientPut(engine, "remote", "written", "client's");
    const summary = await evict(engine, { ...evictAll, tombstones: true, clientWrites: true });
    expect(summary).toMatchObject({ tombstones: 1, clientWrites: 1 });
    expect((await getBytes(engine, "remote", "deleted")).bytes.toString()).toBe("remote's deleted");
    expect((await getBytes(engine, "remote", "written")).bytes.toString()).toBe("remote's written");
  });
});
