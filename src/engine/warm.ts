// Warming: fill the local store from the remote ahead of reads, through the
// same fills and chunk fetches as GET misses (same bucket mapping, chunking and
// verification). Objects already mirrored with the remote's current ETag are
// skipped, so a second run costs only the listing and an interrupted run resumes.
import picomatch from "picomatch";
import { ConfigError, type CacheTarget, type ChunkPick } from "../config.js";
import type { ObjectInfo } from "../store/types.js";
import type { Engine } from "./engine.js";
import type { LockEntry } from "./lockfile.js";
import type { RemoteObject } from "./remote.js";
import { lockedCandidates, lockOfWarm, type WarmCandidate } from "./warm-lock.js";

/** A warm as asked for by the CLI or the admin API. */
export interface WarmRequest {
  /** everything the remote lists under these */
  targets: CacheTarget[];
  /** objects named one by one (a --manifest) */
  keys: { bucket: string; key: string }[];
  /** globs (globToRegExp) that filter the keys listed under targets */
  include: string[];
  exclude: string[];
  concurrency: number;
  chunks?: ChunkPick[];
  dryRun: boolean;
  /** report the lock of what was warmed (a "lock" event before the summary): warm --lock */
  lock: boolean;
  /** warm exactly these locked versions (under the targets, if any) instead of listing: warm --locked */
  locked?: LockEntry[];
}

export type WarmEvent =
  | { type: "plan"; objects: number; bytes: number; skipped: number }
  /** bytes just fetched (a chunk or an object) */
  | { type: "bytes"; bytes: number }
  | { type: "object"; bucket: string; key: string; bytes: number; error?: string }
  /** with request.lock: the versions warmed, failures left out */
  | { type: "lock"; entries: LockEntry[] }
  | { type: "summary"; summary: WarmSummary };

export interface WarmSummary {
  dryRun: boolean;
  /** objects found under the targets and in the manifest, after --include/--exclude */
  objects: number;
  /** fetched (or, with dryRun, to fetch) */
  fetched: { objects: number; bytes: number };
  skipped: {
    /** mirrored already with the remote's ETag (and the chunks asked for) */
    cached: number;
    /** written by a client: the local version wins, nothing to fetch */
    local: number;
    /** deleted locally (tombstone) */
    deleted: number;
  };
  failed: { bucket: string; key: string; error: string }[];
  /** with dryRun: what would be fetched */
  planned?: { bucket: string; key: string; bytes: number }[];
  interrupted: boolean;
  elapsedMs: number;
}

/** Warm reaches only buckets that overlay the remote (the remote credentials serve no others). */
export function checkWarmScope(request: Pick<WarmRequest, "targets" | "keys" | "locked">, overlays: (bucket: string) => boolean): void {
  const outside = [...request.targets, ...request.keys, ...(request.locked ?? [])].map(({ bucket }) => bucket).find((bucket) => !overlays(bucket));
  if (outside !== undefined) throw new ConfigError(`bucket ${outside} does not overlay the remote: name it in S3_OVERLAY_BUCKET_MAPPING or S3_OVERLAY_REMOTE_BUCKETS`);
}

/**
 * A key filter: "*" within one path segment, "**" across them, "?" one
 * character, and picomatch's braces {a,b} and classes [ab]; dot files match too.
 */
export function globToRegExp(glob: string): RegExp {
  // parentheses and "+(" are ordinary characters of S3 keys, not regex groups or extglobs
  return picomatch.makeRe(glob.replace(/[()]/g, "\\$&"), { dot: true, noextglob: true });
}

/** Chunk indexes of an object of `size` bytes that the picks select (all without picks), ascending. */
export function selectChunks(picks: ChunkPick[] | undefined, size: number, chunkSize: number): number[] {
  const count = Math.ceil(size / chunkSize);
  const chosen = new Set<number>();
  const add = (from: number, to: number) => {
    for (let index = Math.max(0, from); index <= Math.min(count - 1, to); index++) chosen.add(index);
  };
  if (!picks) add(0, count - 1);
  for (const pick of picks ?? []) {
    if (pick.kind === "index") add(pick.from < 0 ? count + pick.from : pick.from, pick.to < 0 ? count + pick.to : pick.to);
    else if (pick.bytes > 0 && pick.kind === "head") add(0, Math.floor((pick.bytes - 1) / chunkSize));
    else if (pick.bytes > 0) add(Math.floor(Math.max(0, size - pick.bytes) / chunkSize), count - 1);
  }
  return [...chosen].sort((a, b) => a - b);
}

