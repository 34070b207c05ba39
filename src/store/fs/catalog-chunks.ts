// Chunks of large remote objects: the chunks table, whose rows live only while
// their manifest (an object row) does. Writing or reading a chunk also marks its
// manifest used, so these run on the Catalog's connection and transactions.
import type { ByteRange, ChunkInfo, ChunkKey, ChunkVersion } from "../types.js";
import type { BlobRef } from "./blobs.js";
import { CHUNK_COLUMNS, CHUNK_KEY, chunkKeyParams, toChunkInfo, type CatalogScope, type ChunkRow } from "./catalog-rows.js";

// A read marks its object or chunk used at most this often: LRU needs no finer clock, and most
// reads then write nothing (a PK select measured ~2 µs, select + UPDATE ~29 µs). Objects use it too (Catalog.touchVersion).
export const TOUCH_INTERVAL_MS = 1000;

/** A read on a full disk still reads: marking it used is skipped (SQLITE_FULL), not its answer. */
export function unlessDiskFull(touch: () => unknown): void {
  try {
    touch();
  } catch (error) {
    if ((error as { code?: unknown }).code !== "SQLITE_FULL") throw error;
  }
}

/**
 * Stores `blob` as the chunk if bucket/key is a manifest with the chunk's ETag and
 * chunk size (replacing an earlier copy of the chunk). Returns whether it was
 * stored, and the dead blob ids; a refused blob was never referenced. Writing a
 * chunk marks both it and its manifest used.
 */
export function putChunk(c: CatalogScope, chunk: ChunkKey, blob: BlobRef, crc32: string, now: Date): { stored: boolean; dead: string[] } {
  return c.inTransaction(() => {
    const manifest = c.sql<{ etag: string; size: number; chunk_size: number | null }>("SELECT etag, size, chunk_size FROM objects WHERE bucket = ? AND key = ?").get(
      chunk.bucket,
      chunk.key,
    );
    if (manifest === undefined || manifest.etag !== chunk.etag || manifest.chunk_size !== chunk.chunkSize) return { stored: false, dead: [] };
    const expected = Math.min(chunk.chunkSize, manifest.size - chunk.index * chunk.chunkSize);
    if (!Number.isSafeInteger(chunk.index) || chunk.index < 0 || expected <= 0 || blob.size !== expected) {
      throw new Error(`chunk ${chunk.index} of ${chunk.bucket}/${chunk.key} (${manifest.size} bytes in chunks of ${chunk.chunkSize}) cannot hold ${blob.size} bytes`);
    }
    const key = chunkKeyParams(chunk);
    const previous = c.sql<{ blob: string }>(`SELECT blob FROM chunks WHERE ${CHUNK_KEY}`).get(...key);
    c.sql("INSERT INTO blob_refs (id, refs, size) VALUES (?, 1, ?)").run(blob.id, blob.size);
    c.sql(`INSERT OR REPLACE INTO chunks (${CHUNK_COLUMNS}, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...key, blob.size, crc32, now.getTime(), blob.id);
    c.sql("UPDATE objects SET last_access = ? WHERE bucket = ? AND key = ?").run(now.getTime(), chunk.bucket, chunk.key);
    return { stored: true, dead: previous ? c.dropRefs([previous.blob]) : [] };
  });
}

export function getChunk(c: CatalogScope, chunk: ChunkKey): ChunkInfo | undefined {
  const row = c.sql<ChunkRow>(`SELECT ${CHUNK_COLUMNS} FROM chunks WHERE ${CHUNK_KEY}`).get(...chunkKeyParams(chunk));
  return row && toChunkInfo(row);
}

/**
 * The blob of `chunk` if the same bytes (size and CRC32) are still stored, marking
 * the chunk used at `now` unless that was done less than TOUCH_INTERVAL_MS before.
 * Its manifest is marked too, so a manifest is never older than its chunks (give or
 * take the interval) and LRU eviction reaches the chunks first.
 */
export function touchChunk(c: CatalogScope, chunk: ChunkInfo, now: number): BlobRef | undefined {
  const key = chunkKeyParams(chunk);
  const row = c.sql<{ blob: string; size: number; crc32: string; last_access: number }>(`SELECT blob, size, crc32, last_access FROM chunks WHERE ${CHUNK_KEY}`).get(...key);
  if (row === undefined || row.size !== chunk.size || row.crc32 !== chunk.crc32) return undefined;
  if (now - row.last_access >= TOUCH_INTERVAL_MS) {
    unlessDiskFull(() => c.inTransaction(() => {
      c.sql(`UPDATE chunks SET last_access = ? WHERE ${CHUNK_KEY}`).run(now, ...key);
      c.sql("UPDATE objects SET last_access = ? WHERE bucket = ? AND key = ? AND last_access < ?").run(now, chunk.bucket, chunk.key, now);
    }));
  }
  return { id: row.blob, size: row.size };
}

/** Returns the dead blob ids. */
export function deleteChunk(c: CatalogScope, chunk: ChunkKey): string[] {
  return c.inTransaction(() => {
    const row = c.sql<{ blob: string }>(`DELETE FROM chunks WHERE ${CHUNK_KEY} RETURNING blob`).get(...chunkKeyParams(chunk));
    return row ? c.dropRefs([row.blob]) : [];
  });
}

export function listChunks(c: CatalogScope, bucket: string, key: string, etag: string): ChunkInfo[] {
  // Only one chunk size can be stored per version (the manifest's), so this is index order.
  const rows = c.sql<ChunkRow>(`SELECT ${CHUNK_COLUMNS} FROM chunks WHERE bucket = ? AND key = ? AND etag = ? ORDER BY chunk_size, idx`).all(bucket, key, etag);
  return rows.map(toChunkInfo);
}

/** The chunks of `version` overlapping `range`: one range scan of the primary key. */
export function chunksIn(c: CatalogScope, version: ChunkVersion, range: ByteRange): ChunkInfo[] {
  const first = Math.floor(range.start / version.chunkSize);
  const last = Math.floor(range.end / version.chunkSize);
  const rows = c.sql<ChunkRow>(`SELECT ${CHUNK_COLUMNS} FROM chunks WHERE bucket = ? AND key = ? AND etag = ? AND chunk_size = ? AND idx BETWEEN ? AND ? ORDER BY idx`)
    .all(version.bucket, version.key, version.etag, version.chunkSize, first, last);
  return rows.map(toChunkInfo);
}

/**
 * Drops chunks whose manifest is gone or is another version (none should exist:
 * every change that ends a manifest drops its chunks in the same transaction).
 * Run at open before blob recovery, which then deletes their files.
 */
export function dropStrayChunks(c: CatalogScope, ): void {
  c.inTransaction(() => {
    const stray = c.sql<{ blob: string }>(
      `DELETE FROM chunks WHERE NOT EXISTS (
        SELECT 1 FROM objects o WHERE o.bucket = chunks.bucket AND o.key = chunks.key AND o.etag = chunks.etag AND o.chunk_size = chunks.chunk_size
      ) RETURNING blob`,
    ).all();
    c.dropRefs(stray.map((row) => row.blob));
  });
}

export function dropChunks(c: CatalogScope, bucket: string, key: string): string[] {
  const rows = c.sql<{ blob: string }>("DELETE FROM chunks WHERE bucket = ? AND key = ? RETURNING blob").all(bucket, key);
  return c.dropRefs(rows.map((row) => row.blob));
}
