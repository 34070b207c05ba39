// One page of an S3 listing (prefix, delimiter, max-keys, resume point) over any
// source of keys sorted in UTF-8 byte order: the local store alone, or the
// merged view of local store, remote and tombstones.

export interface ListEntry<T> {
  key: string;
  value: T;
}

export interface ListBatch<T> {
  entries: ListEntry<T>[];
  /** where to continue (>= the last entry's key); undefined when the source is exhausted */
  next?: string;
}

/** Entries with keys > `after` (all when undefined), sorted; at most about `limit` of them. */
export type ListSource<T> = (after: string | undefined, limit: number) => Promise<ListBatch<T>>;

export interface PageRequest {
  prefix: string;
  delimiter: string;
  maxKeys: number;
  /** resume strictly after this key or common prefix */
  after?: string;
}

export interface Page<T> {
  contents: ListEntry<T>[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** the last key or common prefix in this page: where the next page resumes */
  last?: string;
}

const BATCH = 1000;

export async function listPage<T>(source: ListSource<T>, request: PageRequest): Promise<Page<T>> {
  const { prefix, delimiter, maxKeys } = request;
  const page: Page<T> = { contents: [], commonPrefixes: [], isTruncated: false };
  if (maxKeys <= 0) return page;
  let after = request.after;
  // a resume point that is a common prefix means that whole prefix was already returned; one that
  // merely ends with the delimiter ("dir/" listed under prefix "dir/") is a key like any other
  let skipPrefix = after !== undefined && after.startsWith(prefix) && commonPrefixOf(after, prefix, delimiter) === after ? after : undefined;
  if (skipPrefix !== undefined) after = jumpPast(skipPrefix);
  // enough for a full page plus the one entry that tells whether it is truncated
  const limit = Math.min(BATCH, maxKeys + 1);
  for (;;) {
    const batch = await source(after, limit);
    let jumped = false;
    for (const entry of batch.entries) {
      if (skipPrefix !== undefined && entry.key.startsWith(skipPrefix)) continue;
      skipPrefix = undefined;
      if (page.contents.length + page.commonPrefixes.length === maxKeys) {
        page.isTruncated = true;
        return page;
      }
      const common = commonPrefixOf(entry.key, prefix, delimiter);
      if (common !== undefined) {
        page.commonPrefixes.push(common);
        page.last = common;
        skipPrefix = common;
        // jump over the rest of this prefix instead of reading every key in it
        after = jumpPast(common);
        jumped = true;
        break;
      }
      page.contents.push(entry);
      page.last = entry.key;
    }
    if (jumped) continue;
    if (batch.next === undefined) return page;
    after = batch.next;
  }
}

function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === "") return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}

/**
 * A key that sorts after every key starting with `prefix` in practice: keys that
 * continue with U+10FFFF (a noncharacter) sort later still, and the caller skips
 * those one by one, so this is a shortcut, never a source of wrong results.
 */
function jumpPast(prefix: string): string {
  return `${prefix}\u{10FFFF}`;
}

/** UTF-8 byte order, the order S3 lists keys in (JS string order differs above U+FFFF). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Adapts a sorted fetch (keys > after, up to limit) into a ListSource. */
export function sortedSource<T>(fetch: (after: string | undefined, limit: number) => Promise<T[]>, keyOf: (value: T) => string): ListSource<T> {
  return async (after, limit) => {
    const values = await fetch(after, limit);
    const entries = values.map((value) => ({ key: keyOf(value), value }));
    return { entries, next: values.length < limit ? undefined : entries[entries.length - 1]!.key };
  };
}

/**
 * local ∪ remote − hidden, local winning on equal keys. Each call reads one batch
 * from both sides and returns only keys up to the smaller of the two batch ends,
 * so nothing is returned out of order.
 */
export function mergedSource<T>(local: ListSource<T>, remote: ListSource<T>, hidden: (keys: string[]) => Promise<Set<string>>): ListSource<T> {
  return async (after, limit) => {
    const [mine, theirs] = await Promise.all([local(after, limit), remote(after, limit)]);
    const bounds = [mine.next, theirs.next].filter((next): next is string => next !== undefined);
    const bound = bounds.length === 0 ? undefined : bounds.reduce((a, b) => (compareKeys(a, b) <= 0 ? a : b));
    const within = (key: string) => bound === undefined || compareKeys(key, bound) <= 0;
    const localEntries = mine.entries.filter((entry) => within(entry.key));
    const localKeys = new Set(localEntries.map((entry) => entry.key));
    const remoteOnly = theirs.entries.filter((entry) => within(entry.key) && !localKeys.has(entry.key));
    const gone = await hidden(remoteOnly.map((entry) => entry.key));
    const entries = [...localEntries, ...remoteOnly.filter((entry) => !gone.has(entry.key))];
    entries.sort((a, b) => compareKeys(a.key, b.key));
    return { entries, next: bound };
  };
}
