// Property: the merged listing (local store over remote, tombstones hiding remote
// keys) pages exactly like a model listing of one sorted key set. The model is
// S3's: keys under the prefix, in UTF-8 byte order, keys with the delimiter after
// the prefix rolled up into one common prefix, max-keys items per page, and a
// resume point (marker, start-after, continuation token) that is a common prefix
// skipping that whole prefix.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareKeys, listPage, mergedSource, sortedSource, type ListSource, type PageRequest } from "../../src/engine/listing.js";

interface Value {
  key: string;
  from: "local" | "remote";
}

type Item = { key: string; from: Value["from"] } | { commonPrefix: string };

/** A store's sorted listing: keys under the prefix, > after, at most limit. */
function storeFetch(keys: string[], from: Value["from"], prefix: string) {
  const sorted = keys.filter((key) => key.startsWith(prefix)).sort(compareKeys);
  return async (after: string | undefined, limit: number): Promise<Value[]> =>
    sorted.filter((key) => after === undefined || compareKeys(key, after) > 0).slice(0, limit).map((key) => ({ key, from }));
}

function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === "") return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

/** Every item of the listing that comes after `after`, in order. */
function model(local: string[], remote: string[], tombstones: string[], request: Omit<PageRequest, "maxKeys">): Item[] {
  const { prefix, delimiter, after } = request;
  const view = new Map<string, Value["from"]>();
  for (const key of remote) if (!tombstones.includes(key)) view.set(key, "remote");
  for (const key of local) view.set(key, "local");
  const resumeIsPrefix = after !== undefined && commonPrefixOf(after, prefix, delimiter) === after;
  const keys = [...view.keys()]
    .filter((key) => key.startsWith(prefix))
    .filter((key) => after === undefined || compareKeys(key, after) > 0)
    .filter((key) => !(resumeIsPrefix && key.startsWith(after!)))
    .sort(compareKeys);
  const items: Item[] = [];
  const seen = new Set<string>();
  for (const key of keys) {
    const common = commonPrefixOf(key, prefix, delimiter);
    if (common === undefined) items.push({ key, from: view.get(key)! });
    else if (!seen.has(common)) {
      seen.add(common);
      items.push({ commonPrefix: common });
    }
  }
  return items;
}

// Small alphabets so that keys share prefixes, delimiters and collide between local and remote.
const char = fc.constantFrom("a", "b", "/", "-", "é", "\uFFFD", "\u{10000}", "\u{10FFFF}", "0", "~");
const key = fc.string({ unit: char, minLength: 1, maxLength: 6 });
const keySet = fc.uniqueArray(key, { maxLength: 25 });
const delimiter = fc.constantFrom("", "/", "/", "a", "é", "ab", "\u{10000}");
const prefix = fc.oneof(fc.constant(""), fc.string({ unit: char, maxLength: 2 }));
const maxKeys = fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(1000));

const scenario = fc.record({ local: keySet, remote: keySet, tombstoneSeed: keySet, prefix, delimiter, maxKeys, startAfter: fc.option(key, { nil: undefined }) })
  // tombstones hide remote keys: some of the remote ones, and some that exist nowhere
  .map((s) => ({ ...s, tombstones: [...s.tombstoneSeed, ...s.remote.filter((_, i) => i % 3 === 0)] }))
  // a prefix (and a start-after) that cuts one of the keys is where the interesting cases are
  .chain((s) => {
    const all = [...s.local, ...s.remote];
    if (all.length === 0) return fc.constant(s);
    const cut = fc.tuple(fc.constantFrom(...all), fc.nat(6)).map(([k, n]) => [...k].slice(0, n).join(""));
    return fc.record({ prefix: fc.oneof(fc.constant(s.prefix), cut), startAfter: fc.oneof(fc.constant(s.startAfter), cut), endsWithDelimiter: fc.boolean(), afterPrefix: fc.boolean() })
      .map(({ endsWithDelimiter, afterPrefix, ...cuts }) => {
        // folder-like prefixes ("dir/" with delimiter "/"), and start-after = the prefix
        const delimiterOf = endsWithDelimiter && cuts.prefix !== "" ? [...cuts.prefix].pop()! : s.delimiter;
        return { ...s, ...cuts, delimiter: delimiterOf, startAfter: afterPrefix ? cuts.prefix : cuts.startAfter };
      });
  });

function mergedOf(local: string[], remote: string[], tombstones: string[], prefixValue: string): ListSource<Value> {
  const hidden = async (keys: string[]) => new Set(keys.filter((k) => tombstones.includes(k)));
  return mergedSource(
    sortedSource(storeFetch(local, "local", prefixValue), (value) => value.key),
    sortedSource(storeFetch(remote, "remote", prefixValue), (value) => value.key),
    hidden,
  );
}

const asItems = (page: Awaited<ReturnType<typeof listPage<Value>>>): Item[] => [
  ...page.contents.map((entry) => ({ key: entry.key, from: entry.value.from })),
  ...page.commonPrefixes.map((commonPrefix) => ({ commonPrefix })),
];
const itemName = (item: Item) => ("key" in item ? item.key : item.commonPrefix);
const sortItems = (items: Item[]) => [...items].sort((a, b) => compareKeys(itemName(a), itemName(b)));

describe("the merged listing against the model", () => {
  it("every page is the model's next max-keys items, and IsTruncated says whether more remain", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const source = mergedOf(s.local, s.remote, s.tombstones, s.prefix);
        let after = s.startAfter;
        for (let pages = 0; pages < 200; pages++) {
          const request = { prefix: s.prefix, delimiter: s.delimiter, maxKeys: s.maxKeys, after };
          const expected = model(s.local, s.remote, s.tombstones, request);
          const page = await listPage(source, request);
          expect(sortItems(asItems(page))).toEqual(sortItems(expected.slice(0, s.maxKeys)));
          expect(page.isTruncated).toBe(expected.length > s.maxKeys);
          if (!page.isTruncated) return;
          after = page.last;
        }
        throw new Error("listing did not end in 200 pages");
      }),
      { numRuns: 400 },
    );
  });

  it("paging through gives every key once, local winning, nothing hidden by a tombstone", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const source = mergedOf(s.local, s.remote, s.tombstones, s.prefix);
        const collected: Item[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await listPage(source, { prefix: s.prefix, delimiter: s.delimiter, maxKeys: s.maxKeys, after });
          collected.push(...sortItems(asItems(page)));
          if (!page.isTruncated) break;
          expect(page.last).toBeDefined();
          after = page.last;
        }
        expect(collected).toEqual(model(s.local, s.remote, s.tombstones, { prefix: s.prefix, delimiter: s.delimiter }));
        expect(new Set(collected.map(itemName)).size).toBe(collected.length);
      }),
      { numRuns: 400 },
    );
  });

  it("the local store alone lists like the model with nothing remote", async () => {
    await fc.assert(
      fc.asyncProperty(keySet, prefix, delimiter, maxKeys, async (local, p, d, m) => {
        const source = sortedSource(storeFetch(local, "local", p), (value) => value.key);
        const collected: Item[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await listPage(source, { prefix: p, delimiter: d, maxKeys: m, after });
          collected.push(...sortItems(asItems(page)));
          if (!page.isTruncated) break;
          after = page.last;
        }
        expect(collected).toEqual(model(local, [], [], { prefix: p, delimiter: d }));
      }),
      { numRuns: 300 },
    );
  });
});
