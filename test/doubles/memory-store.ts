// A Store that keeps everything in memory: the test double behind the engine's
// unit tests. It runs the same store contract as the real drivers
// (test/store/memory-store.test.ts), so a test passing on it says something
// about the engine on them. Test-only: nothing in the product needs a store that
// forgets everything on exit, so it is not in src/.
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { S3Error, errors } from "../../src/s3/errors.js";
import { describeObject } from "../../src/store/object-info.js";
import { compareKeys, isWellFormedKey } from "../../src/store/fs/key-order.js";
import type {
  BucketInfo, BucketUsage, ByteRange, CachedEntry, Checksum, ChunkInfo, ChunkKey, ChunkVersion, ListCachedOptions, ListOptions,
  ListUploadsOptions, NewObject, ObjectInfo, PartInfo, StagedData, Store, UploadInfo, UsageOptions,
} from "../../src/store/types.js";

interface StoredChunk {
  info: ChunkInfo;
  bytes: Buffer;
}

interface StoredObject {
  info: ObjectInfo;
  bytes: Buffer;
  lastAccess: Date;
  corrupt: boolean;
  /** by chunkSize/etag/index; only while this object is their manifest */
  chunks: Map<string, StoredChunk>;
}

interface Bucket {
  info: BucketInfo;
  objects: Map<string, StoredObject>;
  tombstones: Set<string>;
  absent: Map<string, Date>;
}

interface Upload {
  info: UploadInfo;
  parts: Map<number, { info: PartInfo; bytes: Buffer }>;
}

class MemoryStaged implements StagedData {
  state: "staged" | "used" | "discarded" = "staged";
  constructor(readonly owner: MemoryStore, readonly bytes: Buffer) {}
  get size(): number {
    return this.bytes.length;
  }
  async discard(): Promise<void> {
    if (this.state === "staged") this.state = "discarded";
  }
}

/** Calls made on the store, by method name: what a test asserts about store traffic. */
export type StoreCalls = Record<string, number>;

export class MemoryStore implements Store {
  readonly calls: StoreCalls = {};
  private readonly buckets = new Map<string, Bucket>();
  private readonly uploads = new Map<string, Upload>();
  private closed = false;

  // ---- buckets

  async listBuckets(): Promise<BucketInfo[]> {
    return [...this.buckets.values()].map((bucket) => ({ ...bucket.info })).sort((a, b) => compareKeys(a.name, b.name));
  }

  async getBucket(name: string): Promise<BucketInfo | undefined> {
    const bucket = this.buckets.get(name);
    return bucket && { ...bucket.info };
  }

  async createBucket(name: string, region: string): Promise<boolean> {
    this.open();
    if (this.buckets.has(name)) return false;
    this.buckets.set(name, { info: { name, createdAt: new Date(), region }, objects: new Map(), tombstones: new Set(), absent: new Map() });
    return true;
  }

