// Status: what the cache holds, per bucket, from the store's own accounting.
import type { BucketUsage, UsageOptions } from "../store/types.js";
import type { Engine, EngineCounters } from "./engine.js";
import { cachedBytes } from "./evict.js";

export type UsageTotals = Omit<BucketUsage, "bucket">;

export interface CacheStatus {
  scope: UsageOptions;
  buckets: BucketUsage[];
  totals: UsageTotals;
  /** mirrored objects and chunks: what evict and --max-cache-size count */
  cachedBytes: number;
  /** bytes of all data files in the store (not limited to the scope) */
  diskBytes: number;
  /** live counters, when the status came from a running serve */
  server?: { url?: string; maxCacheSize?: number; counters: EngineCounters; memory?: MemoryFigures };
}

/** process.memoryUsage() of the serve, in bytes: tells a leak (heapUsed, external) from allocator growth (rss only). */
export interface MemoryFigures {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** whether a full GC ran just before (status {"gc": true} on a serve started with --expose-gc) */
  collected: boolean;
}

/** With `collect` and a gc() exposed (node --expose-gc), garbage is collected first, so the figures are live data. */
export async function memoryFigures(collect = false): Promise<MemoryFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const collected = collect && typeof gc === "function";
  if (collected) {
    // buffers a collection frees are released after it, on a later task (measured: a single gc()
    // still counted 170 of 200 dead MiB in arrayBuffers); the second collection then sees them gone
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
    gc!();
  }
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external, arrayBuffers, collected };
}

/** A status as asked for by the CLI or the admin API. */
export interface StatusRequest {
  scope: UsageOptions;
  /** a full GC before the memory figures (a serve started with --expose-gc) */
  gc?: boolean;
}

export async function cacheStatus(engine: Engine, scope: UsageOptions): Promise<CacheStatus> {
  const buckets = await engine.store.usage(scope);
  const totals: UsageTotals = {
    mirroredObjects: 0, mirroredBytes: 0, chunkedObjects: 0, chunkedBytes: 0, chunksCached: 0,
    chunksTotal: 0, chunkBytes: 0, localObjects: 0, localBytes: 0, tombstones: 0,
  };
  for (const bucket of buckets) {
    for (const field of Object.keys(totals) as (keyof UsageTotals)[]) totals[field] += bucket[field];
  }
  return { scope, buckets, totals, cachedBytes: cachedBytes(buckets), diskBytes: await engine.store.diskUsage() };
}
