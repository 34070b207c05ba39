// The overlay's read path on the test doubles (MemoryStore + FakeRemote): what
// a GET or HEAD answers, and what it costs the remote. The same behaviour
// against RGW through the real server: test/e2e/overlay.test.ts.
import { describe, expect, it } from "vitest";
import { clientPut, engineOnDoubles, eventually, getBytes } from "../doubles/engine.js";

describe("overlay reads", () => {
  it("a miss streams the remote's bytes and mirrors them; the next read is a hit that never asks the remote", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const object = remote.put("remote", "dir/a.txt", "remote bytes", { headers: { contentType: "text/plain" }, userMetadata: { color: "blue" } });

    const miss = await getBytes(engine, "remote", "dir/a.txt");
    expect(miss).toMatchObject({ cache: "miss", info: { etag: object.etag, size: 12, origin: "remote", headers: { contentType: "text/plain" }, userMetadata: { color: "blue" } } });
    expect(miss.bytes.toString()).toBe("remote bytes");
    await eventually(async () => expect(await store.headObject("remote", "dir/a.txt")).toMatchObject({ origin: "remote", etag: object.etag, remote: { etag: object.etag } }));
    expect(remote.count("GET")).toBe(1);

    const hit = await getBytes(engine, "remote", "dir/a.txt");
    expect(hit.cache).toBe("hit");
    expect(hit.bytes.toString()).toBe("remote bytes");
    expect(remote.requests).toHaveLength(1);
    expect(engine.counters()).toMatchObject({ hits: 1, misses: 1, filledBytes: 12 });
  });

  it("HEAD of a remote object asks for its metadata only and keeps nothing", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "k", "twelve bytes");
    const { info, cache } = await engine.statObject("remote", "k");
    expect(cache).toBe("miss");
    expect(info.size).toBe(12);
    expect(remote.requests.map((request) => request.method)).toEqual(["HEAD"]);
    expect(await store.headObject("remote", "k")).toBeUndefined();
  });

  it("a tombstone hides the remote's key from GET and HEAD without asking the remote", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "gone", "still on the remote");
    await getBytes(engine, "remote", "gone");
    await eventually(async () => expect(await store.headObject("remote", "gone")).toBeDefined());
    await engine.deleteObject("remote", "gone");
    expect(await store.hasTombstone("remote", "gone")).toBe(true);
    const before = remote.requests.length;
    await expect(engine.getObject("remote", "gone")).rejects.toMatchObject({ code: "NoSuchKey" });
    await expect(engine.statObject("remote", "gone")).rejects.toMatchObject({ code: "NoSuchKey" });
    expect(remote.requests.length).toBe(before);
  });

  it("a client write wins over the remote's object, and a delete of it does not bring the remote's back", async () => {
    const { engine, remote } = await engineOnDoubles();
    remote.put("remote", "k", "the remote's");
    await clientPut(engine, "remote", "k", "the client's");
    const read = await getBytes(engine, "remote", "k");
    expect(read).toMatchObject({ cache: "hit", info: { origin: "local" } });
    expect(read.bytes.toString()).toBe("the client's");
    expect(remote.count("GET")).toBe(0);
    await engine.deleteObject("remote", "k");
    await expect(engine.getObject("remote", "k")).rejects.toMatchObject({ code: "NoSuchKey" });
    // writing again clears the tombstone
    await clientPut(engine, "remote", "k", "again");
    expect((await getBytes(engine, "remote", "k")).bytes.toString()).toBe("again");
  });

  it.each([
    [60_000, 1],
    [0, 3],
  ])("a remote 404 is remembered for the negative TTL (%i ms): GET, GET and HEAD ask the remote %i times", async (negativeTtlMs, asked) => {
    const { engine, remote } = await engineOnDoubles({ negativeTtlMs });
    await expect(engine.getObject("remote", "missing")).rejects.toMatchObject({ code: "NoSuchKey" });
    await expect(engine.getObject("remote", "missing")).rejects.toMatchObject({ code: "NoSuchKey" });
    await expect(engine.statObject("remote", "missing")).rejects.toMatchObject({ code: "NoSuchKey" });
    expect(remote.requests.filter((request) => request.key === "missing")).toHaveLength(asked);
    // a client write is read before the negative cache
    await clientPut(engine, "remote", "missing", "now here");
    expect((await getBytes(engine, "remote", "missing")).bytes.toString()).toBe("now here");
  });

  it("a failing remote is the client's ServiceUnavailable; a local hit does not notice it", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "cached", "cached bytes");
    remote.put("remote", "other", "other bytes");
    await getBytes(engine, "remote", "cached");
    await eventually(async () => expect(await store.headObject("remote", "cached")).toBeDefined());
    remote.intercept = () => {
      throw remote.health.failure("remote S3 at fake-remote answered HTTP 503");
    };
    await expect(engine.getObject("remote", "other")).rejects.toMatchObject({ code: "ServiceUnavailable" });
    expect((await getBytes(engine, "remote", "cached")).bytes.toString()).toBe("cached bytes");
    expect(await store.headObject("remote", "other")).toBeUndefined();
  });

  it("with caching off a read passes the remote's bytes through and keeps nothing", async () => {
    const { engine, store, remote } = await engineOnDoubles({ cacheEnabled: false });
    remote.put("remote", "k", "passing through");
    const read = await getBytes(engine, "remote", "k");
    expect(read).toMatchObject({ cache: "pass" });
    expect(read.bytes.toString()).toBe("passing through");
    expect(await store.headObject("remote", "k")).toBeUndefined();
    // the bytes are asked for the version the HEAD saw
    expect(remote.requests.find((request) => request.method === "GET")?.ifMatch).toBe(read.info.etag);
  });

  it("with S3_OVERLAY_REVALIDATE an old mirror is checked by HEAD: kept while unchanged, read afresh once changed", async () => {
    const { engine, store, remote } = await engineOnDoubles({ revalidateMs: 1 });
    remote.put("remote", "k", "version 1");
    await getBytes(engine, "remote", "k");
    await eventually(async () => expect(await store.headObject("remote", "k")).toBeDefined());
    await new Promise((resolve) => setTimeout(resolve, 5));
    const kept = await getBytes(engine, "remote", "k");
    expect(kept).toMatchObject({ cache: "hit" });
    expect(kept.bytes.toString()).toBe("version 1");
    expect(remote.requests.map((request) => request.method)).toEqual(["GET", "HEAD"]);

    remote.put("remote", "k", "version 2");
    await new Promise((resolve) => setTimeout(resolve, 5));
    const fresh = await getBytes(engine, "remote", "k");
    expect(fresh.cache).toBe("miss");
    expect(fresh.bytes.toString()).toBe("version 2");
  });

  it("a bucket that does not overlay the remote never reaches it", async () => {
    const { engine, remote } = await engineOnDoubles();
    await engine.createBucket("local-only", "us-east-1");
    await expect(engine.getObject("local-only", "k")).rejects.toMatchObject({ code: "NoSuchKey" });
    await expect(engine.getObject("nowhere", "k")).rejects.toMatchObject({ code: "NoSuchBucket" });
    expect(remote.requests.filter((request) => request.bucket !== "remote")).toEqual([]);
    expect((await engine.listBuckets()).map((bucket) => bucket.name)).toEqual(["local-only", "remote"]);
  });
});