  async deleteBucket(name: string): Promise<void> {
    const bucket = this.bucket(name);
    if (bucket.objects.size > 0 || [...this.uploads.values()].some((upload) => upload.info.bucket === name)) {
      throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: name });
    }
    this.buckets.delete(name);
  }

  // ---- objects

  async headObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    this.count("headObject");
    const stored = this.buckets.get(bucket)?.objects.get(key);
    return stored && copyInfo(stored.info);
  }

  readObject(info: ObjectInfo, range?: ByteRange): Readable {
    this.count("readObject");
    if (info.chunkSize !== undefined) throw new Error(`${info.bucket}/${info.key} is a chunked manifest: read its chunks instead`);
    const stored = this.version(info);
    if (!stored) return failing(errors.noSuchKey(info.key));
    if (stored.corrupt) throw new S3Error("InternalError", `The stored bytes of ${info.bucket}/${info.key} are corrupt`);
    stored.lastAccess = new Date();
    return Readable.from([slice(stored.bytes, range)], { objectMode: false });
  }

  async stage(body: Readable): Promise<StagedData> {
    const parts: Buffer[] = [];
    for await (const data of body) parts.push(Buffer.from(data as Buffer));
    return new MemoryStaged(this, Buffer.concat(parts));
  }

  async adoptFile(path: string): Promise<StagedData> {
    const bytes = await readFile(path);
    await rm(path, { force: true });
    return new MemoryStaged(this, bytes);
  }

  async commitObject(bucket: string, key: string, data: StagedData[], meta: NewObject): Promise<ObjectInfo> {
    this.count("commitObject");
    requireKey(key);
    const target = this.bucket(bucket);
    if (meta.chunkSize !== undefined) {
      if (data.length > 0) throw new Error("a manifest (chunkSize set) is committed without staged data");
      if (meta.remote === undefined) throw new Error("a manifest (chunkSize set) needs meta.remote");
    }
    const bytes = Buffer.concat(this.take(data).map((part) => part.bytes));
    const size = meta.chunkSize === undefined ? bytes.length : meta.remote!.size;
    const info = describeObject(bucket, key, size, meta);
    const previous = target.objects.get(key);
    // the same manifest again (a revalidation) keeps its chunks
    const sameManifest = previous !== undefined && info.chunkSize !== undefined && previous.info.chunkSize === info.chunkSize
      && previous.info.etag === info.etag && previous.info.size === info.size;
    this.put(target, info, bytes, sameManifest ? previous.chunks : new Map());
    return copyInfo(info);
  }

  async copyObject(source: ObjectInfo, bucket: string, key: string, meta: NewObject): Promise<ObjectInfo> {
    requireKey(key);
    if (meta.chunkSize !== undefined) throw new Error("only commitObject makes a manifest (chunkSize set)");
    const stored = this.version(source);
    if (!stored || stored.info.chunkSize !== undefined) throw errors.noSuchKey(source.key);
    const info = describeObject(bucket, key, source.size, meta);
    this.put(this.bucket(bucket), info, stored.bytes, new Map());
    return copyInfo(info);
  }

  async deleteObject(bucket: string, key: string): Promise<boolean> {
    this.count("deleteObject");
    return this.buckets.get(bucket)?.objects.delete(key) ?? false;
  }

  async listObjects(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    this.count("listObjects");
    return this.sortedObjects(bucket, options, () => true);
  }

  async listClientWrites(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    return this.sortedObjects(bucket, options, (info) => info.origin === "local");
  }

  // ---- multipart uploads

  async createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> {
    requireKey(key);
    this.bucket(bucket);
    const info: UploadInfo = { uploadId: randomBytes(12).toString("base64url"), bucket, key, initiated: new Date(), headers: { ...meta.headers }, userMetadata: { ...meta.userMetadata } };
    if (meta.checksumAlgorithm !== undefined) info.checksumAlgorithm = meta.checksumAlgorithm;
    if (meta.checksumType !== undefined) info.checksumType = meta.checksumType;
    this.uploads.set(info.uploadId, { info, parts: new Map() });
    return { ...info };
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadInfo | undefined> {
    const upload = this.uploads.get(uploadId);
    return upload?.info.bucket === bucket ? { ...upload.info } : undefined;
  }

  async putPart(uploadId: string, partNumber: number, data: StagedData, meta: { etag: string; checksum?: Checksum }): Promise<PartInfo> {
    const upload = this.upload(uploadId);
    const [staged] = this.take([data]);
    const info: PartInfo = { partNumber, size: staged!.size, etag: meta.etag, lastModified: new Date() };
    if (meta.checksum !== undefined) info.checksum = { ...meta.checksum };
    upload.parts.set(partNumber, { info, bytes: staged!.bytes });
    return { ...info };
  }

  async listParts(uploadId: string): Promise<PartInfo[]> {
    return [...this.upload(uploadId).parts.values()].map((part) => ({ ...part.info })).sort((a, b) => a.partNumber - b.partNumber);
  }

  async listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> {
    const marker = options.uploadIdMarker === undefined ? undefined : this.uploads.get(options.uploadIdMarker)?.info;
    const order = (a: UploadInfo, b: UploadInfo) =>
      compareKeys(a.key, b.key) || a.initiated.getTime() - b.initiated.getTime() || compareKeys(a.uploadId, b.uploadId);
    return [...this.uploads.values()].map((upload) => upload.info)
      .filter((info) => info.bucket === bucket && info.key.startsWith(options.prefix ?? ""))
      .filter((info) => {
        if (options.keyMarker === undefined) return true;
        if (marker?.key === options.keyMarker) return order(info, marker) > 0;
        return compareKeys(info.key, options.keyMarker) > 0;
      })
      .sort(order).slice(0, options.limit).map((info) => ({ ...info }));
  }

  async completeUpload(uploadId: string, partNumbers: number[], meta: NewObject): Promise<ObjectInfo> {
    const upload = this.upload(uploadId);
    const chosen = partNumbers.map((partNumber) => {
      const part = upload.parts.get(partNumber);
      if (!part) throw new S3Error("InvalidPart", "One or more of the specified parts could not be found.", { UploadId: uploadId, PartNumber: String(partNumber) });
      return part;
    });
    const bytes = Buffer.concat(chosen.map((part) => part.bytes));
    const info = describeObject(upload.info.bucket, upload.info.key, bytes.length, { ...meta, partSizes: meta.partSizes ?? chosen.map((part) => part.bytes.length) });
    this.uploads.delete(uploadId);
    this.put(this.bucket(info.bucket), info, bytes, new Map());
    return copyInfo(info);
  }

  async abortUpload(uploadId: string): Promise<void> {
    this.upload(uploadId);
    this.uploads.delete(uploadId);
  }

  // ---- chunks

  async putChunk(chunk: ChunkKey, data: StagedData, crc32: string): Promise<boolean> {
    this.count("putChunk");
    const [staged] = this.take([data]);
    const manifest = this.buckets.get(chunk.bucket)?.objects.get(chunk.key);
    if (!manifest || manifest.info.etag !== chunk.etag || manifest.info.chunkSize !== chunk.chunkSize) return false;
    const expected = Math.min(chunk.chunkSize, manifest.info.size - chunk.index * chunk.chunkSize);
    if (!Number.isSafeInteger(chunk.index) || chunk.index < 0 || expected <= 0 || staged!.size !== expected) {
      throw new Error(`chunk ${chunk.index} of ${chunk.bucket}/${chunk.key} cannot hold ${staged!.size} bytes`);
    }
    const now = new Date();
    const info: ChunkInfo = { ...chunkKeyOf(chunk), size: staged!.size, crc32, lastAccess: now };
    manifest.chunks.set(chunkId(chunk), { info, bytes: staged!.bytes });
    manifest.lastAccess = now;
    return true;
  }

  async getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined> {
    this.count("getChunk");
    const stored = this.chunk(chunk);
    return stored && { ...stored.info };
  }

  readChunk(chunk: ChunkInfo, range?: ByteRange): Readable {
    this.count("readChunk");
    const stored = this.chunk(chunk);
    if (!stored || stored.info.size !== chunk.size || stored.info.crc32 !== chunk.crc32) return failing(errors.noSuchKey(chunk.key));
    stored.info.lastAccess = new Date();
    return Readable.from([slice(stored.bytes, range)], { objectMode: false });
  }

  async deleteChunk(chunk: ChunkKey): Promise<void> {
    this.buckets.get(chunk.bucket)?.objects.get(chunk.key)?.chunks.delete(chunkId(chunk));
  }

  async chunksIn(version: ChunkVersion, range: ByteRange): Promise<ChunkInfo[]> {
    this.count("chunksIn");
    const [first, last] = [Math.floor(range.start / version.chunkSize), Math.floor(range.end / version.chunkSize)];
    const chunks = [...(this.buckets.get(version.bucket)?.objects.get(version.key)?.chunks.values() ?? [])].map((chunk) => chunk.info)
      .filter((chunk) => chunk.etag === version.etag && chunk.chunkSize === version.chunkSize && chunk.index >= first && chunk.index <= last);
    return chunks.map((chunk) => ({ ...chunk })).sort((a, b) => a.index - b.index);
  }

  async listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]> {
    this.count("listChunks");
    const chunks = [...(this.buckets.get(bucket)?.objects.get(key)?.chunks.values() ?? [])];
    return chunks.filter((chunk) => chunk.info.etag === etag).map((chunk) => ({ ...chunk.info })).sort((a, b) => a.index - b.index);
  }

  // ---- overlay markers

  async putTombstone(bucket: string, key: string): Promise<void> {
    requireKey(key);
    this.bucket(bucket).tombstones.add(key);
  }

  async hasTombstone(bucket: string, key: string): Promise<boolean> {
    this.count("hasTombstone");
    return this.buckets.get(bucket)?.tombstones.has(key) ?? false;
  }

  async listTombstones(bucket: string, options: ListOptions): Promise<string[]> {
    return inRange([...(this.buckets.get(bucket)?.tombstones ?? [])], options);
  }

  async deleteTombstone(bucket: string, key: string): Promise<boolean> {
    return this.buckets.get(bucket)?.tombstones.delete(key) ?? false;
  }

  async rememberAbsent(bucket: string, key: string, until: Date): Promise<void> {
    this.buckets.get(bucket)?.absent.set(key, until);
  }

  async absentUntil(bucket: string, key: string): Promise<Date | undefined> {
    const until = this.buckets.get(bucket)?.absent.get(key);
    return until && until.getTime() > Date.now() ? until : undefined;
  }

  async forgetAbsent(bucket: string, key: string): Promise<void> {
    this.buckets.get(bucket)?.absent.delete(key);
  }

  // ---- accounting

  async usage(options: UsageOptions): Promise<BucketUsage[]> {
    const result: BucketUsage[] = [];
    for (const bucket of await this.listBuckets()) {
      if (options.bucket !== undefined && bucket.name !== options.bucket) continue;
      const { objects, tombstones } = this.buckets.get(bucket.name)!;
      const usage: BucketUsage = {
        bucket: bucket.name, mirroredObjects: 0, mirroredBytes: 0, chunkedObjects: 0, chunkedBytes: 0,
        chunksCached: 0, chunksTotal: 0, chunkBytes: 0, localObjects: 0, localBytes: 0, tombstones: 0,
      };
      const inScope = (key: string) => key.startsWith(options.prefix ?? "");
      for (const { info, chunks } of objects.values()) {
        if (!inScope(info.key)) continue;
        if (info.origin === "local") {
          usage.localObjects++;
          usage.localBytes += info.size;
        } else if (info.chunkSize === undefined) {
          usage.mirroredObjects++;
          usage.mirroredBytes += info.size;
        } else {
          usage.chunkedObjects++;
          usage.chunkedBytes += info.size;
          usage.chunksTotal += Math.ceil(info.size / info.chunkSize);
          usage.chunksCached += chunks.size;
          for (const chunk of chunks.values()) usage.chunkBytes += chunk.info.size;
        }
      }
      usage.tombstones = [...tombstones].filter(inScope).length;
      result.push(usage);
    }
    return result;
  }

  async diskUsage(): Promise<number> {
    let bytes = 0;
    for (const bucket of this.buckets.values()) {
      for (const object of bucket.objects.values()) {
        bytes += object.bytes.length;
        for (const chunk of object.chunks.values()) bytes += chunk.bytes.length;
      }
    }
    for (const upload of this.uploads.values()) for (const part of upload.parts.values()) bytes += part.bytes.length;
    return bytes;
  }

  async listCached(options: ListCachedOptions): Promise<CachedEntry[]> {
    const entries: CachedEntry[] = [];
    for (const [name, bucket] of this.buckets) {
      if (options.bucket !== undefined && name !== options.bucket) continue;
      for (const { info, lastAccess, chunks } of bucket.objects.values()) {
        if (info.origin !== "remote" || !info.key.startsWith(options.prefix ?? "")) continue;
        const base = { bucket: name, key: info.key, etag: info.etag };
        if (info.chunkSize === undefined) {
          entries.push({ ...base, kind: "object", size: info.size, lastAccess });
          continue;
        }
        const chunkBytes = [...chunks.values()].reduce((sum, chunk) => sum + chunk.info.size, 0);
        entries.push({ ...base, kind: "manifest", size: chunkBytes, lastAccess, chunkSize: info.chunkSize });
        for (const { info: chunk } of chunks.values()) {
          entries.push({ ...base, kind: "chunk", size: chunk.size, lastAccess: chunk.lastAccess, chunkSize: chunk.chunkSize, index: chunk.index });
        }
      }
    }
    const before = options.accessedBefore?.getTime();
    return entries.filter((entry) => before === undefined || entry.lastAccess.getTime() < before)
      .sort((a, b) => a.lastAccess.getTime() - b.lastAccess.getTime()).slice(0, options.limit)
      .map((entry) => ({ ...entry, lastAccess: new Date(entry.lastAccess) }));
  }

  async evict(entry: CachedEntry): Promise<boolean> {
    const bucket = this.buckets.get(entry.bucket);
    const stored = bucket?.objects.get(entry.key);
    if (!stored || stored.info.origin !== "remote" || stored.info.etag !== entry.etag) return false;
    if (entry.kind === "chunk") {
      return stored.chunks.delete(chunkId({ ...entry, chunkSize: entry.chunkSize!, index: entry.index! }));
    }
    if ((entry.kind === "manifest") !== (stored.info.chunkSize !== undefined)) return false;
    return bucket!.objects.delete(entry.key);
  }

  // ---- integrity

  async markCorrupt(info: ObjectInfo): Promise<void> {
    const stored = this.version(info);
    if (stored) stored.corrupt = true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** For tests: flips a byte of a stored chunk, as a bad disk would (its recorded checksums stay). */
  corruptChunk(chunk: ChunkKey): void {
    const stored = this.chunk(chunk);
    if (!stored) throw new Error(`no chunk ${chunk.index} of ${chunk.bucket}/${chunk.key}`);
    stored.bytes = Buffer.from(stored.bytes);
    stored.bytes[0]! ^= 0xff;
  }

  // ---- helpers

  private count(method: string): void {
    this.calls[method] = (this.calls[method] ?? 0) + 1;
  }

  private open(): void {
    if (this.closed) throw new Error("the store is closed");
  }

  private bucket(name: string): Bucket {
    this.open();
    const bucket = this.buckets.get(name);
    if (!bucket) throw errors.noSuchBucket(name);
    return bucket;
  }

  private upload(uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload) throw errors.noSuchUpload(uploadId);
    return upload;
  }

  /** The stored object if it is still the version `info` describes (ETag, size, Last-Modified, chunk size). */
  private version(info: ObjectInfo): StoredObject | undefined {
    const stored = this.buckets.get(info.bucket)?.objects.get(info.key);
    const same = stored !== undefined && stored.info.etag === info.etag && stored.info.size === info.size
      && stored.info.lastModified.getTime() === info.lastModified.getTime() && stored.info.chunkSize === info.chunkSize;
    return same ? stored : undefined;
  }

  private chunk(chunk: ChunkKey): StoredChunk | undefined {
    return this.buckets.get(chunk.bucket)?.objects.get(chunk.key)?.chunks.get(chunkId(chunk));
  }

  /** A client write clears the key's tombstone; a mirror fill does not. */
  private put(bucket: Bucket, info: ObjectInfo, bytes: Buffer, chunks: Map<string, StoredChunk>): void {
    bucket.objects.set(info.key, { info, bytes, lastAccess: new Date(), corrupt: false, chunks });
    if (info.origin === "local") bucket.tombstones.delete(info.key);
  }

  /** Claims staged data of this store; all are checked before any is claimed. */
  private take(data: StagedData[]): MemoryStaged[] {
    for (const part of data) {
      if (!(part instanceof MemoryStaged) || part.owner !== this) throw new Error("staged data belongs to another store");
      if (part.state !== "staged") throw new Error(`staged data was already ${part.state === "used" ? "committed" : "discarded"}`);
    }
    const staged = data as MemoryStaged[];
    for (const part of staged) part.state = "used";
    return staged;
  }

  private sortedObjects(bucket: string, options: ListOptions, wanted: (info: ObjectInfo) => boolean): ObjectInfo[] {
    const objects = this.buckets.get(bucket)?.objects ?? new Map<string, StoredObject>();
    const keys = inRange([...objects.keys()].filter((key) => wanted(objects.get(key)!.info)), options);
    return keys.map((key) => copyInfo(objects.get(key)!.info));
  }
}

