// warm --lock and warm --locked on the test doubles. End to end: test/e2e/lock.test.ts.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { warmRequest } from "../../src/cli/requests.js";
import { formatLockfile, type LockEntry } from "../../src/engine/lockfile.js";
import { warm, type WarmEvent } from "../../src/engine/warm.js";
import { readAdminRequest } from "../../src/server/admin-requests.js";
import { FakeRemote } from "../doubles/fake-remote.js";
import { engineOnDoubles, getBytes } from "../doubles/engine.js";

function lockEvent(events: WarmEvent[]): LockEntry[] | undefined {
  return events.flatMap((event) => (event.type === "lock" ? [event.entries] : []))[0];
}

describe("warm and lockfiles", () => {
  it("--lock reports every object in scope with size, ETag and the current version ID; failures left out", async () => {
    const remote = new FakeRemote(["remote"]);
    remote.enableVersioning("remote");
    remote.put("remote", "data/a", "old a");
    const a = remote.put("remote", "data/a", "new a");
    const b = remote.put("remote", "data/b c\td", "b");
    remote.put("remote", "other", "out of scope");
    const { engine } = await engineOnDoubles({}, remote);
    const events: WarmEvent[] = [];
    const summary = await warm(engine, warmRequest({ targets: ["remote/data/"] }, { lock: "out.lock" }, {}), (event) => events.push(event));
    expect(summary.failed).toEqual([]);
    expect(lockEvent(events)).toEqual([
      { bucket: "remote", key: "data/a", size: a.size, etag: a.etag, versionId: a.versionId },
      { bucket: "remote", key: "data/b c\td", size: b.size, etag: b.etag, versionId: b.versionId },
    ]);
    // without --lock no event; an unversioned remote gives no version IDs
    const plain: WarmEvent[] = [];
    await warm(engine, warmRequest({ targets: ["remote/data/"] }, {}, {}), (event) => plain.push(event));
    expect(lockEvent(plain)).toBeUndefined();
  });

  it("--locked warms exactly the locked versions, and refuses an engine pinned to another lock (or none)", async () => {
    const remote = new FakeRemote(["remote"]);
    remote.enableVersioning("remote");
    const a = remote.put("remote", "a", "locked a");
    remote.put("remote", "a", "newer a");
    const entries: LockEntry[] = [{ bucket: "remote", key: "a", size: a.size, etag: a.etag, versionId: a.versionId }];
    const file = join(await mkdtemp(join(tmpdir(), "s3-overlay-lock-")), "x.lock");
    await writeFile(file, formatLockfile(entries));
    const { engine, store } = await engineOnDoubles({ lock: { file, strict: false } }, remote);
    // the same request the admin API accepts
    const request = readAdminRequest("warm", JSON.stringify(warmRequest({ targets: [], locked: entries }, {}, {})));
    const summary = await warm(engine, request);
    expect(summary).toMatchObject({ objects: 1, fetched: { objects: 1, bytes: a.size }, failed: [] });
    expect((await store.headObject("remote", "a"))?.etag).toBe(a.etag);
    expect((await getBytes(engine, "remote", "a"))).toMatchObject({ cache: "hit" });
    expect(remote.count("LIST")).toBe(0);

    const unpinned = await engineOnDoubles({}, remote);
    await expect(warm(unpinned.engine, request)).rejects.toThrow(/not pinned to that version here/);
  });
});