type Candidate = WarmCandidate;

/** One object to fetch: whole, or these chunks (`chunks` set for large objects). */
interface Planned extends Candidate {
  chunks?: number[];
  bytes: number;
}

type Skip = "cached" | "local" | "deleted";

export async function warm(engine: Engine, request: WarmRequest, onEvent: (event: WarmEvent) => void = () => undefined, signal?: AbortSignal): Promise<WarmSummary> {
  const started = Date.now();
  if (!engine.overlay || !engine.remote) throw new Error("warm needs a remote: set S3_OVERLAY_REMOTE_ENDPOINT (or the other S3_OVERLAY_REMOTE_* settings)");
  if (!engine.options.cacheEnabled) throw new Error("warm does nothing with S3_OVERLAY_CACHE_ENABLED=false");
  checkWarmScope(request, (bucket) => engine.overlayFor(bucket) !== undefined);
  const summary: WarmSummary = {
    dryRun: request.dryRun, objects: 0, fetched: { objects: 0, bytes: 0 },
    skipped: { cached: 0, local: 0, deleted: 0 }, failed: [], interrupted: false, elapsedMs: 0,
  };
  const candidates = await findCandidates(engine, request, summary);
  summary.objects = candidates.length;

  const planned: Planned[] = [];
  await forEachLimited(candidates, request.concurrency, signal, async (candidate) => {
    const plan = await planOne(engine, candidate, request.chunks);
    if (typeof plan === "string") summary.skipped[plan]++;
    else planned.push(plan);
  });
  const bytes = planned.reduce((sum, plan) => sum + plan.bytes, 0);
  onEvent({ type: "plan", objects: planned.length, bytes, skipped: candidates.length - planned.length });

  if (request.dryRun) {
    summary.fetched = { objects: planned.length, bytes };
    summary.planned = planned.map((plan) => ({ bucket: plan.bucket, key: plan.object.key, bytes: plan.bytes }));
  } else {
    await forEachLimited(planned, request.concurrency, signal, async (plan) => {
      try {
        const fetched = await fetchOne(engine, plan, request.chunks, (delta) => onEvent({ type: "bytes", bytes: delta }));
        summary.fetched.objects++;
        summary.fetched.bytes += fetched;
        onEvent({ type: "object", bucket: plan.bucket, key: plan.object.key, bytes: fetched });
      } catch (error) {
        const message = (error as Error).message ?? String(error);
        summary.failed.push({ bucket: plan.bucket, key: plan.object.key, error: message });
        onEvent({ type: "object", bucket: plan.bucket, key: plan.object.key, bytes: 0, error: message });
      }
    });
  }
  if (request.lock && !request.dryRun) {
    const targets = request.locked ? [] : request.targets;
    onEvent({ type: "lock", entries: await lockOfWarm(engine, targets, candidates, summary.failed) });
  }
  summary.interrupted = signal?.aborted ?? false;
  summary.elapsedMs = Date.now() - started;
  onEvent({ type: "summary", summary });
  return summary;
}

/** Remote objects under the targets and in the manifest, filtered, each once. */
async function findCandidates(engine: Engine, request: WarmRequest, summary: WarmSummary): Promise<Candidate[]> {
  const remote = engine.remote!;
  const found = new Map<string, Candidate>();
  const include = request.include.map(globToRegExp);
  const exclude = request.exclude.map(globToRegExp);
  const wanted = (key: string) =>
    (include.length === 0 || include.some((glob) => glob.test(key))) && !exclude.some((glob) => glob.test(key));
  if (request.locked) return lockedCandidates(engine, request.locked, request.targets, wanted);
  for (const target of request.targets) {
    for (let after: string | undefined; ;) {
      const page = await remote.list(target.bucket, { prefix: target.prefix, startAfter: after, limit: 1000 });
      for (const object of page) if (wanted(object.key)) found.set(`${target.bucket}\n${object.key}`, { bucket: target.bucket, object });
      if (page.length < 1000) break;
      after = page[page.length - 1]!.key;
    }
  }
  // a manifest names its objects: --include/--exclude filter listings only
  const manifest = request.keys.filter(({ bucket, key }) => !found.has(`${bucket}\n${key}`));
  await forEachLimited(manifest, request.concurrency, undefined, async ({ bucket, key }) => {
    try {
      const object = await remote.head(bucket, key);
      if (object) found.set(`${bucket}\n${key}`, { bucket, object });
      else summary.failed.push({ bucket, key, error: "not found on the remote" });
    } catch (error) {
      summary.failed.push({ bucket, key, error: (error as Error).message });
    }
  });
  return [...found.values()];
}

