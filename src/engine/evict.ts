// Eviction: frees space by removing mirrored objects and chunks, least recently
// used first. Client writes and tombstones are user decisions and stay, unless
// asked for by name (--client-writes, --tombstones). The store re-checks every
// entry as it removes it, so a client write that lands meanwhile is never touched.
import type { EvictSettings } from "../config.js";
import type { BucketUsage, CachedEntry, UsageOptions } from "../store/types.js";
import type { Engine } from "./engine.js";
import { log } from "../log.js";

/** An evict as asked for by the CLI or the admin API. */
export interface EvictRequest extends EvictSettings {
  scope: UsageOptions;
}

export interface EvictSummary {
  dryRun: boolean;
  /** removed (or, with dryRun, that would be) */
  evicted: { objects: number; manifests: number; chunks: number; bytes: number };
  tombstones: number;
  clientWrites: number;
  /** mirrored and chunk bytes in scope before and after (after = estimate with dryRun) */
  cachedBytesBefore: number;
  cachedBytesAfter: number;
}

const BATCH = 1000;

/** Bytes eviction can free: mirrored objects and chunks (client writes do not count). */
export function cachedBytes(usage: BucketUsage[]): number {
  return usage.reduce((sum, bucket) => sum + bucket.mirroredBytes + bucket.chunkBytes, 0);
}

export async function evict(engine: Engine, request: EvictRequest, now = new Date()): Promise<EvictSummary> {
  const store = engine.store;
  const before = cachedBytes(await store.usage(request.scope));
  const summary: EvictSummary = {
    dryRun: request.dryRun, evicted: { objects: 0, manifests: 0, chunks: 0, bytes: 0 },
    tombstones: 0, clientWrites: 0, cachedBytesBefore: before, cachedBytesAfter: before,
  };
  const accessedBefore = request.olderThanMs === undefined ? undefined : new Date(now.getTime() - request.olderThanMs);
  let remaining = before;
  // entries looked at and kept; a dry run keeps everything, so the next batch asks for more
  const kept = new Set<string>();
  // a manifest's size includes its chunks: bytes of chunks removed before it are not counted twice
  const chunkBytesGone = new Map<string, number>();
  const manifestsGone = new Set<string>();
  while (request.toSize === undefined || remaining > request.toSize) {
    const batch = (await store.listCached({ ...request.scope, accessedBefore, limit: kept.size + BATCH })).filter((entry) => !kept.has(entryId(entry)));
    if (batch.length === 0) break;
    for (const entry of batch) {
      if (request.toSize !== undefined && remaining <= request.toSize) break;
      const version = `${entry.bucket}\n${entry.key}\n${entry.etag}`;
      const skip = (request.chunksOnly && entry.kind !== "chunk") || (entry.kind === "chunk" && manifestsGone.has(version));
      if (skip || request.dryRun) kept.add(entryId(entry));
      if (skip || (!request.dryRun && !(await store.evict(entry)))) continue;
      let bytes = entry.size;
      if (entry.kind === "chunk") {
        chunkBytesGone.set(version, (chunkBytesGone.get(version) ?? 0) + entry.size);
        summary.evicted.chunks++;
      } else if (entry.kind === "manifest") {
        bytes = Math.max(0, entry.size - (chunkBytesGone.get(version) ?? 0));
        manifestsGone.add(version);
        summary.evicted.manifests++;
      } else {
        summary.evicted.objects++;
      }
      summary.evicted.bytes += bytes;
      remaining -= bytes;
    }
  }
  if (request.tombstones) summary.tombstones = await dropTombstones(engine, request);
  if (request.clientWrites) summary.clientWrites = await dropClientWrites(engine, request);
  summary.cachedBytesAfter = request.dryRun ? remaining : cachedBytes(await store.usage(request.scope));
  return summary;
}

function entryId(entry: CachedEntry): string {
  return `${entry.kind}\n${entry.bucket}\n${entry.key}\n${entry.etag}\n${entry.index ?? ""}`;
}

async function bucketsInScope(engine: Engine, request: EvictRequest): Promise<string[]> {
  return request.scope.bucket !== undefined ? [request.scope.bucket] : (await engine.store.listBuckets()).map((bucket) => bucket.name);
}

async function dropTombstones(engine: Engine, request: EvictRequest): Promise<number> {
  let count = 0;
  for (const bucket of await bucketsInScope(engine, request)) {
    for (let after: string | undefined; ;) {
      const keys = await engine.store.listTombstones(bucket, { prefix: request.scope.prefix, startAfter: after, limit: BATCH });
      for (const key of keys) if (request.dryRun || (await engine.store.deleteTombstone(bucket, key))) count++;
      if (keys.length < BATCH) break;
      after = keys[keys.length - 1];
    }
  }
  return count;
}

async function dropClientWrites(engine: Engine, request: EvictRequest): Promise<number> {
  let count = 0;
  for (const bucket of await bucketsInScope(engine, request)) {
    for (let after: string | undefined; ;) {
      // only the client writes: mirrored objects in the bucket are not listed
      const objects = await engine.store.listClientWrites(bucket, { prefix: request.scope.prefix, startAfter: after, limit: BATCH });
      for (const object of objects) {
        if (request.dryRun || (await engine.dropClientWrite(bucket, object.key, object.etag))) count++;
      }
      if (objects.length < BATCH) break;
      after = objects[objects.length - 1]!.key;
    }
  }
  return count;
}

/**
 * serve --max-cache-size: checks the cached bytes every `intervalMs` and, above
 * the limit, evicts least recently used data down to 90% of it (so one new fill
 * does not start another round). Returns a function that stops the watch and
 * waits for a round in progress.
 */
export function limitCacheSize(engine: Engine, maxBytes: number, intervalMs = 5_000): () => Promise<void> {
  let round: Promise<void> | undefined;
  const check = async () => {
    if (cachedBytes(await engine.store.usage({})) <= maxBytes) return;
    const request: EvictRequest = { scope: {}, toSize: Math.floor(maxBytes * 0.9), chunksOnly: false, tombstones: false, clientWrites: false, dryRun: false };
    const done = await evict(engine, request);
    log.info(`cache above --max-cache-size ${maxBytes}: evicted ${done.evicted.objects} objects, ${done.evicted.manifests} large objects and ${done.evicted.chunks} chunks (${done.evicted.bytes} bytes); ${done.cachedBytesAfter} bytes cached`);
  };
  const start = () => {
    round ??= check()
      .catch((error: Error) => log.warn(`cache size check failed: ${error.message}`))
      .finally(() => (round = undefined));
  };
  const timer = setInterval(start, intervalMs);
  timer.unref();
  start();
  return async () => {
    clearInterval(timer);
    await round;
  };
}
