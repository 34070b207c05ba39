// The catalog's rows as SQLite returns them, the column lists its statements
// select, and the mappers between rows and the store's types (ObjectInfo etc.).
// JSON columns hold what JSON.stringify wrote; dates are stored as ms since the epoch.
import type { BucketInfo, Checksum, ChecksumAlgorithm, ChunkInfo, ChunkKey, ObjectInfo, PartInfo, UploadInfo } from "../types.js";
import type { BlobRef } from "./blobs.js";
import type Database from "./sqlite.js";

/** The Catalog's cached statement preparer (Catalog.sql), for the statements kept in other files. */
export type Prepare = <Row = unknown>(source: string) => Database.Statement<unknown[], Row>;

/** What the statements kept in other files (catalog-uploads.ts, catalog-chunks.ts) use of the Catalog. */
export interface CatalogScope {
  sql: Prepare;
  inTransaction<Result>(fn: () => Result): Result;
  requireBucket(name: string): void;
  dropRefs(ids: string[]): string[];
  putObject(info: ObjectInfo, blobs: BlobRef[]): string[];
}

export interface BucketRow {
  name: string;
  created_at: number;
  region: string;
}

export interface ObjectRow {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  last_modified: number;
  origin: string;
  headers: string;
  user_metadata: string;
  checksum: string | null;
  part_sizes: string | null;
  remote: string | null;
  chunk_size: number | null;
}

export interface StoredRow extends ObjectRow {
  blobs: string;
  last_access: number;
}

export interface UploadRow {
  id: string;
  bucket: string;
  key: string;
  initiated: number;
  headers: string;
  user_metadata: string;
  checksum_algorithm: string | null;
  checksum_type: string | null;
}

export interface PartRow {
  part_number: number;
  size: number;
  etag: string;
  last_modified: number;
  checksum: string | null;
  blob: string | null;
}

export interface ChunkRow {
  bucket: string;
  key: string;
  etag: string;
  chunk_size: number;
  idx: number;
  size: number;
  crc32: string;
  last_access: number;
}

// HEAD and LIST skip the blob list: it can be long (one entry per part) and they do not need it.
export const INFO_COLUMNS = "bucket, key, size, etag, last_modified, origin, headers, user_metadata, checksum, part_sizes, remote, chunk_size";
const OBJECT_COLUMNS = `${INFO_COLUMNS}, blobs`;
export const STORED_COLUMNS = `${OBJECT_COLUMNS}, last_access`;

export const CHUNK_COLUMNS = "bucket, key, etag, chunk_size, idx, size, crc32, last_access";
// The chunks primary key: every per-chunk statement is a point lookup on it.
export const CHUNK_KEY = "bucket = ? AND key = ? AND etag = ? AND chunk_size = ? AND idx = ?";

export function blobIds(blobsJson: string): string[] {
  return (JSON.parse(blobsJson) as BlobRef[]).map((blob) => blob.id);
}

export function optionalJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function toBucketInfo(row: BucketRow): BucketInfo {
  return { name: row.name, createdAt: new Date(row.created_at), region: row.region };
}

export function toObjectInfo(row: ObjectRow): ObjectInfo {
  const info: ObjectInfo = {
    bucket: row.bucket,
    key: row.key,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    headers: JSON.parse(row.headers),
    userMetadata: JSON.parse(row.user_metadata),
    origin: row.origin as ObjectInfo["origin"],
  };
  if (row.checksum !== null) info.checksum = JSON.parse(row.checksum);
  if (row.part_sizes !== null) info.partSizes = JSON.parse(row.part_sizes);
  if (row.chunk_size !== null) info.chunkSize = row.chunk_size;
  if (row.remote !== null) {
    // Dates were stored by JSON.stringify as ISO strings (millisecond precision).
    const remote = JSON.parse(row.remote);
    info.remote = { etag: remote.etag, size: remote.size, lastModified: new Date(remote.lastModified), fetchedAt: new Date(remote.fetchedAt) };
  }
  return info;
}

export function chunkKeyParams(chunk: ChunkKey): [string, string, string, number, number] {
  return [chunk.bucket, chunk.key, chunk.etag, chunk.chunkSize, chunk.index];
}

export function toChunkInfo(row: ChunkRow): ChunkInfo {
  return {
    bucket: row.bucket,
    key: row.key,
    etag: row.etag,
    chunkSize: row.chunk_size,
    index: row.idx,
    size: row.size,
    crc32: row.crc32,
    lastAccess: new Date(row.last_access),
  };
}

export function toUploadInfo(row: UploadRow): UploadInfo {
  const upload: UploadInfo = {
    uploadId: row.id,
    bucket: row.bucket,
    key: row.key,
    initiated: new Date(row.initiated),
    headers: JSON.parse(row.headers),
    userMetadata: JSON.parse(row.user_metadata),
  };
  if (row.checksum_algorithm !== null) upload.checksumAlgorithm = row.checksum_algorithm as ChecksumAlgorithm;
  if (row.checksum_type !== null) upload.checksumType = row.checksum_type as Checksum["type"];
  return upload;
}

export function toPartInfo(row: PartRow): PartInfo {
  const part: PartInfo = { partNumber: row.part_number, size: row.size, etag: row.etag, lastModified: new Date(row.last_modified) };
  if (row.checksum !== null) part.checksum = JSON.parse(row.checksum);
  return part;
}
