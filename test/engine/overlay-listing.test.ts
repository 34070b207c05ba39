// The merged listing of an overlaid bucket on the test doubles: local objects,
// the remote's, and tombstones hiding remote keys, paged like S3.
// Against RGW through the real server: test/e2e/overlay-listing.test.ts.
import { describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.js";
import type { PageRequest } from "../../src/engine/listing.js";
import { clientPut, engineOnDoubles } from "../doubles/engine.js";

async function list(engine: Engine, request: Partial<PageRequest>) {
  const page = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000, ...request });
  return {
    keys: page.contents.map((entry) => `${entry.key}:${entry.value.origin}`),
    prefixes: page.commonPrefixes,
    isTruncated: page.isTruncated,
    last: page.last,
  };
}

describe("overlay listing", () => {
  it("merges local and remote keys in byte order; a client write shadows the remote's key, a tombstone hides it", async () => {
    const { engine, remote } = await engineOnDoubles();
    for (const key of ["a", "c", "d/1", "d/2", "é", "shadowed"]) remote.put("remote", key, `remote ${key}`);
    await clientPut(engine, "remote", "b", "mine");
    await clientPut(engine, "remote", "shadowed", "my version");
    await engine.deleteObject("remote", "c");
    const page = await engine.listObjects("remote", { prefix: "", delimiter: "", maxKeys: 1000 });
    expect(page.contents.map((entry) => `${entry.key}:${entry.value.origin}`)).toEqual(["a:remote", "b:local", "d/1:remote", "d/2:remote", "shadowed:local", "é:remote"]);
    expect(page.contents.find((entry) => entry.key === "shadowed")!.value.size).toBe("my version".length);
    expect(page.isTruncated).toBe(false);
  });

  it("pages through the merged view with max-keys and the resume point, each key once", async () => {
    const { engine, remote } = await engineOnDoubles();
    for (let i = 0; i < 10; i += 2) remote.put("remote", `k${i}`, "r");
    for (let i = 1; i < 10; i += 2) await clientPut(engine, "remote", `k${i}`, "l");
    await engine.deleteObject("remote", "k4");
    const seen: string[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await list(engine, { maxKeys: 3, after });
      seen.push(...page.keys);
      if (!page.isTruncated) break;
      after = page.last;
    }
    expect(seen).toEqual(["k0:remote", "k1:local", "k2:remote", "k3:local", "k5:local", "k6:remote", "k7:local", "k8:remote", "k9:local"]);
  });

  it("groups common prefixes across both sides, with a prefix", async () => {
    const { engine, remote } = await engineOnDoubles();
    for (const key of ["p/r/1", "p/r/2", "p/x", "q"]) remote.put("remote", key, "r");
    await clientPut(engine, "remote", "p/l/1", "l");
    await engine.deleteObject("remote", "p/x");
    expect(await list(engine, { prefix: "p/", delimiter: "/" })).toEqual({ keys: [], prefixes: ["p/l/", "p/r/"], isTruncated: false, last: "p/r/" });
    // a prefix whose every remote key is deleted is not listed
    await engine.deleteObject("remote", "p/r/1");
    await engine.deleteObject("remote", "p/r/2");
    expect((await list(engine, { prefix: "p/", delimiter: "/" })).prefixes).toEqual(["p/l/"]);
  });

  it("a listing takes a bounded number of remote pages: one for a small bucket", async () => {
    const { engine, remote } = await engineOnDoubles();
    for (let i = 0; i < 50; i++) remote.put("remote", `key-${String(i).padStart(3, "0")}`, "r");
    const page = await list(engine, { maxKeys: 10 });
    expect(page.keys).toHaveLength(10);
    expect(page.isTruncated).toBe(true);
    expect(remote.count("LIST")).toBe(1);
    expect(remote.count("GET") + remote.count("HEAD")).toBe(0);
  });
});
