// Pinning on the test doubles: a lockfile fixes what every read of a locked key
// returns, whatever the (versioned) remote does afterwards. Against RGW through
// the real server: test/e2e/lock.test.ts.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.js";
import { formatLockfile, type LockEntry } from "../../src/engine/lockfile.js";
import { PinnedRemote } from "../../src/engine/pinned.js";
import { FakeRemote } from "../doubles/fake-remote.js";
import { bytesOf, CHUNK, engineOnDoubles, eventually, getBytes } from "../doubles/engine.js";

async function lockFile(entries: LockEntry[]): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), "s3-overlay-lock-")), "test.lock");
  await writeFile(file, formatLockfile(entries));
  return file;
}

/** A versioned fake remote with "a" and "big" at a first version, and the lock of those. */
async function lockedRemote(): Promise<{ remote: FakeRemote; entries: LockEntry[] }> {
  const remote = new FakeRemote(["remote"]);
  remote.enableVersioning("remote");
  const a = remote.put("remote", "a", "first a");
  const big = remote.put("remote", "big", bytesOf(3 * CHUNK, 1));
  const entries = [a, big].map((object) => ({ bucket: "remote", key: object.key, size: object.size, etag: object.etag, versionId: object.versionId }));
  return { remote, entries };
}

describe("pinned reads (S3_OVERLAY_LOCK)", () => {
  it("a remote overwrite after locking never changes what a locked read returns, cached or not", async () => {
    const { remote, entries } = await lockedRemote();
    remote.put("remote", "a", "second a, newer");
    remote.put("remote", "big", bytesOf(3 * CHUNK, 2));
    const { engine } = await engineOnDoubles({ lock: { file: await lockFile(entries), strict: false } }, remote);

    const miss = await getBytes(engine, "remote", "a");
    expect(miss).toMatchObject({ cache: "miss", info: { etag: entries[0]!.etag } });
    expect(miss.bytes.toString()).toBe("first a");
    // asked for by version and ETag
    expect(remote.requests.find((request) => request.method === "GET")).toMatchObject({ versionId: entries[0]!.versionId, ifMatch: entries[0]!.etag });
    await eventually(async () => expect((await getBytes(engine, "remote", "a")).cache).toBe("hit"));

    // a chunked object: every chunk of the locked version
    const big = await getBytes(engine, "remote", "big");
    expect(big.bytes.equals(bytesOf(3 * CHUNK, 1))).toBe(true);
    const { info } = await engine.statObject("remote", "big");
    expect(info.etag).toBe(entries[1]!.etag);
  });

  it("a locked version gone from the remote is a 412 naming the key and both versions, never another object", async () => {
    const { remote, entries } = await lockedRemote();
    const newer = remote.put("remote", "a", "second a");
    remote.removeVersion("remote", "a", entries[0]!.versionId!);
    const { engine } = await engineOnDoubles({ lock: { file: await lockFile(entries), strict: false } }, remote);
    const failure = engine.getObject("remote", "a");
    await expect(failure).rejects.toMatchObject({ code: "PreconditionFailed", status: 412 });
    const message = ((await failure.catch((error: Error) => error)) as Error).message;
    expect(message).toContain("remote/a");
    expect(message).toContain(entries[0]!.versionId);
    expect(message).toContain(newer.versionId);
    await expect(engine.statObject("remote", "a")).rejects.toMatchObject({ code: "PreconditionFailed" });
  });

  it("on an unversioned remote the ETag alone pins: an overwrite is a 412, not the new bytes", async () => {
    const remote = new FakeRemote(["remote"]);
    const a = remote.put("remote", "a", "first");
    remote.put("remote", "a", "overwritten");
    const { engine } = await engineOnDoubles({ lock: { file: await lockFile([{ bucket: "remote", key: "a", size: a.size, etag: a.etag }]), strict: false } }, remote);
    await expect(engine.getObject("remote", "a")).rejects.toThrow(/remote\/a is locked at ETag "[0-9a-f]+", but the remote no longer has that version \(it has ETag/);
  });

  it("listings show locked keys with their locked sizes and ETags, also when the remote deleted them; other keys as they are", async () => {
    const { remote, entries } = await lockedRemote();
    remote.put("remote", "a", "second a, longer");
    remote.remove("remote", "big");
    remote.put("remote", "new", "unlocked");
    const { engine } = await engineOnDoubles({ lock: { file: await lockFile(entries), strict: false } }, remote);
    const page = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000 });
    expect(page.contents.map(({ value: info }) => [info.key, info.size, info.etag])).toEqual([
      ["a", entries[0]!.size, entries[0]!.etag], ["big", entries[1]!.size, entries[1]!.etag], ["new", 8, expect.any(String)],
    ]);
  });

  it("strict: keys outside the lock are refused and left out of listings, pages still end right", async () => {
    const { remote, entries } = await lockedRemote();
    for (let index = 0; index < 5; index++) remote.put("remote", `x${index}`, "unlocked");
    const { engine } = await engineOnDoubles({ lock: { file: await lockFile(entries), strict: true } }, remote);
    await expect(engine.getObject("remote", "x1")).rejects.toMatchObject({ code: "AccessDenied" });
    expect((await getBytes(engine, "remote", "a")).bytes.toString()).toBe("first a");
    const page = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000 });
    expect(page.contents.map(({ key }) => key)).toEqual(["a", "big"]);
    // a page of 1 key: the second still comes
    const first = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1 });
    expect(first.contents.map(({ key }) => key)).toEqual(["a"]);
    const second = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000, after: first.last });
    expect(second.contents.map(({ key }) => key)).toEqual(["big"]);
  });

  it("strict listings page past full remote pages of unlocked keys, so a short page still means the end", async () => {
    const { remote, entries } = await lockedRemote();
    for (const key of ["0a", "0b", "0c", "b0"]) remote.put("remote", key, "unlocked");
    const pinned = new PinnedRemote(remote, { entries, strict: true });
    expect((await pinned.list("remote", { limit: 2 })).map((object) => object.key)).toEqual(["a", "big"]);
    expect((await pinned.list("remote", { limit: 1, startAfter: "a" })).map((object) => object.key)).toEqual(["big"]);
    const loose = new PinnedRemote(remote, { entries, strict: false });
    expect((await loose.list("remote", { limit: 2, startAfter: "0b" })).map((object) => object.key)).toEqual(["0c", "a"]);
  });

  it("a cached copy of another version is dropped when the engine starts with the lock", async () => {
    const { remote, entries } = await lockedRemote();
    remote.put("remote", "a", "second a");
    const { engine, store } = await engineOnDoubles({}, remote);
    expect((await getBytes(engine, "remote", "a")).bytes.toString()).toBe("second a");
    await eventually(async () => expect((await store.headObject("remote", "a"))?.origin).toBe("remote"));
    const pinned = await Engine.create(store, { ...engine.options, lock: { file: await lockFile(entries), strict: false } }, remote);
    try {
      expect((await getBytes(pinned, "remote", "a")).bytes.toString()).toBe("first a");
    } finally {
      await pinned.close();
    }
  });

  it("a lockfile that cannot be read stops the start with a usage error naming it", async () => {
    await expect(engineOnDoubles({ lock: { file: "/nonexistent/x.lock", strict: false } })).rejects.toMatchObject({ name: "LockfileError", message: expect.stringContaining("/nonexistent/x.lock") });
  });
});
