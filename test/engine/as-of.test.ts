// Time travel on the test doubles: reads and listings see, for each key, the
// version current at S3_OVERLAY_REMOTE_AS_OF. Against RGW: test/e2e/lock.test.ts.
import { describe, expect, it } from "vitest";
import { AsOfRemote } from "../../src/engine/as-of.js";
import { ForwardingRemote } from "../../src/engine/forwarding-remote.js";
import type { VersionPage } from "../../src/engine/remote.js";
import { FakeRemote } from "../doubles/fake-remote.js";
import { engineOnDoubles, eventually, getBytes } from "../doubles/engine.js";

const at = (minute: number) => new Date(Date.UTC(2024, 4, 1, 12, minute));

/** keys written at minutes 0..4: "kept" once, "changed" at 0 and 2, "deleted" at 0 then a marker at 2, "late" at 4 */
function history(): FakeRemote {
  const remote = new FakeRemote(["remote"]);
  remote.enableVersioning("remote");
  remote.put("remote", "changed", "changed v1", { lastModified: at(0) });
  remote.put("remote", "deleted", "deleted v1", { lastModified: at(0) });
  remote.put("remote", "kept", "kept", { lastModified: at(0) });
  remote.put("remote", "changed", "changed v2, longer", { lastModified: at(2) });
  remote.remove("remote", "deleted", at(2));
  remote.put("remote", "late", "late", { lastModified: at(4) });
  return remote;
}

const keysOf = async (engine: Awaited<ReturnType<typeof engineOnDoubles>>["engine"]) =>
  (await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000 })).contents.map(({ value }) => [value.key, value.size]);

describe("remote as of a time (S3_OVERLAY_REMOTE_AS_OF)", () => {
  it("before the overwrite and delete: the first versions, and no key written later", async () => {
    const { engine } = await engineOnDoubles({ remoteAsOf: at(1) }, history());
    expect((await getBytes(engine, "remote", "changed")).bytes.toString()).toBe("changed v1");
    expect((await getBytes(engine, "remote", "deleted")).bytes.toString()).toBe("deleted v1");
    await expect(engine.getObject("remote", "late")).rejects.toMatchObject({ code: "NoSuchKey" });
    expect(await keysOf(engine)).toEqual([["changed", 10], ["deleted", 10], ["kept", 4]]);
    // cached like any other version: the next read is a hit
    expect((await getBytes(engine, "remote", "kept")).cache).toBe("miss");
    await eventually(async () => expect((await getBytes(engine, "remote", "kept")).cache).toBe("hit"));
  });

  it("after them: the overwrite's bytes, a delete marker is absent, the later key not yet there", async () => {
    const { engine, remote } = await engineOnDoubles({ remoteAsOf: at(3) }, history());
    expect((await getBytes(engine, "remote", "changed")).bytes.toString()).toBe("changed v2, longer");
    await expect(engine.getObject("remote", "deleted")).rejects.toMatchObject({ code: "NoSuchKey" });
    await expect(engine.statObject("remote", "late")).rejects.toMatchObject({ code: "NoSuchKey" });
    expect(await keysOf(engine)).toEqual([["changed", 18], ["kept", 4]]);
    // the version was asked for by ID
    expect(remote.requests.filter((request) => request.method === "GET").every((request) => request.versionId !== undefined)).toBe(true);
  });

  it("a listing pages through versions that straddle pages, and resumes after a key", async () => {
    const remote = new FakeRemote(["remote"]);
    remote.enableVersioning("remote");
    for (let index = 0; index < 1500; index++) remote.put("remote", `k${String(index).padStart(4, "0")}`, "old", { lastModified: at(0) });
    for (let index = 0; index < 1500; index += 2) remote.put("remote", `k${String(index).padStart(4, "0")}`, "newer", { lastModified: at(5) });
    const { engine } = await engineOnDoubles({ remoteAsOf: at(1) }, remote);
    const all = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000 });
    expect(all.contents).toHaveLength(1000);
    expect(all.contents.every(({ value }) => value.size === 3)).toBe(true);
    const rest = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000, after: all.last });
    expect(rest.contents.map(({ key }) => key)[0]).toBe("k1000");
    expect(rest.contents).toHaveLength(500);
  });

  it("a remote that answers a KeyMarker with that key's versions too (as RGW does) lists no key twice", async () => {
    const remote = new FakeRemote(["remote"]);
    remote.enableVersioning("remote");
    for (let index = 0; index < 1200; index++) remote.put("remote", `k${String(index).padStart(4, "0")}`, "v", { lastModified: at(0) });
    const inclusive = new (class extends ForwardingRemote {
      override async listVersions(bucket: string, options: { prefix?: string; keyMarker?: string; versionIdMarker?: string; limit: number }): Promise<VersionPage> {
        if (options.keyMarker === undefined || options.versionIdMarker !== undefined) return super.listVersions(bucket, options);
        const page = await super.listVersions(bucket, { ...options, keyMarker: undefined, prefix: options.prefix });
        const from = page.versions.findIndex((version) => version.key >= options.keyMarker!);
        return { versions: page.versions.slice(from), next: page.next };
      }
    })(remote);
    const asOf = new AsOfRemote(inclusive, at(1));
    const first = await asOf.list("remote", { limit: 1000 });
    const second = await asOf.list("remote", { limit: 1000, startAfter: first[first.length - 1]!.key });
    expect(second[0]!.key).toBe("k1000");
  });
});
