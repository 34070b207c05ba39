// The Store interface: what the engine needs from a local tier. Drivers
// (fs/ embedded, s3/ for MinIO or Ceph RGW) implement it; none imports the engine.
import { Readable } from "node:stream";
import type { BlockCheck } from "../block-crc.js";
import type { BucketInfo, ByteRange, Checksum, ChecksumAlgorithm, ContentHeaders, PartInfo, S3Object, UploadInfo } from "../s3/model.js";

// the S3 values every layer shares live in the protocol layer; the store re-exports them for its drivers
export type { BucketInfo, ByteRange, Checksum, ChecksumAlgorithm, ContentHeaders, PartInfo, S3Object, UploadInfo };

/**
 * A read stream that is nothing but spans of files may carry them under this
 * symbol. A consumer that can move the bytes itself (the HTTP response, with
 * reused buffers) reads the files and then destroys the stream unread, which
 * releases what it held; every other consumer just reads the stream.
 */
export const FILE_SPANS = Symbol("s3-overlay.fileSpans");

/**
 * `end` inclusive; `fd`, when set, is already open and owned by the stream (closed when it is destroyed).
 * With `check`, the consumer reads the whole blocks covering [start, end] and sends
 * nothing of a block that fails its CRC32 (throwing CorruptBlockError instead).
 */
export interface FileSpan {
  path: string;
  fd?: number;
  start: number;
  end: number;
  check?: BlockCheck;
}

export function fileSpansOf(stream: Readable): FileSpan[] | undefined {
  return (stream as Readable & { [FILE_SPANS]?: FileSpan[] })[FILE_SPANS];
}

/**
 * A read stream of bytes already in memory (the fs store's hot set) may carry
 * them under this symbol: the HTTP response sends them as they are and destroys
 * the stream unread; every other consumer just reads the stream.
 */
export const OBJECT_BYTES = Symbol("s3-overlay.objectBytes");

export function objectBytesOf(stream: Readable): Buffer | undefined {
  return (stream as Readable & { [OBJECT_BYTES]?: Buffer })[OBJECT_BYTES];
}

/** The bytes `range` of an object held in memory, as a stream that also carries them (OBJECT_BYTES). */
export function inMemoryStream(bytes: Buffer, range: ByteRange | undefined): Readable {
  const part = range === undefined ? bytes : bytes.subarray(range.start, Math.min(range.end, bytes.length - 1) + 1);
  const stream = new Readable({
    read() {
      if (part.length > 0) this.push(part);
      this.push(null);
    },
  });
  return Object.assign(stream, { [OBJECT_BYTES]: part });
}

/**
 * A read stream of an object may carry, under this symbol, what to call when a
 * consumer finds its bytes corrupt (a CorruptBlockError): the engine's handling
 * (count, log, drop a mirror or mark a client write). Resolves once handled.
 */
export const ON_CORRUPT = Symbol("s3-overlay.onCorrupt");

export function onCorruptOf(stream: Readable): ((error: Error) => Promise<void>) | undefined {
  return (stream as Readable & { [ON_CORRUPT]?: (error: Error) => Promise<void> })[ON_CORRUPT];
}

/**
 * A read stream of file spans may carry, under this symbol, where the rest of its
 * bytes come from when a block fails its check: a stream of the body from byte
 * `offset` on (the chunk cache fetches a corrupt chunk again). A consumer of the
 * spans then goes on from that stream instead of failing the response.
 */
export const REST_AFTER_CORRUPT = Symbol("s3-overlay.restAfterCorrupt");

export function restAfterCorruptOf(stream: Readable): ((offset: number) => Readable) | undefined {
  return (stream as Readable & { [REST_AFTER_CORRUPT]?: (offset: number) => Readable })[REST_AFTER_CORRUPT];
}

/** Who put the object here: a client (`local`, never evicted) or a remote mirror fill (`remote`). */
export type Origin = "local" | "remote";

/** Identity of the remote object a mirrored object was copied from. */
export interface RemoteIdentity {
  etag: string;
  lastModified: Date;
  size: number;
  /** when the bytes were fetched (for revalidation) */
  fetchedAt: Date;
}

/** An object as the store keeps it: what S3 clients see, and where it came from. */
export interface ObjectInfo extends S3Object {
  origin: Origin;
  remote?: RemoteIdentity;
  /**
   * Set for a mirrored large object whose bytes live in chunks of this size
   * (see the chunk methods), not in the object itself: the object is a manifest.
   */
  chunkSize?: number;
}

/** One chunk of a large remote object: bytes [index * chunkSize, ...) of the version with that ETag. */
export interface ChunkKey {
  bucket: string;
  key: string;
  /** the remote ETag: chunks of two versions never mix */
  etag: string;
  chunkSize: number;
  index: number;
}

/** One version of a chunked object, as chunked: a ChunkKey without its index. */
export type ChunkVersion = Omit<ChunkKey, "index">;

export interface ChunkInfo extends ChunkKey {
  size: number;
  /** the chunk's checksums as the engine encoded them when it was written (opaque to stores) */
  crc32: string;
  /** last time the chunk was written or read (for LRU eviction) */
  lastAccess: Date;
}

