// The settings of the cache commands (warm, evict, status): what they work on
// and how, from their flags and S3_OVERLAY_* variables.
import { invalid, parseCount, parseDuration, parseOptional, parseSize, pick, type Env, type Flags, type Source } from "./values.js";

/** What a cache command works on: a bucket, or the keys under a prefix of it. */
export interface CacheTarget {
  bucket: string;
  prefix: string;
}

/** "bucket" or "bucket/prefix" (a positional argument or a manifest line). */
export function parseCacheTarget(value: string, origin: string): CacheTarget {
  const source = { value, origin };
  const slash = value.indexOf("/");
  const bucket = slash < 0 ? value : value.slice(0, slash);
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw invalid(source, "must be <bucket> or <bucket>/<prefix> with a valid bucket name");
  return { bucket, prefix: slash < 0 ? "" : value.slice(slash + 1) };
}

/** Which chunks of a large object warm fetches; the parts are unioned. */
export type ChunkPick =
  | { kind: "index"; from: number; to: number }
  | { kind: "head" | "tail"; bytes: number };

export interface WarmSettings {
  concurrency: number;
  /** undefined: all chunks */
  chunks?: ChunkPick[];
  dryRun: boolean;
  /** non-terminal progress: a line this often */
  progressIntervalMs: number;
}

/** "first,last", "0-3,-1" (negative counts from the end), "head:8MiB,tail:1MiB", "all" */
function parseChunkPicks(source: Source): ChunkPick[] | undefined {
  const picks: ChunkPick[] = [];
  for (const part of source.value.split(",").map((item) => item.trim())) {
    const span = /^(-?\d+)(?:\.\.(-?\d+)|-(\d+))?$/.exec(part);
    const budget = /^(head|tail):(.+)$/.exec(part);
    if (part === "all") return undefined;
    if (part === "first") picks.push({ kind: "index", from: 0, to: 0 });
    else if (part === "last") picks.push({ kind: "index", from: -1, to: -1 });
    else if (budget) picks.push({ kind: budget[1] as "head" | "tail", bytes: parseSize({ value: budget[2]!, origin: source.origin }) });
    else if (span) {
      const from = Number(span[1]);
      const to = Number(span[2] ?? span[3] ?? span[1]);
      picks.push({ kind: "index", from, to });
    } else {
      throw invalid(source, `"${part}" is not first, last, all, an index (-1 is the last), a range like 2-5, or head:<size> / tail:<size>`);
    }
  }
  return picks;
}

export function loadWarmSettings(flags: Flags, env: Env = process.env): WarmSettings {
  const chunks = pick(flags, env, "chunks", "S3_OVERLAY_WARM_CHUNKS");
  return {
    concurrency: parseCount(pick(flags, env, "concurrency", "S3_OVERLAY_WARM_CONCURRENCY", "8")!, 1, 256),
    chunks: parseOptional(chunks, parseChunkPicks),
    dryRun: flags.dryRun === true,
    progressIntervalMs: parseDuration(pick(flags, env, "progress-interval", "S3_OVERLAY_PROGRESS_INTERVAL", "5s")!),
  };
}

export interface EvictSettings {
  /** only entries not read or written for this long */
  olderThanMs?: number;
  /** evict (least recently used first) until the cached data in scope is at most this many bytes */
  toSize?: number;
  chunksOnly: boolean;
  /** also remove tombstones / client-written objects in scope (asked for explicitly) */
  tombstones: boolean;
  clientWrites: boolean;
  dryRun: boolean;
}

export function loadEvictSettings(flags: Flags, env: Env = process.env): EvictSettings {
  return {
    olderThanMs: parseOptional(pick(flags, env, "older-than", "S3_OVERLAY_EVICT_OLDER_THAN"), parseDuration),
    toSize: parseOptional(pick(flags, env, "to-size", "S3_OVERLAY_EVICT_TO_SIZE"), parseSize),
    chunksOnly: flags.chunksOnly === true,
    tombstones: flags.tombstones === true,
    clientWrites: flags.clientWrites === true,
    dryRun: flags.dryRun === true,
  };
}
