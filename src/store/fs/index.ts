// The embedded store: object bytes in immutable files (blobs.ts), everything else
// in SQLite (catalog.ts). A write stages its bytes in tmp/, renames them into
// blobs/ and then commits one catalog transaction, so a half-written object is
// never visible; files the catalog stops referencing are deleted afterwards.
// Large remote objects are manifests (chunkSize set, no bytes of their own) whose
// bytes are cached as chunks, each in its own blob, while that manifest stays.
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { errors } from "../../s3/errors.js";
import type {
  BucketInfo,
  BucketUsage,
  ByteRange,
  CachedEntry,
  Checksum,
  HotSetStats,
  ChunkInfo,
  ChunkKey,
  ChunkVersion,
  ListCachedOptions,
  ListOptions,
  ListUploadsOptions,
  NewObject,
  ObjectInfo,
  PartInfo,
  StagedData,
  Store,
  UploadInfo,
  UsageOptions,
} from "../types.js";
import { inMemoryStream } from "../types.js";
import type { BlockCheck } from "../../block-crc.js";
import { describeObject } from "../object-info.js";
import { BlobFiles } from "./blobs.js";
import { Catalog } from "./catalog.js";
import { isWellFormedKey } from "./key-order.js";
import { AbsentKeys } from "./absent-keys.js";
import { BlobChecks, corruptObject } from "./blob-checks.js";
import { commitCatalog, FsStagedData, publish, takeStaged } from "./staged.js";
import { HotSet, readAll } from "./hot-set.js";
import { TOUCH_INTERVAL_MS } from "./catalog-chunks.js";

// For the benchmark only (the cost of verification): send blobs without checking their blocks.
const UNVERIFIED_READS = process.env.S3_OVERLAY_UNVERIFIED_READS === "1";

/**
 * Opens the store in `dataDir` (created if missing), holding it exclusively for
 * this process (see Catalog.open), and removes what a crash left behind.
 */
export async function openFsStore(dataDir: string): Promise<FsStore> {
  await mkdir(dataDir, { recursive: true });
  const catalog = Catalog.open(dataDir);
  const files = new BlobFiles(dataDir);
  let checks: BlobChecks;
  try {
    catalog.dropStrayChunks();
    await files.recover((shard) => catalog.referencedBlobs(shard));
    checks = new BlobChecks(catalog.database);
    checks.dropOrphans();
  } catch (error) {
    catalog.close();
    throw error;
  }
  return new FsStore(catalog, files, checks);
}

export class FsStore implements Store {
  private openCatalog: Catalog | undefined;
  private readonly absent = new AbsentKeys();
  /** small objects' rows and bytes; every change of a key below forgets it (after the catalog changed) */
  private readonly hot = new HotSet();

  constructor(
    catalog: Catalog,
    private readonly files: BlobFiles,
    private readonly checks: BlobChecks,
  ) {
    this.openCatalog = catalog;
  }

  private get catalog(): Catalog {
    if (this.openCatalog === undefined) throw new Error("the store is closed");
    return this.openCatalog;
  }

  async close(): Promise<void> {
    this.hot.clear();
    this.openCatalog?.close();
    this.openCatalog = undefined;
  }

  // ---- buckets

  async listBuckets(): Promise<BucketInfo[]> {
    return this.catalog.listBuckets();
  }

  async getBucket(name: string): Promise<BucketInfo | undefined> {
    return this.catalog.getBucket(name);
  }

  async createBucket(name: string, region: string): Promise<boolean> {
    return this.catalog.createBucket(name, region, new Date());
  }

  async deleteBucket(name: string): Promise<void> {
    this.catalog.deleteBucket(name);
    this.hot.clear(); // only an empty bucket is deleted: nothing of it should be kept, and this is rare
    this.absent.forgetBucket(name);
  }

  // ---- objects