/** Something the cache holds that eviction may remove: a mirrored object, a manifest (with its chunks), or one chunk. */
export interface CachedEntry {
  kind: "object" | "manifest" | "chunk";
  bucket: string;
  key: string;
  /** the remote ETag of the cached version */
  etag: string;
  /** bytes on disk this entry holds (a manifest: the bytes of its chunks) */
  size: number;
  /** last read or write */
  lastAccess: Date;
  /** for chunks */
  chunkSize?: number;
  index?: number;
}

export interface UsageOptions {
  bucket?: string;
  prefix?: string;
}

/** What one bucket's cache holds (status). */
export interface BucketUsage {
  bucket: string;
  /** mirrored whole objects */
  mirroredObjects: number;
  mirroredBytes: number;
  /** large mirrored objects kept as manifests + chunks */
  chunkedObjects: number;
  /** their logical (remote) size */
  chunkedBytes: number;
  chunksCached: number;
  chunksTotal: number;
  chunkBytes: number;
  /** objects written by clients (never evicted) */
  localObjects: number;
  localBytes: number;
  tombstones: number;
}

export interface ListCachedOptions extends UsageOptions {
  /** only entries last accessed before this */
  accessedBefore?: Date;
  limit: number;
}

/**
 * What the caller decides about a new object; size comes from the staged data.
 * With chunkSize it is a manifest of a chunked large object, committed with no staged data.
 */
export interface NewObject
  extends Pick<ObjectInfo, "etag" | "headers" | "userMetadata" | "checksum" | "partSizes" | "origin" | "remote" | "chunkSize"> {
  /** defaults to now; mirrored objects keep the remote's Last-Modified */
  lastModified?: Date;
}

/**
 * Bytes written to a temporary place, not visible to anyone yet. Becomes an
 * object or a part through commitObject/putPart, or is thrown away with discard().
 * A StagedData can be committed at most once.
 */
export interface StagedData {
  readonly size: number;
  discard(): Promise<void>;
}

export interface ListOptions {
  prefix?: string;
  /** only keys strictly greater than this (UTF-8 byte order) */
  startAfter?: string;
  limit: number;
}

export interface ListUploadsOptions {
  prefix?: string;
  keyMarker?: string;
  uploadIdMarker?: string;
  limit: number;
}

// The Store's roles. Each part of the engine takes the role(s) it uses, so
// what a module may do to the store is in its signature, and a test double
// needs only that part.

/** Buckets and whole objects: the S3 object API, over staged bytes. */
export interface ObjectStore {
  listBuckets(): Promise<BucketInfo[]>;
  getBucket(name: string): Promise<BucketInfo | undefined>;
  /** false when it already existed */
  createBucket(name: string, region: string): Promise<boolean>;
  /** throws S3Error NoSuchBucket / BucketNotEmpty (objects or uploads in progress) */
  deleteBucket(name: string): Promise<void>;

  /**
   * `intent` "read": readObject of the answer follows. A store whose lookups are
   * round trips (the S3 tier) may then fetch a small object's bytes with its facts,
   * so that readObject of this same `info` needs no second one.
   */
  headObject(bucket: string, key: string, intent?: "read"): Promise<ObjectInfo | undefined>;
  /**
   * Streams exactly the version described by `info` (or the range of it). If that
   * version was replaced or deleted before the stream opened, the stream errors
   * with S3Error NoSuchKey; readers that already opened it keep reading it.
   * Bytes with block checksums are verified (see FileSpan.check; a stream read
   * as a stream errors with CorruptBlockError). Throws S3Error InternalError at
   * once for a version already known to be corrupt (markCorrupt).
   */
  readObject(info: ObjectInfo, range?: ByteRange): Readable;
  /** Streams `body` to a temporary place; rejects (leaving nothing behind) if `body` errors. */
  stage(body: Readable): Promise<StagedData>;
  /**
   * Takes over a complete file (e.g. a miss-fill's spool file, on the same
   * filesystem as the store when possible) as staged data; the file is moved, not copied.
   */
  adoptFile(path: string, blockCrcs?: number[]): Promise<StagedData>;
  /** Makes the staged bytes (concatenated in order) visible as bucket/key, atomically replacing any previous version. */
  commitObject(bucket: string, key: string, data: StagedData[], meta: NewObject): Promise<ObjectInfo>;
  /** A new object sharing the bytes of `source` (no data copy where the driver can). */
  copyObject(source: ObjectInfo, bucket: string, key: string, meta: NewObject): Promise<ObjectInfo>;
  /** true if something was deleted */
  deleteObject(bucket: string, key: string): Promise<boolean>;
  /** keys sorted in UTF-8 byte order (the order S3 lists in) */
  listObjects(bucket: string, options: ListOptions): Promise<ObjectInfo[]>;
  /** Like listObjects, only objects with origin "local" (client writes). */
  listClientWrites(bucket: string, options: ListOptions): Promise<ObjectInfo[]>;

  close(): Promise<void>;
}