/** Keys under the prefix after startAfter, in UTF-8 byte order, at most `limit`. */
function inRange(keys: string[], options: ListOptions): string[] {
  return keys.filter((key) => key.startsWith(options.prefix ?? "") && (options.startAfter === undefined || compareKeys(key, options.startAfter) > 0))
    .sort(compareKeys).slice(0, options.limit);
}

function requireKey(key: string): void {
  if (!isWellFormedKey(key)) throw errors.invalidArgument("Object key is not valid UTF-8", "key", key);
}

function copyInfo(info: ObjectInfo): ObjectInfo {
  return describeObject(info.bucket, info.key, info.size, info, info.lastModified);
}

function chunkKeyOf({ bucket, key, etag, chunkSize, index }: ChunkKey): ChunkKey {
  return { bucket, key, etag, chunkSize, index };
}

function chunkId(chunk: ChunkKey): string {
  return `${chunk.etag}\n${chunk.chunkSize}\n${chunk.index}`;
}

function slice(bytes: Buffer, range: ByteRange | undefined): Buffer {
  return range === undefined ? bytes : bytes.subarray(range.start, Math.min(range.end, bytes.length - 1) + 1);
}

/** A stream that fails with `error` when first read (not before: nobody may be listening yet). */
function failing(error: Error): Readable {
  return new Readable({
    read() {
      this.destroy(error);
    },
  });
}
