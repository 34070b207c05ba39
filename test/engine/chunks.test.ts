// Chunked caching of large remote objects on the test doubles: which chunks a
// read fetches, how they are keyed, and what a change of the remote's ETag does.
// Against RGW through the real server: test/e2e/chunks.test.ts.
import { describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.js";
import type { ByteRange } from "../../src/store/types.js";
import { bytesOf, CHUNK, engineOnDoubles, eventually, getBytes, readAll } from "../doubles/engine.js";
import type { MemoryStore } from "../doubles/memory-store.js";

/** A ranged GET as the server makes it: look up, then open the range (decided once the size is known). */
async function getRange(engine: Engine, key: string, range: ByteRange) {
  const read = await engine.getObject("remote", key, { ranged: true });
  const opened = await read.open(range);
  return { cache: opened.cache, info: read.info, bytes: await readAll(opened.body) };
}

/** How many calls of each store method `run` made. */
async function callsDuring(store: MemoryStore, run: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = { ...store.calls };
  await run();
  return Object.fromEntries(Object.entries(store.calls).map(([method, count]) => [method, count - (before[method] ?? 0)]).filter(([, count]) => count !== 0));
}

describe("chunks", () => {
  it("a ranged read of a large object fetches only the chunk it touches, with If-Match; reading it again is a hit", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(10 * CHUNK + 100);
    const object = remote.put("remote", "big", data);
    const range = { start: 3 * CHUNK + 10, end: 3 * CHUNK + 5000 };

    const first = await getRange(engine, "big", range);
    expect(first.cache).toBe("miss");
    expect(first.bytes.equals(data.subarray(range.start, range.end + 1))).toBe(true);
    expect(first.info).toMatchObject({ size: data.length, chunkSize: CHUNK, etag: object.etag });
    const gets = remote.requests.filter((request) => request.method === "GET");
    expect(gets).toEqual([{ method: "GET", bucket: "remote", key: "big", range: { start: 3 * CHUNK, end: 4 * CHUNK - 1 }, ifMatch: object.etag }]);
    expect(remote.count("HEAD")).toBe(1);
    await eventually(async () => expect((await store.listChunks("remote", "big", object.etag)).map((chunk) => [chunk.index, chunk.size])).toEqual([[3, CHUNK]]));

    const again = await getRange(engine, "big", range);
    expect(again.cache).toBe("hit");
    expect(again.bytes.equals(first.bytes)).toBe(true);
    expect(remote.count("GET")).toBe(1);
    expect(engine.counters().chunks).toMatchObject({ fetched: 1, fetchedBytes: CHUNK, hits: 1 });
  });

  it("a range across three chunks fetches those three, the short last one only its own bytes", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(4 * CHUNK + 123, 2);
    const object = remote.put("remote", "big", data);
    const range = { start: 3 * CHUNK - 10, end: data.length - 1 };
    expect((await getRange(engine, "big", range)).bytes.equals(data.subarray(range.start))).toBe(true);
    const ranges = remote.requests.filter((request) => request.method === "GET").map((request) => request.range);
    expect(ranges.sort((a, b) => a!.start - b!.start)).toEqual([{ start: 2 * CHUNK, end: 3 * CHUNK - 1 }, { start: 3 * CHUNK, end: 4 * CHUNK - 1 }, { start: 4 * CHUNK, end: 4 * CHUNK + 122 }]);
    await eventually(async () => expect((await store.listChunks("remote", "big", object.etag)).map((chunk) => [chunk.index, chunk.size])).toEqual([[2, CHUNK], [3, CHUNK], [4, 123]]));
  });

  it("chunks are keyed by the remote ETag: a changed remote object fails the read once, then the new version is read and the old chunks are gone", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const before = remote.put("remote", "big", bytesOf(6 * CHUNK, 3));
    await getRange(engine, "big", { start: 0, end: 99 });
    await eventually(async () => expect((await store.listChunks("remote", "big", before.etag)).map((chunk) => chunk.index)).toEqual([0]));

    const newData = bytesOf(6 * CHUNK, 4);
    const after = remote.put("remote", "big", newData);
    expect(after.etag).not.toBe(before.etag);
    // chunk 0 is cached: the old version's bytes are still what the manifest names
    expect((await getRange(engine, "big", { start: 0, end: 99 })).cache).toBe("hit");
    // chunk 2 is not: its fetch with If-Match the old ETag gets 412
    await expect(getRange(engine, "big", { start: 2 * CHUNK, end: 2 * CHUNK + 9 })).rejects.toMatchObject({ code: "PreconditionFailed" });
    expect(await store.listChunks("remote", "big", before.etag)).toEqual([]);
    expect(await store.headObject("remote", "big")).toBeUndefined();

    const fresh = await getRange(engine, "big", { start: 2 * CHUNK, end: 2 * CHUNK + 9 });
    expect(fresh).toMatchObject({ cache: "miss", info: { etag: after.etag } });
    expect(fresh.bytes.equals(newData.subarray(2 * CHUNK, 2 * CHUNK + 10))).toBe(true);
    await eventually(async () => expect((await store.listChunks("remote", "big", after.etag)).map((chunk) => chunk.index)).toEqual([2]));
  });

  it("a corrupt stored chunk is fetched again, never served", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(4 * CHUNK, 5);
    const object = remote.put("remote", "big", data);
    await getRange(engine, "big", { start: CHUNK, end: CHUNK + 99 });
    await eventually(async () => expect(await store.listChunks("remote", "big", object.etag)).toHaveLength(1));
    const [chunk] = await store.listChunks("remote", "big", object.etag);
    store.corruptChunk(chunk!);
    const read = await getRange(engine, "big", { start: CHUNK, end: CHUNK + 99 });
    expect(read.bytes.equals(data.subarray(CHUNK, CHUNK + 100))).toBe(true);
    expect(remote.count("GET")).toBe(2);
    expect(engine.counters().chunks.corrupt).toBe(1);
  });

  it("an object at or below the chunk threshold is mirrored whole, in two requests of the same version", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(2 * CHUNK, 6);
    const object = remote.put("remote", "medium", data);
    const read = await engine.getObject("remote", "medium");
    expect((await readAll((await read.open()).body)).equals(data)).toBe(true);
    const gets = remote.requests.filter((request) => request.method === "GET");
    expect(gets.map((request) => [request.range, request.ifMatch])).toEqual([[{ start: 0, end: CHUNK - 1 }, undefined], [{ start: CHUNK, end: 2 * CHUNK - 1 }, object.etag]]);
    expect(read.info.chunkSize).toBeUndefined();
    expect(await store.listChunks("remote", "medium", object.etag)).toEqual([]);
  });

  it("X-Cache comes from the chunks the opened range touches, looked up by range: a GET never lists the object's chunks", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(8 * CHUNK + 7, 8);
    const object = remote.put("remote", "big", data);
    await getRange(engine, "big", { start: 2 * CHUNK, end: 3 * CHUNK + 10 });
    await eventually(async () => expect((await store.listChunks("remote", "big", object.etag)).map((chunk) => chunk.index)).toEqual([2, 3]));

    const label = async (start: number, end: number) => {
      const read = await getRange(engine, "big", { start, end });
      expect(read.bytes.equals(data.subarray(start, end + 1))).toBe(true);
      return read.cache;
    };
    const calls = await callsDuring(store, async () => {
      expect(await label(2 * CHUNK, 4 * CHUNK - 1)).toBe("hit");
      expect(await label(3 * CHUNK + 5, 3 * CHUNK + 5)).toBe("hit");
      // one byte into chunk 4, which is not local
      expect(await label(3 * CHUNK, 4 * CHUNK)).toBe("miss");
    });
    expect(calls.listChunks).toBeUndefined();
    expect(calls.chunksIn).toBe(3);
    // the whole object: chunks 0, 1 and 5-8 are missing
    const whole = await callsDuring(store, async () => expect((await getBytes(engine, "remote", "big")).cache).toBe("miss"));
    expect(whole.listChunks).toBeUndefined();
  });

  it("a ranged read of local chunks opens only the chunks it touches, found by its one lookup", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(6 * CHUNK, 9);
    const object = remote.put("remote", "big", data);
    expect((await getBytes(engine, "remote", "big")).bytes.equals(data)).toBe(true);
    await eventually(async () => expect(await store.listChunks("remote", "big", object.etag)).toHaveLength(6));
    const requests = remote.requests.length;

    const range = { start: 4 * CHUNK - 100, end: 4 * CHUNK + 100 };
    const calls = await callsDuring(store, async () => {
      const read = await getRange(engine, "big", range);
      expect(read.cache).toBe("hit");
      expect(read.bytes.equals(data.subarray(range.start, range.end + 1))).toBe(true);
    });
    // chunks 3 and 4 are read; nothing is looked up chunk by chunk, nothing asked of the remote
    expect(calls).toMatchObject({ chunksIn: 1, readChunk: 2 });
    expect(calls.getChunk).toBeUndefined();
    expect(calls.listChunks).toBeUndefined();
    expect(remote.requests.length).toBe(requests);
  });
});