/** Multipart uploads in progress (bytes staged through ObjectStore.stage). */
export interface UploadStore {
  createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo>;
  getUpload(bucket: string, uploadId: string): Promise<UploadInfo | undefined>;
  /** replaces an earlier part with the same number */
  putPart(uploadId: string, partNumber: number, data: StagedData, meta: { etag: string; checksum?: Checksum }): Promise<PartInfo>;
  /** sorted by part number */
  listParts(uploadId: string): Promise<PartInfo[]>;
  /** sorted by key then initiation time; after (keyMarker, uploadIdMarker) */
  listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]>;
  /**
   * The object becomes the chosen parts' bytes in the given order; the upload and
   * all its parts (chosen or not) are gone afterwards. No data is copied where the driver can avoid it.
   */
  completeUpload(uploadId: string, partNumbers: number[], meta: NewObject): Promise<ObjectInfo>;
  abortUpload(uploadId: string): Promise<void>;
}

/**
 * Chunks of large remote objects. A chunk is stored only while the bucket/key
 * has a manifest object with the same etag and chunkSize; replacing or
 * deleting the object (or its bucket) deletes its chunks.
 */
export interface ChunkStore {
  putChunk(chunk: ChunkKey, data: StagedData, crc32: string): Promise<boolean>;
  getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined>;
  /**
   * The chunk's bytes (all, or the inclusive range within it); marks it recently used.
   * With `check` (its block checksums, decoded by the engine from crc32), a store
   * of files verifies them as readObject does and carries its file spans (FILE_SPANS)
   * for the pooled sender; other stores may ignore it (the engine verifies their bytes).
   */
  readChunk(chunk: ChunkInfo, range?: ByteRange, check?: BlockCheck): Readable;
  deleteChunk(chunk: ChunkKey): Promise<void>;
  /**
   * The chunks present of `version` whose bytes overlap `range` (offsets in the
   * object), sorted by index: what a read of that range needs, looked up
   * chunk by chunk, not by listing the object's chunks.
   */
  chunksIn(version: ChunkVersion, range: ByteRange): Promise<ChunkInfo[]>;
  /** every chunk present for an object version, sorted by index (warm, verify) */
  listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]>;
}

/** What the overlay remembers about remote keys: local deletes (tombstones) and remote 404s (the negative cache). */
export interface OverlayMarkers {
  /** Tombstones: keys deleted locally that the remote may still have. */
  putTombstone(bucket: string, key: string): Promise<void>;
  hasTombstone(bucket: string, key: string): Promise<boolean>;
  /** sorted like listObjects */
  listTombstones(bucket: string, options: ListOptions): Promise<string[]>;
  /** true if there was one */
  deleteTombstone(bucket: string, key: string): Promise<boolean>;

  /**
   * The negative cache: a remote 404 for bucket/key, trusted until `until`.
   * Kept where every process sharing the store sees it (on an S3 tier, in the tier).
   */
  rememberAbsent(bucket: string, key: string, until: Date): Promise<void>;
  /** Until when a remembered remote 404 holds; undefined if none or expired. */
  absentUntil(bucket: string, key: string): Promise<Date | undefined>;
  forgetAbsent(bucket: string, key: string): Promise<void>;
}

/** Cache accounting and eviction (status, evict, --max-cache-size). */
export interface StoreAccounting {
  /** Cache accounting (status), per bucket, sorted by bucket name. Buckets with nothing in them may be left out. */
  usage(options: UsageOptions): Promise<BucketUsage[]>;
  /** Bytes of data files the store holds (all objects, parts and chunks). */
  diskUsage(): Promise<number>;
  /**
   * Evictable entries (mirrored objects, manifests, chunks; never client
   * writes), least recently used first. Reads and writes update lastAccess.
   */
  listCached(options: ListCachedOptions): Promise<CachedEntry[]>;
  /**
   * Removes the entry if it is still exactly what `entry` describes (same kind,
   * same ETag, still mirrored): a client write that replaced it meanwhile is never
   * touched. A manifest goes with its chunks. true if something was removed.
   */
  evict(entry: CachedEntry): Promise<boolean>;
  /** Small objects kept in memory (the embedded store's hot set); left out by a store without one. */
  hotSetStats?(): HotSetStats;
}

/** The in-memory hot set of small objects: what it holds now, its fixed bound, the reads it answered. */
export interface HotSetStats {
  objects: number;
  bytes: number;
  maxBytes: number;
  hits: number;
}

/**
 * Integrity, for stores that keep block checksums (the embedded one; an S3
 * tier relies on its own): optional, so a store without them leaves them out.
 */
export interface StoreIntegrity {
  /** Remembers that this version's stored bytes are corrupt, so reads answer an error instead of sending them. */
  markCorrupt?(info: ObjectInfo): Promise<void>;
  /** How many of the version's data files have no block checksums (written before they existed). */
  uncheckedFiles?(info: ObjectInfo): Promise<number>;
  /** Computes and records block checksums for those files, from the bytes as they are now. */
  recordChecks?(info: ObjectInfo): Promise<number>;
}

/** A whole local tier: every role. Drivers implement this; modules take the roles they use. */
export interface Store extends ObjectStore, UploadStore, ChunkStore, OverlayMarkers, StoreAccounting, StoreIntegrity {}
