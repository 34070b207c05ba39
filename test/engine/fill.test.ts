// Miss-fills on the test doubles: single-flight, verification before commit,
// and what a failed fill leaves behind (nothing).
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { Gate } from "../doubles/fake-remote.js";
import { bytesOf, CHUNK, engineOnDoubles, eventually, getBytes, readAll } from "../doubles/engine.js";

describe("fills", () => {
  it("concurrent readers of one miss share one remote fetch and all get every byte", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(CHUNK + 5000, 7);
    remote.put("remote", "hot", data);
    const gate = new Gate();
    remote.intercept = async (request) => {
      if (request.method === "GET") await gate.opened;
    };
    const reads = Array.from({ length: 5 }, () => engine.getObject("remote", "hot"));
    // let every reader reach the fill before the remote answers
    await new Promise((resolve) => setTimeout(resolve, 20));
    gate.open();
    const bodies = await Promise.all((await Promise.all(reads)).map(async (read) => readAll((await read.open()).body)));
    for (const body of bodies) expect(body.equals(data)).toBe(true);
    // the first request asks for a chunk's worth, the rest is one more request of the same version
    expect(remote.count("GET")).toBe(2);
    expect(engine.counters()).toMatchObject({ misses: 5, coalesced: 4 });
    await eventually(async () => expect(await store.headObject("remote", "hot")).toMatchObject({ size: data.length }));
    expect(engine.counters().filledBytes).toBe(data.length);
  });

  it("bytes that do not match the remote's MD5 ETag are never committed", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "liar", "these bytes", { etag: "0123456789abcdef0123456789abcdef" });
    const read = await engine.getObject("remote", "liar");
    await expect(readAll((await read.open()).body)).rejects.toThrow(/do not match its ETag/);
    // give a wrong commit the time to happen
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.headObject("remote", "liar")).toBeUndefined();
    expect(await store.diskUsage()).toBe(0);
  });

  it("a multipart ETag (not an MD5) is trusted by length: the object is mirrored", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "parts", "assembled from parts", { etag: "0123456789abcdef0123456789abcdef-2" });
    expect((await getBytes(engine, "remote", "parts")).bytes.toString()).toBe("assembled from parts");
    await eventually(async () => expect(await store.headObject("remote", "parts")).toMatchObject({ etag: "0123456789abcdef0123456789abcdef-2" }));
  });

  it("a remote that fails mid-fill leaves nothing, and the next read fetches afresh", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    const data = bytesOf(CHUNK + 10, 8);
    remote.put("remote", "flaky", data);
    let gets = 0;
    remote.intercept = (request) => {
      // the first request (the first chunk's worth) succeeds, the rest of the object fails
      if (request.method === "GET" && ++gets === 2) throw remote.health.failure("remote S3 at fake-remote answered HTTP 500");
    };
    const read = await engine.getObject("remote", "flaky");
    await expect(readAll((await read.open()).body)).rejects.toMatchObject({ code: "ServiceUnavailable" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.headObject("remote", "flaky")).toBeUndefined();
    const again = await getBytes(engine, "remote", "flaky");
    expect(again.cache).toBe("miss");
    expect(again.bytes.equals(data)).toBe(true);
  });

  it("an empty remote object is mirrored (its ranged GET answers 416, then a plain GET)", async () => {
    const { engine, store, remote } = await engineOnDoubles();
    remote.put("remote", "empty", "");
    const read = await getBytes(engine, "remote", "empty");
    expect(read.bytes.length).toBe(0);
    expect(remote.requests.filter((request) => request.method === "GET").map((request) => request.range)).toEqual([{ start: 0, end: CHUNK - 1 }, undefined]);
    await eventually(async () => expect(await store.headObject("remote", "empty")).toMatchObject({ size: 0, origin: "remote" }));
  });

  it("the spool file opened while the remote answers is removed when unused: a 404, a chunked object, a failure", async () => {
    const spoolDir = join(await mkdtemp(join(tmpdir(), "s3-overlay-fill-")), "spool");
    const { engine, remote } = await engineOnDoubles({ spoolDir });
    remote.put("remote", "large", bytesOf(3 * CHUNK, 9));
    remote.put("remote", "broken", "x");
    await expect(engine.getObject("remote", "missing")).rejects.toThrow(/does not exist/);
    await readAll((await (await engine.getObject("remote", "large")).open()).body);
    remote.intercept = (request) => {
      if (request.key === "broken") throw new Error("remote trouble");
    };
    await expect(engine.getObject("remote", "broken")).rejects.toThrow(/remote trouble/);
    await eventually(async () => expect(await readdir(spoolDir)).toEqual([]));
    await rm(dirname(spoolDir), { recursive: true, force: true });
  });
});

