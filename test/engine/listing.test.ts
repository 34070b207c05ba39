// listPage resume points: found by test/property/listing.test.ts.
import { describe, expect, it } from "vitest";
import { compareKeys, listPage, sortedSource, type PageRequest } from "../../src/engine/listing.js";

function sourceOf(keys: string[]) {
  const sorted = [...keys].sort(compareKeys);
  return sortedSource(async (after: string | undefined, limit: number) =>
    sorted.filter((key) => after === undefined || compareKeys(key, after) > 0).slice(0, limit), (key) => key);
}

async function names(keys: string[], request: PageRequest) {
  const page = await listPage(sourceOf(keys), request);
  return { keys: page.contents.map((entry) => entry.key), prefixes: page.commonPrefixes, isTruncated: page.isTruncated, last: page.last };
}

describe("listPage resume points", () => {
  it("a folder marker key listed under its own prefix does not hide the keys after it", async () => {
    // ListObjectsV2 prefix=dir/ delimiter=/ max-keys=1: page 1 is the "dir/" placeholder itself
    const keys = ["dir/", "dir/file"];
    const first = await names(keys, { prefix: "dir/", delimiter: "/", maxKeys: 1 });
    expect(first).toEqual({ keys: ["dir/"], prefixes: [], isTruncated: true, last: "dir/" });
    const second = await names(keys, { prefix: "dir/", delimiter: "/", maxKeys: 1, after: first.last });
    expect(second).toEqual({ keys: ["dir/file"], prefixes: [], isTruncated: false, last: "dir/file" });
  });

  it("start-after equal to the prefix lists what follows it", async () => {
    expect(await names(["a-é0", "a-/b", "abb0a"], { prefix: "a", delimiter: "a", maxKeys: 5, after: "a" }))
      .toMatchObject({ keys: ["a-/b", "a-é0"], prefixes: ["abb0a"] });
    expect((await names(["dir/", "dir/x", "dir/y/z"], { prefix: "dir/", delimiter: "/", maxKeys: 5, after: "dir/" })))
      .toMatchObject({ keys: ["dir/x"], prefixes: ["dir/y/"] });
  });

  it("a resume point that is a common prefix still skips that whole prefix", async () => {
    const keys = ["a/1", "a/2", "b"];
    expect(await names(keys, { prefix: "", delimiter: "/", maxKeys: 5, after: "a/" })).toMatchObject({ keys: ["b"], prefixes: [] });
    const first = await names(keys, { prefix: "", delimiter: "/", maxKeys: 1 });
    expect(first).toMatchObject({ prefixes: ["a/"], isTruncated: true, last: "a/" });
    expect(await names(keys, { prefix: "", delimiter: "/", maxKeys: 1, after: first.last })).toMatchObject({ keys: ["b"], isTruncated: false });
  });
});