  async headObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    return this.hot.info(bucket, key) ?? this.catalog.headObject(bucket, key);
  }

  /** Throws for a manifest: its bytes are in chunks (readChunk). Marks the object recently used. */
  readObject(info: ObjectInfo, range?: ByteRange): Readable {
    if (info.chunkSize !== undefined) throw new Error(`${info.bucket}/${info.key} is a chunked manifest: read its chunks instead`);
    const now = Date.now();
    const kept = this.hot.read(info, now, TOUCH_INTERVAL_MS, () => this.catalog.touchVersion(info, now) !== undefined);
    if (kept !== undefined) return inMemoryStream(kept, range);
    const stored = this.catalog.touchVersion(info, now);
    if (stored === undefined) return failingStream(errors.noSuchKey(info.key));
    const size = stored.info.size;
    const wanted = range === undefined ? { start: 0, end: size - 1 } : { start: range.start, end: Math.min(range.end, size - 1) };
    const states = this.checks.states(stored.blobs);
    if (states.some((state) => state.corrupt)) throw corruptObject(info);
    const checks = UNVERIFIED_READS ? [] : states.map((state) => state.check);
    this.hot.load(stored.info, now, () => readAll(this.files.read(stored.blobs, { start: 0, end: size - 1 }, info.key, checks)));
    return this.files.read(stored.blobs, wanted, info.key, checks);
  }

  async stage(body: Readable): Promise<StagedData> {
    const { id, size, crcs } = await this.files.stage(body);
    return new FsStagedData(this.files, id, size, crcs);
  }

  async adoptFile(path: string, blockCrcs?: number[]): Promise<StagedData> {
    const { id, size } = await this.files.stageFile(path);
    return new FsStagedData(this.files, id, size, blockCrcs);
  }

  /** A manifest (meta.chunkSize) takes no data; its size is meta.remote.size. */
  async commitObject(bucket: string, key: string, data: StagedData[], meta: NewObject): Promise<ObjectInfo> {
    requireWellFormedKey(key);
    if (meta.chunkSize !== undefined) requireManifest(data, meta);
    const staged = takeStaged(this.files, data);
    const blobs = await publish(this.files, staged);
    const size = meta.chunkSize === undefined ? staged.reduce((sum, part) => sum + part.size, 0) : meta.remote!.size;
    const info = describeObject(bucket, key, size, meta);
    try {
      commitCatalog(this.files, this.checks, blobs, () => this.catalog.putObject(info, blobs), staged);
    } finally {
      this.hot.forget(bucket, key);
    }
    return info;
  }

  /** Not for manifests, as source or as target: chunks belong to one bucket/key. */
  async copyObject(source: ObjectInfo, bucket: string, key: string, meta: NewObject): Promise<ObjectInfo> {
    requireWellFormedKey(key);
    requireNoChunkSize(meta);
    const info = describeObject(bucket, key, source.size, meta);
    try {
      this.files.remove(this.catalog.copyObject(source, info));
    } finally {
      this.hot.forget(bucket, key);
    }
    return info;
  }

  async deleteObject(bucket: string, key: string): Promise<boolean> {
    const { deleted, dead } = this.catalog.deleteObject(bucket, key);
    this.hot.forget(bucket, key);
    this.files.remove(dead);
    return deleted;
  }

  async listObjects(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    return this.catalog.listObjects(bucket, options.prefix, options.startAfter, options.limit);
  }

  // ---- multipart uploads

  async createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> {
    requireWellFormedKey(key);
    const upload: UploadInfo = {
      uploadId: randomBytes(24).toString("base64url"),
      bucket,
      key,
      initiated: new Date(),
      headers: { ...meta.headers },
      userMetadata: { ...meta.userMetadata },
    };
    if (meta.checksumAlgorithm !== undefined) upload.checksumAlgorithm = meta.checksumAlgorithm;
    if (meta.checksumType !== undefined) upload.checksumType = meta.checksumType;
    this.catalog.createUpload(upload);
    return upload;
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadInfo | undefined> {
    const upload = this.catalog.getUpload(uploadId);
    return upload?.bucket === bucket ? upload : undefined;
  }

  async putPart(uploadId: string, partNumber: number, data: StagedData, meta: { etag: string; checksum?: Checksum }): Promise<PartInfo> {
    const staged = takeStaged(this.files, [data]);
    const blobs = await publish(this.files, staged);
    const part: PartInfo = { partNumber, size: data.size, etag: meta.etag, lastModified: new Date() };
    if (meta.checksum !== undefined) part.checksum = { ...meta.checksum };
    commitCatalog(this.files, this.checks, blobs, () => this.catalog.putPart(uploadId, part, blobs[0]), staged);
    return part;
  }

  async listParts(uploadId: string): Promise<PartInfo[]> {
    return this.catalog.listParts(uploadId);
  }

  async listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> {
    return this.catalog.listUploads(bucket, options);
  }

  async completeUpload(uploadId: string, partNumbers: number[], meta: NewObject): Promise<ObjectInfo> {
    requireNoChunkSize(meta);
    const { info, dead } = this.catalog.completeUpload(uploadId, partNumbers, (upload, size, partSizes) =>
      describeObject(upload.bucket, upload.key, size, { ...meta, partSizes: meta.partSizes ?? partSizes }),
    );
    this.hot.forget(info.bucket, info.key);
    this.files.remove(dead);
    return info;
  }

  async abortUpload(uploadId: string): Promise<void> {
    this.files.remove(this.catalog.abortUpload(uploadId));
  }

  // ---- chunks of large remote objects

  /** Stores the chunk only if bucket/key is a manifest of its ETag and chunk size; otherwise discards `data` and returns false. */
  async putChunk(chunk: ChunkKey, data: StagedData, crc32: string): Promise<boolean> {
    const staged = takeStaged(this.files, [data])[0]!;
    const blob = { id: staged.id, size: staged.size };
    try {
      // Always a blob, even for 0 bytes: a chunk is read from its file.
      await this.files.publish(blob.id);
    } catch (error) {
      await this.files.removeStaged(blob.id);
      throw error;
    }
    let stored = false;
    commitCatalog(this.files, this.checks, [blob], () => {
      const result = this.catalog.putChunk(chunk, blob, crc32, new Date());
      stored = result.stored;
      // a refused chunk's blob was never referenced: it is dead too
      return stored ? result.dead : [blob.id];
    });
    return stored;
  }

  async getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined> {
    return this.catalog.getChunk(chunk);
  }

  /**
   * Streams the chunk's blob, pinned like readObject's. If the chunk was deleted or
   * rewritten with other bytes since `chunk` was read, the stream errors with NoSuchKey.
   */
  readChunk(chunk: ChunkInfo, range?: ByteRange, check?: BlockCheck): Readable {
    const blob = this.catalog.touchChunk(chunk, Date.now());
    if (blob === undefined) return failingStream(errors.noSuchKey(chunk.key));
    return this.files.read([blob], range ?? { start: 0, end: blob.size - 1 }, chunk.key, check ? [check] : []);
  }

  async deleteChunk(chunk: ChunkKey): Promise<void> {
    this.files.remove(this.catalog.deleteChunk(chunk));
  }

  async chunksIn(version: ChunkVersion, range: ByteRange): Promise<ChunkInfo[]> {
    return this.catalog.chunksIn(version, range);
  }

  async listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]> {
    return this.catalog.listChunks(bucket, key, etag);
  }

  // ---- tombstones

  async putTombstone(bucket: string, key: string): Promise<void> {
    requireWellFormedKey(key);
    this.catalog.putTombstone(bucket, key);
    this.hot.forget(bucket, key);
  }

  async hasTombstone(bucket: string, key: string): Promise<boolean> {
    return this.catalog.hasTombstone(bucket, key);
  }

  async listClientWrites(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    return this.catalog.listClientWrites(bucket, options.prefix, options.startAfter, options.limit);
  }

  async listTombstones(bucket: string, options: ListOptions): Promise<string[]> {
    return this.catalog.listTombstones(bucket, options.prefix, options.startAfter, options.limit);
  }

  async deleteTombstone(bucket: string, key: string): Promise<boolean> {
    return this.catalog.deleteTombstone(bucket, key);
  }

  // ---- negative cache (in memory: one process holds the embedded store)

  async rememberAbsent(bucket: string, key: string, until: Date): Promise<void> {
    this.absent.remember(bucket, key, until);
  }

  async absentUntil(bucket: string, key: string): Promise<Date | undefined> {
    return this.absent.lookup(bucket, key);
  }

  async forgetAbsent(bucket: string, key: string): Promise<void> {
    this.absent.forget(bucket, key);
  }

  // ---- cache accounting and eviction

  async usage(options: UsageOptions): Promise<BucketUsage[]> {
    return this.catalog.usage(options);
  }

  /** Referenced blobs (from the catalog, not a directory walk) plus staged files. */
  async diskUsage(): Promise<number> {
    return this.catalog.blobBytes() + this.files.stagedBytes;
  }

  async listCached(options: ListCachedOptions): Promise<CachedEntry[]> {
    return this.catalog.listCached(options);
  }

  /** Blobs of the removed entry are unlinked once their current readers are done. */
  async evict(entry: CachedEntry): Promise<boolean> {
    const { removed, dead } = this.catalog.evict(entry);
    this.hot.forget(entry.bucket, entry.key);
    this.files.remove(dead);
    return removed;
  }

  /** The hot set's size and hits, for `status` and /metrics. */
  hotSetStats(): HotSetStats {
    return this.hot.stats();
  }

  // ---- integrity

  async markCorrupt(info: ObjectInfo): Promise<void> {
    this.hot.forget(info.bucket, info.key);
    this.checks.markCorrupt((this.catalog.getVersion(info)?.blobs ?? []).map((blob) => blob.id), Date.now());
  }

  async uncheckedFiles(info: ObjectInfo): Promise<number> {
    return this.checks.unchecked(this.catalog.getVersion(info)?.blobs ?? []).length;
  }

  /** Blobs are immutable: their CRCs are computed from the files as they are, and kept while they are referenced. */
  async recordChecks(info: ObjectInfo): Promise<number> {
    return this.checks.recordMissing(this.catalog.getVersion(info)?.blobs ?? [], (id) => this.files.computeCrcs(id));
  }
}

function requireWellFormedKey(key: string): void {
  if (!isWellFormedKey(key)) throw errors.invalidArgument("Object key is not valid UTF-8", "key", key);
}

function requireManifest(data: StagedData[], meta: NewObject): void {
  if (data.length > 0) throw new Error("a manifest (chunkSize set) is committed without staged data");
  if (meta.remote === undefined) throw new Error("a manifest (chunkSize set) needs meta.remote: its size is the remote object's");
  if (!Number.isSafeInteger(meta.chunkSize) || meta.chunkSize! <= 0) throw new Error(`invalid chunk size ${meta.chunkSize}`);
}

function requireNoChunkSize(meta: NewObject): void {
  if (meta.chunkSize !== undefined) throw new Error("only commitObject makes a manifest (chunkSize set)");
}

/** A stream that fails with `error` when first read (not before: nobody may be listening yet). */
function failingStream(error: Error): Readable {
  return new Readable({
    read() {
      this.destroy(error);
    },
  });
}
