// The merged walk diff uses to tell added from overwritten: right answers, and
// listing calls that follow the keys asked about, not the remote's size.
import { describe, expect, it } from "vitest";
import { remoteHasKeys, type ListKeys } from "../../src/engine/changes.js";
import { compareKeys } from "../../src/engine/listing.js";
import { formatDiff } from "../../src/cli/diff.js";

/** A sorted in-memory remote, counting listing calls. */
function fakeRemote(keys: string[]): { list: ListKeys; calls: () => number } {
  const sorted = [...keys].sort(compareKeys);
  let calls = 0;
  const list: ListKeys = async (after, limit) => {
    calls++;
    return sorted.filter((key) => after === undefined || compareKeys(key, after) > 0).slice(0, limit);
  };
  return { list, calls: () => calls };
}

const sortKeys = (keys: string[]) => [...keys].sort(compareKeys);

describe("remoteHasKeys", () => {
  it("answers membership for every key, including neighbours, first and last keys and non-BMP characters", async () => {
    const remoteKeys = ["a", "a/1", "a/2", "b", "b/\u{1F600}", "b/\uFFFD", "c/x", "zz"];
    const asked = sortKeys(["a", "a/0", "a/2", "b/\u{1F600}", "b/\u{1F601}", "c", "c/x", "zz", "zzz"]);
    const { list } = fakeRemote(remoteKeys);
    for (const pageSize of [1, 2, 3, 1000]) {
      const present = await remoteHasKeys(asked, list, pageSize);
      expect(present, `page size ${pageSize}`).toEqual(asked.map((key) => remoteKeys.includes(key)));
    }
  });

  it("a few changes in a large remote cost a few listings, not a walk of the remote", async () => {
    const remoteKeys = Array.from({ length: 100_000 }, (_, i) => `k/${String(i).padStart(6, "0")}`);
    const { list, calls } = fakeRemote(remoteKeys);
    const asked = ["k/000100", "k/050000", "k/050001x", "k/099999", "k/100000"];
    expect(await remoteHasKeys(asked, list, 1000)).toEqual([true, true, false, true, false]);
    expect(calls()).toBeLessThanOrEqual(asked.length);
  });

  it("dense changes share listing pages", async () => {
    const remoteKeys = Array.from({ length: 5000 }, (_, i) => `k/${String(i).padStart(5, "0")}`);
    const { list, calls } = fakeRemote(remoteKeys);
    const asked = Array.from({ length: 3000 }, (_, i) => `k/${String(i * 2).padStart(5, "0")}`);
    const present = await remoteHasKeys(asked, list, 1000);
    expect(present.filter(Boolean)).toHaveLength(2500);
    expect(calls()).toBeLessThanOrEqual(8);
  });
});

describe("formatDiff", () => {
  it("one line per change in bucket and key order, then the summary", () => {
    const object = (bucket: string, key: string) => ({ bucket, key, size: 1, etag: "e" });
    const text = formatDiff({
      scope: {},
      added: [object("b2", "x"), object("b1", "z")],
      overwritten: [object("b1", "m")],
      deleted: [{ bucket: "b1", key: "a" }],
      unknown: [object("b3", "q")],
      remoteError: "down",
      counts: { added: 2, overwritten: 1, deleted: 1, unknown: 1 },
    });
    expect(text).toBe("D b1/a\nM b1/m\nA b1/z\nA b2/x\n? b3/q\ndiff: 2 added, 1 overwritten, 1 deleted, 1 unknown (remote unreachable)\n");
  });
});
