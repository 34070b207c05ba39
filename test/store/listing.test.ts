import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { openFsStore, type FsStore } from "../../src/store/fs/index.js";
import type { ListOptions } from "../../src/store/types.js";
import { bodyOf, localMeta, tempDataDir } from "./helpers.js";

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** What listObjects must return for `keys`, computed independently of SQLite. */
function expectedList(keys: Iterable<string>, options: ListOptions): string[] {
  const prefix = options.prefix ?? "";
  return [...keys]
    .filter((key) => key.startsWith(prefix) && (options.startAfter === undefined || byUtf8(key, options.startAfter) > 0))
    .sort(byUtf8)
    .slice(0, options.limit);
}

async function listedKeys(store: FsStore, bucket: string, options: ListOptions): Promise<string[]> {
  return (await store.listObjects(bucket, options)).map((info) => info.key);
}

async function storeWithBucket(): Promise<FsStore> {
  const store = await openFsStore(await tempDataDir());
  await store.createBucket("b", "us-east-1");
  return store;
}

describe("listing order", () => {
  it("sorts unicode keys in UTF-8 byte order, with prefixes and pagination", async () => {
    const store = await storeWithBucket();
    const keys = [
      "a", "b", "a/b", "a\u0000", "\u0000", "\u007F", "\u0080", "\u00FF", "\u07FF", "\u0800",
      "\uD7FF", "\uE000", "\uFFFD", "\uFFFF", "\u{10000}", "\u{1F600}", "\u{1F600}x", "\u{1F601}", "\u{10FFFF}",
      "x\uFFFF", "x\u{1F600}", "x\uFFFDz", "x\u{10000}", "日本", "日本語", "Ω", "z",
    ];
    const shared = await store.commitObject("b", keys[0]!, [await store.stage(bodyOf("v"))], localMeta());
    for (const key of keys.slice(1)) await store.copyObject(shared, "b", key, localMeta());

    const sorted = [...keys].sort(byUtf8);
    expect(sorted).not.toEqual([...keys].sort()); // the JS default order really differs here
    expect(await listedKeys(store, "b", { limit: 1000 })).toEqual(sorted);

    // page through with startAfter, 4 at a time
    const paged: string[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await listedKeys(store, "b", { limit: 4, startAfter });
      if (page.length === 0) break;
      paged.push(...page);
      startAfter = page[page.length - 1];
    }
    expect(paged).toEqual(sorted);

    // every prefix of every key, with and without a startAfter inside it
    for (const key of keys) {
      const codePoints = Array.from(key);
      for (let length = 0; length <= codePoints.length; length++) {
        const prefix = codePoints.slice(0, length).join("");
        expect(await listedKeys(store, "b", { prefix, limit: 1000 })).toEqual(expectedList(keys, { prefix, limit: 1000 }));
        for (const after of [key, "x\uFFFF", "\u{1F600}"]) {
          const options = { prefix, startAfter: after, limit: 1000 };
          expect(await listedKeys(store, "b", options)).toEqual(expectedList(keys, options));
        }
      }
    }
    await store.close();
  });

  it("matches an in-memory model under random puts, deletes, tombstones and lists", async () => {
    const store = await storeWithBucket();
    await store.createBucket("other", "us-east-1");
    const alphabet = ["a", "b", "/", "\u0000", "é", "\uFFFD", "\u{1F600}", "\u{10FFFF}", "z"];
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const randomKey = (maxLength: number) => Array.from({ length: random(maxLength) + 1 }, () => alphabet[random(alphabet.length)]).join("");

    const objects = new Map<string, string>();
    const tombstones = new Set<string>();
    await store.commitObject("other", "noise", [await store.stage(bodyOf("noise"))], localMeta());
    for (let step = 0; step < 1500; step++) {
      const key = randomKey(4);
      const action = random(10);
      if (action < 4) {
        const value = `v${step}`;
        await store.commitObject("b", key, [await store.stage(bodyOf(value))], localMeta());
        objects.set(key, value);
        tombstones.delete(key);
      } else if (action < 6) {
        expect(await store.deleteObject("b", key)).toBe(objects.delete(key));
      } else if (action < 7) {
        await store.putTombstone("b", key);
        tombstones.add(key);
      } else {
        const options: ListOptions = { limit: random(8) + 1 };
        if (random(2)) options.prefix = randomKey(2);
        if (random(2)) options.startAfter = randomKey(3);
        expect(await listedKeys(store, "b", options)).toEqual(expectedList(objects.keys(), options));
        expect(await store.listTombstones("b", options)).toEqual(expectedList(tombstones, options));
      }
    }
    expect(await listedKeys(store, "b", { limit: 100_000 })).toEqual(expectedList(objects.keys(), { limit: 100_000 }));
    for (const [key, value] of objects) expect((await store.headObject("b", key))?.size).toBe(value.length);
    await store.close();
  });
});

describe("listing at scale", () => {
  it("pages through 100,000 objects in milliseconds", async () => {
    const store = await storeWithBucket();
    const source = await store.commitObject("b", "seed", [await store.stage(bodyOf("x"))], localMeta());
    const count = 100_000;
    const keyOf = (i: number) => `data/${String(i % 100).padStart(2, "0")}/object-${String(i).padStart(6, "0")}.bin`;
    let started = performance.now();
    for (let i = 0; i < count; i++) await store.copyObject(source, "b", keyOf(i), localMeta());
    console.log(`inserted ${count} objects (copyObject) in ${(performance.now() - started).toFixed(0)} ms`);

    const all = Array.from({ length: count }, (_, i) => keyOf(i)).sort(byUtf8);
    const middle = all[count / 2]!;

    started = performance.now();
    const page = await store.listObjects("b", { startAfter: middle, limit: 1000 });
    const pageMs = performance.now() - started;
    expect(page.map((info) => info.key)).toEqual(all.slice(count / 2 + 1, count / 2 + 1001));

    started = performance.now();
    const prefixed = await store.listObjects("b", { prefix: "data/57/", startAfter: "data/57/object-050000.bin", limit: 1000 });
    const prefixMs = performance.now() - started;
    expect(prefixed.map((info) => info.key)).toEqual(expectedList(all, { prefix: "data/57/", startAfter: "data/57/object-050000.bin", limit: 1000 }));
    expect(prefixed).toHaveLength(500); // i = 50057, 50157, ..., 99957

    started = performance.now();
    const last = await store.listObjects("b", { startAfter: all[count - 2], limit: 1000 });
    const tailMs = performance.now() - started;
    expect(last.map((info) => info.key)).toEqual([all[count - 1], "seed"]);

    console.log(`100k objects: page of 1000 from the middle ${pageMs.toFixed(2)} ms, prefix page ${prefixMs.toFixed(2)} ms, tail ${tailMs.toFixed(2)} ms`);
    expect(pageMs).toBeLessThan(100);
    expect(prefixMs).toBeLessThan(100);
    await store.close();
  }, 180_000);
});
