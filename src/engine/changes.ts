// diff and reset: what clients changed relative to the remote (client writes,
// tombstones), and dropping those changes so the view is the remote's again.
// Both walk only the changes (store.listClientWrites, store.listTombstones);
// mirrored objects and chunks are never listed nor touched.
import type { ObjectInfo, UsageOptions } from "../store/types.js";
import type { Engine } from "./engine.js";
import { compareKeys } from "./listing.js";

/** A diff or reset as asked for by the CLI or the admin API (diff ignores dryRun). */
export interface ChangesRequest {
  scope: UsageOptions;
  dryRun: boolean;
}

export interface ChangedObject {
  bucket: string;
  key: string;
  size: number;
  etag: string;
}

export interface DeletedKey {
  bucket: string;
  key: string;
}

export interface Diff {
  scope: UsageOptions;
  /** client writes where the remote has no such key (or the bucket does not overlay a remote) */
  added: ChangedObject[];
  /** client writes over a key the remote has */
  overwritten: ChangedObject[];
  /** tombstones: keys deleted by clients */
  deleted: DeletedKey[];
  /** client writes not classified because the remote could not be reached (remoteError says why) */
  unknown: ChangedObject[];
  remoteError?: string;
  counts: { added: number; overwritten: number; deleted: number; unknown: number };
}

export interface ResetSummary {
  scope: UsageOptions;
  dryRun: boolean;
  /** client writes and tombstones dropped (or, with dryRun, that would be) */
  clientWrites: number;
  tombstones: number;
  /** changed again by a client while reset ran, so left as they are */
  skipped: number;
}

const BATCH = 1000;
/** up to this many client writes in a batch, one HEAD each is cheaper than listing around them */
const HEAD_AT_MOST = 16;


/** Local buckets in scope: changes only exist where the store has a bucket. */
async function bucketsInScope(engine: Engine, scope: UsageOptions): Promise<string[]> {
  if (scope.bucket === undefined) return (await engine.store.listBuckets()).map((bucket) => bucket.name);
  return (await engine.store.getBucket(scope.bucket)) ? [scope.bucket] : [];
}

/** Pages of a sorted store listing, asking for keys after the last one seen. */
async function* pages<T>(list: (after: string | undefined) => Promise<T[]>, keyOf: (item: T) => string): AsyncGenerator<T[]> {
  for (let after: string | undefined; ;) {
    const page = await list(after);
    if (page.length > 0) yield page;
    if (page.length < BATCH) return;
    after = keyOf(page[page.length - 1]!);
  }
}

export async function diff(engine: Engine, scope: UsageOptions): Promise<Diff> {
  const result: Diff = { scope, added: [], overwritten: [], deleted: [], unknown: [], counts: { added: 0, overwritten: 0, deleted: 0, unknown: 0 } };
  for (const bucket of await bucketsInScope(engine, scope)) {
    const overlay = engine.overlayFor(bucket);
    const writes = pages((after) => engine.store.listClientWrites(bucket, { prefix: scope.prefix, startAfter: after, limit: BATCH }), (info) => info.key);
    for await (const batch of writes) {
      const changed = batch.map(changedObject);
      if (!overlay) {
        result.added.push(...changed);
        continue;
      }
      if (result.remoteError !== undefined) {
        // one failure already waited out the retries: do not wait again per batch
        result.unknown.push(...changed);
        continue;
      }
      const remote = overlay.remote;
      try {
        const keys = changed.map((object) => object.key);
        const present = keys.length <= HEAD_AT_MOST
          ? await Promise.all(keys.map(async (key) => (await remote.head(bucket, key)) !== undefined))
          : await remoteHasKeys(keys, async (after, limit) => (await remote.list(bucket, { prefix: scope.prefix, startAfter: after, limit })).map((object) => object.key));
        changed.forEach((object, i) => (present[i] ? result.overwritten : result.added).push(object));
      } catch (error) {
        result.remoteError = (error as Error).message;
        result.unknown.push(...changed);
      }
    }
    const tombstones = pages((after) => engine.store.listTombstones(bucket, { prefix: scope.prefix, startAfter: after, limit: BATCH }), (key) => key);
    for await (const keys of tombstones) result.deleted.push(...keys.map((key) => ({ bucket, key })));
  }
  result.counts = { added: result.added.length, overwritten: result.overwritten.length, deleted: result.deleted.length, unknown: result.unknown.length };
  return result;
}

function changedObject(info: ObjectInfo): ChangedObject {
  return { bucket: info.bucket, key: info.key, size: info.size, etag: info.etag };
}

/** Remote listing pages: keys > after (under the scope's prefix), sorted, at most limit. */
export type ListKeys = (after: string | undefined, limit: number) => Promise<string[]>;

/**
 * For sorted `keys`, whether the remote listing has each. A merged walk: each
 * listing starts just before the next key not yet covered (its proper prefix
 * without the last character sorts before it), so the cost follows the keys
 * asked about and the listing around them, not the size of the remote bucket.
 */
export async function remoteHasKeys(keys: string[], list: ListKeys, pageSize = BATCH): Promise<boolean[]> {
  const present: boolean[] = [];
  let listed = new Set<string>();
  // the current page covers keys in (from, to]; to undefined: everything after from
  let from: string | undefined;
  let to: string | undefined = "";
  let fetched = false;
  const covers = (key: string) => fetched && (from === undefined || compareKeys(key, from) > 0) && (to === undefined || compareKeys(key, to) <= 0);
  for (const key of keys) {
    let start = dropLastCharacter(key);
    while (!covers(key)) {
      // a page that ends before the key: go on from its last key
      if (fetched && to !== undefined && compareKeys(to, start) > 0 && compareKeys(to, key) < 0) start = to;
      const page = await list(start === "" ? undefined : start, pageSize);
      fetched = true;
      from = start === "" ? undefined : start;
      to = page.length < pageSize ? undefined : page[page.length - 1]!;
      listed = new Set(page);
    }
    present.push(listed.has(key));
  }
  return present;
}

/** The key without its last code point (never half a surrogate pair): sorts just before the key. */
function dropLastCharacter(key: string): string {
  const characters = Array.from(key);
  characters.pop();
  return characters.join("");
}

/**
 * Drops client writes and tombstones in scope, each re-checked under its key's
 * lock (engine.dropClientWrite, store.deleteTombstone): a change a client makes
 * while reset runs is kept and counted as skipped. Mirrored data stays cached.
 */
export async function reset(engine: Engine, request: { scope: UsageOptions; dryRun: boolean }): Promise<ResetSummary> {
  const { scope, dryRun } = request;
  const summary: ResetSummary = { scope, dryRun, clientWrites: 0, tombstones: 0, skipped: 0 };
  for (const bucket of await bucketsInScope(engine, scope)) {
    const writes = pages((after) => engine.store.listClientWrites(bucket, { prefix: scope.prefix, startAfter: after, limit: BATCH }), (info) => info.key);
    for await (const batch of writes) {
      for (const info of batch) {
        if (dryRun || (await engine.dropClientWrite(bucket, info.key, info.etag))) summary.clientWrites++;
        else summary.skipped++;
      }
    }
    const tombstones = pages((after) => engine.store.listTombstones(bucket, { prefix: scope.prefix, startAfter: after, limit: BATCH }), (key) => key);
    for await (const keys of tombstones) {
      for (const key of keys) {
        if (dryRun || (await engine.store.deleteTombstone(bucket, key))) summary.tombstones++;
        else summary.skipped++;
      }
    }
  }
  return summary;
}
