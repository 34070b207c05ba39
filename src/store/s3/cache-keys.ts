// The cache bucket's key codec: where each kind of marker lives, and the key
// rules of the tier. Pure: no I/O, so every layout decision is in one place.
//
// Cache bucket layout:
//   tombstones/<bucket>/<key>                                   zero bytes
//   absent/<bucket>/<sha256(key)>                               zero bytes, x-amz-meta-s3o-absent-until: a remote 404 (negative cache)
//   chunks/<bucket>/<sha256(key)>/<etag>/<chunkSize>/<index>  the chunk's bytes, x-amz-meta-s3o-chunk-crc32: its checksums
//   uploads/<sha256(uploadId)>                                  JSON: the UploadInfo
//   uploads/<sha256(uploadId)>/<partNumber>/<etag>[/<alg>/<type>/<value>]   zero bytes: a part's own ETag/checksum
import { createHash } from "node:crypto";
import { errors } from "../../s3/errors.js";
import type { Checksum, ChecksumAlgorithm, ChunkKey } from "../types.js";

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Hashed: a marker must fit the tier's key limit whatever the key's length. */
export function absentKey(bucket: string, key: string): string {
  return `absent/${bucket}/${hashKey(key)}`;
}

export function tombstonePrefix(bucket: string): string {
  return `tombstones/${bucket}/`;
}

export function tombstoneKey(bucket: string, key: string): string {
  return `${tombstonePrefix(bucket)}${key}`;
}

/** The prefixes of everything the cache bucket remembers about one bucket's objects (gone with the bucket). */
export function bucketPrefixes(bucket: string): string[] {
  return ["tombstones", "absent", "chunks"].map((kind) => `${kind}/${bucket}/`);
}

/** Ceph RGW refuses keys containing NUL (every other character is fine), and a tier cannot hold what it refuses. */
export function storableKey(key: string): boolean {
  return !key.includes("\u0000");
}

export function requireStorableKey(key: string): void {
  if (!storableKey(key)) throw errors.invalidArgument("The S3 local tier cannot store a key that contains U+0000 (NUL).", "key");
}

/** S3 keys are at most 1024 bytes of UTF-8. */
export function fitsTier(tierKey: string): boolean {
  return Buffer.byteLength(tierKey, "utf8") <= 1024;
}

export function chunksOfBucket(bucket: string): string {
  return `chunks/${bucket}/`;
}

export function chunkPrefix(bucket: string, key: string): string {
  return `${chunksOfBucket(bucket)}${hashKey(key)}/`;
}

/** The chunks of one version (ETag) of bucket/key. */
export function chunkVersionPrefix(bucket: string, key: string, etag: string): string {
  return `${chunkPrefix(bucket, key)}${encodeURIComponent(etag)}/`;
}

/**
 * A chunk's tier key: its whole identity, so a read HEADs or GETs exactly the
 * chunks it needs (no listing). Its checksums travel as metadata (CHUNK_CHECKSUM_HEADER).
 */
export function chunkTierKey(chunk: ChunkKey): string {
  return `${chunkVersionPrefix(chunk.bucket, chunk.key, chunk.etag)}${String(chunk.chunkSize).padStart(12, "0")}/${String(chunk.index).padStart(10, "0")}`;
}

/** The metadata header carrying a chunk's checksum text (opaque to the store, base64url so any text survives). */
export const CHUNK_CHECKSUM_HEADER = "x-amz-meta-s3o-chunk-crc32";

export function checksumHeaderValue(crc32: string): string {
  return Buffer.from(crc32, "utf8").toString("base64url");
}

export function checksumFromHeader(value: string): string {
  return Buffer.from(value, "base64url").toString("utf8");
}

/** The sha256 of the object key in a chunk's tier key: matches hashKey(manifest key). */
export function chunkOwnerHash(tierKey: string): string {
  return tierKey.split("/")[2]!;
}

/**
 * A chunk's identity from its tier key (the object key itself is hashed there, so
 * the caller names it). undefined for a key of the earlier layout, which kept the
 * checksum as a seventh segment: such chunks are never read, and go with their manifest.
 */
export function chunkFromTierKey(bucket: string, key: string, tierKey: string): ChunkKey | undefined {
  const segments = tierKey.split("/");
  if (segments.length !== 6) return undefined;
  const [, , , etag, chunkSize, index] = segments;
  return { bucket, key, etag: decodeURIComponent(etag!), chunkSize: Number(chunkSize), index: Number(index) };
}

export function uploadMarker(uploadId: string): string {
  return `uploads/${hashKey(uploadId)}`;
}

/** Every part marker of an upload sits under this. */
export function partsPrefix(uploadId: string): string {
  return `${uploadMarker(uploadId)}/`;
}

/** Padded so the tier lists part markers in part order. */
export function partDir(uploadId: string, partNumber: number): string {
  return `${partsPrefix(uploadId)}${String(partNumber).padStart(5, "0")}/`;
}

export interface PartMarker {
  partNumber: number;
  etag: string;
  checksum?: Checksum;
}

/** What the tier cannot say about a part (our ETag if it differs, the checksum), as a marker's name. */
export function partMarkerKey(uploadId: string, partNumber: number, etag: string, checksum?: Checksum): string {
  const suffix = checksum ? `/${checksum.algorithm}/${checksum.type}/${Buffer.from(checksum.value).toString("base64url")}` : "";
  return `${partDir(uploadId, partNumber)}${encodeURIComponent(etag)}${suffix}`;
}

export function parsePartMarker(uploadId: string, tierKey: string): PartMarker {
  const [partNumber, etag, algorithm, type, value] = tierKey.slice(partsPrefix(uploadId).length).split("/");
  const marker: PartMarker = { partNumber: Number(partNumber), etag: decodeURIComponent(etag!) };
  if (value !== undefined) marker.checksum = { algorithm: algorithm as ChecksumAlgorithm, type: type as Checksum["type"], value: Buffer.from(value, "base64url").toString() };
  return marker;
}