function isLarge(engine: Engine, object: RemoteObject): boolean {
  return object.size > engine.options.chunkThreshold;
}

/** What the store lacks of one remote object. */
async function planOne(engine: Engine, { bucket, object }: Candidate, picks: ChunkPick[] | undefined): Promise<Planned | Skip> {
  const store = engine.store;
  if (await store.hasTombstone(bucket, object.key)) return "deleted";
  const local = await store.headObject(bucket, object.key);
  if (local?.origin === "local") return "local";
  const current = local?.etag === object.etag ? local : undefined;
  if (!isLarge(engine, object)) {
    return current && current.chunkSize === undefined ? "cached" : { bucket, object, bytes: object.size };
  }
  const chunkSize = current?.chunkSize ?? engine.options.chunkSize;
  const present = new Set(current?.chunkSize ? (await store.listChunks(bucket, object.key, object.etag)).map((chunk) => chunk.index) : []);
  const missing = selectChunks(picks, object.size, chunkSize).filter((index) => !present.has(index));
  if (missing.length === 0) return "cached";
  const bytes = missing.reduce((sum, index) => sum + Math.min(chunkSize, object.size - index * chunkSize), 0);
  return { bucket, object, chunks: missing, bytes };
}

/** Fetches one planned object; resolves with the bytes fetched once they are committed. */
async function fetchOne(engine: Engine, plan: Planned, picks: ChunkPick[] | undefined, onBytes: (delta: number) => void): Promise<number> {
  const overlay = engine.overlay!;
  const { bucket, object } = plan;
  const local = await engine.store.headObject(bucket, object.key);
  if (local?.origin === "remote" && local.etag !== object.etag) {
    // an older version is mirrored: fills never replace an object, so drop it first
    await engine.store.evict({ kind: local.chunkSize === undefined ? "object" : "manifest", bucket, key: object.key, etag: local.etag, size: 0, lastAccess: local.lastModified });
  }
  let manifest: ObjectInfo;
  if (!plan.chunks) {
    const info = await overlay.fillObject(bucket, object.key);
    if (!info) throw new Error("no longer on the remote");
    if (info.chunkSize === undefined) {
      const stored = await engine.store.headObject(bucket, object.key);
      if (stored?.etag !== info.etag) throw new Error(stored?.origin === "local" ? "a client wrote it meanwhile" : "the fill did not complete");
      onBytes(info.size);
      return info.size;
    }
    manifest = info; // it grew past the chunk threshold since the listing
  } else if (local?.chunkSize !== undefined && local.etag === object.etag) {
    manifest = local;
  } else {
    // a listing has no content headers or metadata: the manifest takes them from a HEAD
    const head = await engine.remote!.head(bucket, object.key);
    if (!head) throw new Error("no longer on the remote");
    manifest = await overlay.commitManifest(bucket, object.key, head);
  }
  const indexes = manifest.etag === object.etag && plan.chunks ? plan.chunks : selectChunks(picks, manifest.size, manifest.chunkSize!);
  let fetched = 0;
  await forEachLimited(indexes, engine.options.maxInflightChunks, undefined, async (index) => {
    const bytes = await overlay.chunks.ensure(manifest, index);
    fetched += bytes;
    if (bytes > 0) onBytes(bytes);
  });
  return fetched;
}

/** Runs `work` over the items, at most `limit` at a time; stops starting new ones once `signal` aborts. */
async function forEachLimited<T>(items: T[], limit: number, signal: AbortSignal | undefined, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
