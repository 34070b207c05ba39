// Where a byte range falls in an object's chunks, and how a chunk is named:
// pure arithmetic on the object's metadata (its chunk size and ETag).
import type { ByteRange, ChunkKey, ChunkVersion, ObjectInfo } from "../store/types.js";

/** Chunk `index` of the object's version. */
export function chunkKey(info: ObjectInfo, index: number): ChunkKey {
  return { bucket: info.bucket, key: info.key, etag: info.etag, chunkSize: info.chunkSize!, index };
}

/** The part of `range` in chunk `index`, as offsets in the chunk. */
export function withinChunk(info: ObjectInfo, index: number, range: ByteRange): ByteRange {
  const chunkStart = index * info.chunkSize!;
  return { start: Math.max(range.start, chunkStart) - chunkStart, end: Math.min(range.end, chunkStart + info.chunkSize! - 1) - chunkStart };
}

/** The object version a manifest's chunks belong to (bucket, key, ETag, chunk size). */
export function versionOf(info: ObjectInfo): ChunkVersion {
  return { bucket: info.bucket, key: info.key, etag: info.etag, chunkSize: info.chunkSize! };
}

/** A map key for one chunk of one version. */
export function chunkId(key: ChunkKey): string {
  return `${key.bucket}\n${key.key}\n${key.etag}\n${key.chunkSize}\n${key.index}`;
}

/** The index of the chunk holding the range's first byte. */
export function first(range: ByteRange, info: ObjectInfo): number {
  return Math.floor(range.start / info.chunkSize!);
}

/** The index of the chunk holding the range's last byte. */
export function last(range: ByteRange, info: ObjectInfo): number {
  return Math.floor(range.end / info.chunkSize!);
}
