// Cache accounting: what the store holds per bucket (usage), the bytes of its
// blobs (disk usage) and the least recently used cached entries (listCached, what
// evict works down). Read-only queries, so they take the catalog's prepare
// function rather than a connection of their own.
import type { BucketUsage, CachedEntry, ListCachedOptions, UsageOptions } from "../types.js";
import { keyRange } from "./key-order.js";
import type { Prepare } from "./catalog-rows.js";

interface CachedRow {
  bucket: string;
  key: string;
  etag: string;
  chunk_size: number | null;
  idx: number | null;
  bytes: number;
  last_access: number;
}

interface ObjectTotalsRow {
  bucket: string;
  mirrored_objects: number;
  mirrored_bytes: number;
  chunked_objects: number;
  chunked_bytes: number;
  chunks_total: number;
  local_objects: number;
  local_bytes: number;
}

/**
 * Per bucket, sorted by name: every bucket holding anything in scope, and the
 * filtered bucket even if it holds nothing. Three grouped scans (objects, chunks,
 * tombstones): no per-row work in JS. Chunks need no join: they exist only under
 * their manifest.
 */
export function usage(sql: Prepare, options: UsageOptions): BucketUsage[] {
  const { where, params } = scopeOf(options);
  const buckets = new Map<string, BucketUsage>();
  const of = (bucket: string): BucketUsage => {
    let usage = buckets.get(bucket);
    if (usage === undefined) {
      usage = { bucket, mirroredObjects: 0, mirroredBytes: 0, chunkedObjects: 0, chunkedBytes: 0, chunksCached: 0, chunksTotal: 0, chunkBytes: 0, localObjects: 0, localBytes: 0, tombstones: 0 };
      buckets.set(bucket, usage);
    }
    return usage;
  };
  if (options.bucket !== undefined) of(options.bucket);
  // Each object is exactly one of: manifest (chunk_size set), mirrored whole object, client write.
  const objectTotals = sql<ObjectTotalsRow>(
    `SELECT bucket,
      SUM(chunk_size IS NULL AND origin = 'remote') AS mirrored_objects,
      SUM(CASE WHEN chunk_size IS NULL AND origin = 'remote' THEN size ELSE 0 END) AS mirrored_bytes,
      SUM(chunk_size IS NOT NULL) AS chunked_objects,
      SUM(CASE WHEN chunk_size IS NOT NULL THEN size ELSE 0 END) AS chunked_bytes,
      SUM(CASE WHEN chunk_size IS NOT NULL THEN (size + chunk_size - 1) / chunk_size ELSE 0 END) AS chunks_total,
      SUM(chunk_size IS NULL AND origin = 'local') AS local_objects,
      SUM(CASE WHEN chunk_size IS NULL AND origin = 'local' THEN size ELSE 0 END) AS local_bytes
    FROM objects ${where} GROUP BY bucket`,
  ).all(...params);
  for (const row of objectTotals) {
    Object.assign(of(row.bucket), {
      mirroredObjects: row.mirrored_objects,
      mirroredBytes: row.mirrored_bytes,
      chunkedObjects: row.chunked_objects,
      chunkedBytes: row.chunked_bytes,
      chunksTotal: row.chunks_total,
      localObjects: row.local_objects,
      localBytes: row.local_bytes,
    });
  }
  const chunkTotals = sql<{ bucket: string; count: number; bytes: number }>(`SELECT bucket, COUNT(*) AS count, SUM(size) AS bytes FROM chunks ${where} GROUP BY bucket`);
  for (const row of chunkTotals.all(...params)) Object.assign(of(row.bucket), { chunksCached: row.count, chunkBytes: row.bytes });
  const tombstoneTotals = sql<{ bucket: string; count: number }>(`SELECT bucket, COUNT(*) AS count FROM tombstones ${where} GROUP BY bucket`);
  for (const row of tombstoneTotals.all(...params)) of(row.bucket).tombstones = row.count;
  return [...buckets.values()].sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
}

/** Bytes of all referenced blobs, each counted once however many objects share it. */
export function blobBytes(sql: Prepare): number {
  return sql<{ bytes: number }>("SELECT COALESCE(SUM(size), 0) AS bytes FROM blob_refs").get()!.bytes;
}

/**
 * Mirrored objects, manifests and chunks in scope, least recently used first; on
 * equal times chunks come before objects (so before their manifest). Unfiltered,
 * each of the two queries walks its last_access index: O(limit), not O(catalog).
 * With a bucket or prefix SQLite scans that key range and sorts: O(range).
 * A manifest's size is the bytes of its chunks.
 */
export function listCached(sql: Prepare, options: ListCachedOptions): CachedEntry[] {
  const { conditions, params } = scopeConditions(options);
  if (options.accessedBefore !== undefined) {
    conditions.push("last_access < ?");
    params.push(options.accessedBefore.getTime());
  }
  const scope = conditions.map((condition) => ` AND ${condition}`).join("");
  // `origin = 'remote'` is written out so SQLite can use the partial index objects_by_access.
  const objects = sql<CachedRow>(
    `SELECT bucket, key, etag, chunk_size, NULL AS idx, last_access,
      CASE WHEN chunk_size IS NULL THEN size
        ELSE (SELECT COALESCE(SUM(c.size), 0) FROM chunks c WHERE c.bucket = o.bucket AND c.key = o.key AND c.etag = o.etag) END AS bytes
    FROM objects o WHERE origin = 'remote'${scope} ORDER BY last_access LIMIT ?`,
  ).all(...params, options.limit);
  const chunks = sql<CachedRow>(`SELECT bucket, key, etag, chunk_size, idx, size AS bytes, last_access FROM chunks WHERE 1${scope} ORDER BY last_access LIMIT ?`).all(
    ...params,
    options.limit,
  );
  // Array.prototype.sort is stable: ties keep chunks first.
  return [...chunks, ...objects]
    .sort((a, b) => a.last_access - b.last_access)
    .slice(0, options.limit)
    .map(toCachedEntry);
}

/** SQL conditions (on `bucket` and `key` columns) selecting the bucket and prefix of `options`. */
function scopeConditions(options: UsageOptions): { conditions: string[]; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (options.bucket !== undefined) {
    conditions.push("bucket = ?");
    params.push(options.bucket);
  }
  if (options.prefix) {
    const range = keyRange(options.prefix);
    conditions.push("key >= ?");
    params.push(range.lower);
    if (range.upper !== undefined) {
      conditions.push("key < ?");
      params.push(range.upper);
    }
  }
  return { conditions, params };
}

function scopeOf(options: UsageOptions): { where: string; params: unknown[] } {
  const { conditions, params } = scopeConditions(options);
  return { where: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, params };
}

function toCachedEntry(row: CachedRow): CachedEntry {
  const entry: CachedEntry = {
    kind: row.idx !== null ? "chunk" : row.chunk_size !== null ? "manifest" : "object",
    bucket: row.bucket,
    key: row.key,
    etag: row.etag,
    size: row.bytes,
    lastAccess: new Date(row.last_access),
  };
  if (row.idx !== null) {
    entry.chunkSize = row.chunk_size!;
    entry.index = row.idx;
  }
  return entry;
}
