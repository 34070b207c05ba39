// The engine: S3 semantics on top of a Store, with no knowledge of HTTP.
// Buckets must exist, multipart uploads are validated and assembled, listings
// are paged. The server calls it; it calls the store.
import { createHash } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import { S3Error, errors } from "../s3/errors.js";
import { Corruption } from "./corruption.js";
import type {
  BucketInfo, Checksum, ObjectInfo, NewObject, PartInfo, StagedData, Store, UploadInfo, ByteRange, ListUploadsOptions,
} from "../store/types.js";
import type { OverlaySettings } from "../config.js";
import { listPage, mergedSource, sortedSource, type ListSource, type Page, type PageRequest } from "./listing.js";
import { KeyedMutex, objectId } from "./mutex.js";
import { RecentCompletions } from "./completions.js";
import type { ChunkStats } from "./chunks.js";
import { DiskSpace, type DiskFullStats } from "./disk-space.js";
import { Overlay, type CacheStatus, type ObjectRead } from "./overlay.js";
import { AsOfRemote } from "./as-of.js";
import { pinnedRemote } from "./pinned.js";
import type { RemoteApi } from "./remote.js";

export type { ObjectRead };

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;

/** Decides the new object's metadata once its bytes are staged (digests are known only then). */
export type Describe = (staged: StagedData) => NewObject;
/** The byte range a read wants of an object, given its metadata; undefined for all of it. */
export type RangeOf = (info: ObjectInfo) => ByteRange | undefined;
/** Throws if the write must not happen given the current object (conditional writes). */
export type Precondition = (current: ObjectInfo | undefined) => void;

/** A part the client names in CompleteMultipartUpload (ETag without quotes). */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export interface DeleteOutcome {
  key: string;
  error?: S3Error;
}

export interface EngineOptions extends OverlaySettings {
  /** where miss-fills spool remote bytes before they are committed (same filesystem as the store) */
  spoolDir: string;
  /** region of buckets the overlay creates on first mirror */
  region: string;
}

/** Live counters of a running engine (status --server). */
export interface EngineCounters extends DiskFullStats {
  /** GETs answered from the store */
  hits: number;
  /** GETs filled from the remote */
  misses: number;
  /** GETs passed through with caching off */
  passes: number;
  /** bytes of whole objects filled from the remote */
  filledBytes: number;
  /** GETs that joined a fill already running for the same object */
  coalesced: number;
  /** reads of whole stored objects that found their bytes corrupt (mirrors dropped, client writes marked) */
  corruptObjects: number;
  chunks: ChunkStats;
}

export class Engine {
  private readonly keyLocks = new KeyedMutex();
  private readonly completions = new RecentCompletions();
  /** undefined in local mode (no remote configured); public for the cache commands (warm) */
  readonly overlay: Overlay | undefined;
  private readonly reads = { hits: 0, misses: 0, passes: 0 };
  /** what happens when stored bytes fail their check (reads and verify) */
  readonly corruption: Corruption;
  /** free space of the data dir (the spool dir's parent, which exists in local mode too) */
  private readonly space: DiskSpace;

  private constructor(readonly store: Store, readonly options: EngineOptions, remote: RemoteApi | undefined) {
    this.corruption = new Corruption(store);
    this.space = new DiskSpace(path.dirname(options.spoolDir));
    if (remote) {
      this.overlay = new Overlay(remote, store, options, options.spoolDir, this.keyLocks, options.region, this.space);
    }
  }

  /** `remote`: a stand-in for the configured remote (unit tests); by default the one options.remote describes, if any. */
  static async create(store: Store, options: EngineOptions, remote?: RemoteApi): Promise<Engine> {
    // the real remote loads the AWS SDK (about 2 s of imports): only when a remote is configured
    const real = !remote && options.remote ? new (await import("./remote.js")).Remote(options.remote) : undefined;
    const base = remote ?? real;
    const asOf = base && options.remoteAsOf ? new AsOfRemote(base, options.remoteAsOf) : base;
    const engine = new Engine(store, options, await pinnedRemote(store, options, asOf));
    await engine.overlay?.start();
    return engine;
  }

  get remote(): RemoteApi | undefined {
    return this.overlay?.remote;
  }

  /** The overlay, for a bucket that overlays the remote; undefined for a local-only bucket. */
  overlayFor(bucket: string): Overlay | undefined {
    return this.overlay?.remote.overlays(bucket) ? this.overlay : undefined;
  }

  /** Local buckets, plus the mapped remote ones (they exist in the overlay before anything is cached). */
  async listBuckets(): Promise<BucketInfo[]> {
    const local = await this.store.listBuckets();
    if (!this.overlay) return local;
    const names = new Set(local.map((bucket) => bucket.name));
    const mapped = this.overlay.remote.mappedBuckets().filter((name) => !names.has(name))
      .map((name) => ({ name, createdAt: new Date(0), region: this.options.region }));
    return [...local, ...mapped].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async createBucket(name: string, region: string): Promise<void> {
    const created = await this.store.createBucket(name, region);
    // AWS answers 200 for a bucket you already own only in us-east-1
    if (!created && region !== "us-east-1") {
      throw new S3Error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", { BucketName: name });
    }
  }

  /** A bucket the remote has exists in the overlay too: it is created locally on first use. */
  async requireBucket(name: string): Promise<BucketInfo> {
    const bucket = await this.store.getBucket(name);
    if (bucket) return bucket;
    const overlay = this.overlayFor(name);
    if (overlay && (await overlay.remoteBucketExists(name))) {
      await this.store.createBucket(name, this.options.region);
      const created = await this.store.getBucket(name);
      if (created) return created;
    }
    throw errors.noSuchBucket(name);
  }

  deleteBucket(name: string): Promise<void> {
    return this.store.deleteBucket(name);
  }

  /**
   * Metadata for HEAD. Read order: tombstone, local object, negative cache,
   * remote. A remote answer downloads no body. `cache` is undefined in local mode.
   */
  async statObject(bucket: string, key: string): Promise<{ info: ObjectInfo; cache?: CacheStatus }> {
    const info = await this.localObject(bucket, key);
    const overlay = this.overlayFor(bucket);
    if (info) return { info, cache: overlay && "hit" };
    if (overlay && !(await this.store.hasTombstone(bucket, key))) {
      await this.requireBucket(bucket);
      const remote = await overlay.head(bucket, key);
      if (remote) return { info: remote, cache: this.options.cacheEnabled ? "miss" : "pass" };
    }
    await this.requireBucket(bucket);
    throw errors.noSuchKey(key);
  }

  /**
   * An object for GET: a local hit never contacts the remote; a miss streams
   * from it while filling the store. `rangeOf`: the part the client wants, once
   * the size is known (it decides hit or miss of a chunked object); undefined
   * for the whole object.
   */
  async getObject(bucket: string, key: string, rangeOf?: RangeOf): Promise<ObjectRead> {
    const read = await this.findObject(bucket, key, rangeOf);
    if (read.cache === "hit") this.reads.hits++;
    else if (read.cache === "miss") this.reads.misses++;
    else if (read.cache === "pass") this.reads.passes++;
    return read;
  }

  counters(): EngineCounters {
    const overlay = this.overlay?.counters ?? { filledBytes: 0, coalesced: 0 };
    const chunks = this.overlay?.chunks.stats ?? { fetched: 0, fetchedBytes: 0, hits: 0, corrupt: 0, coalesced: 0 };
    return { ...this.reads, ...overlay, ...this.space.stats, corruptObjects: this.corruption.found, chunks: { ...chunks } };
  }

  /**
   * Removes a client-written object (evict --client-writes) if it is still the
   * version with this ETag, so the remote's version shows through again.
   */
  async dropClientWrite(bucket: string, key: string, etag: string): Promise<boolean> {
    const dropped = await this.keyLocks.run(objectId(bucket, key), async () => {
      const current = await this.store.headObject(bucket, key);
      if (current?.origin !== "local" || current.etag !== etag) return false;
      return this.store.deleteObject(bucket, key);
    });
    await this.overlay?.forget(bucket, key);
    return dropped;
  }

  private async findObject(bucket: string, key: string, rangeOf: RangeOf | undefined): Promise<ObjectRead> {
    const info = await this.localObject(bucket, key);
    const overlay = this.overlayFor(bucket);
    if (info?.chunkSize !== undefined && overlay) {
      // a bad range is the caller's to report, after the conditions: label the whole object then
      let range: ByteRange | undefined;
      try {
        range = rangeOf?.(info);
      } catch {}
      const wanted = range ?? { start: 0, end: info.size - 1 };
      return overlay.readChunked(info, (await overlay.chunks.isCached(info, wanted)) ? "hit" : "miss");
    }
    if (info?.chunkSize !== undefined) {
      throw new S3Error("ServiceUnavailable", `${bucket}/${key} is cached in chunks from a remote, and bucket ${bucket} no longer overlays one`);
    }
    if (info) return { info, cache: overlay && "hit", open: (range) => this.corruption.watch(info, this.store.readObject(info, range)) };
    if (overlay && !(await this.store.hasTombstone(bucket, key))) {
      await this.requireBucket(bucket);
      const found = await overlay.get(bucket, key, rangeOf !== undefined);
      if (found) return found;
    }
    await this.requireBucket(bucket);
    throw errors.noSuchKey(key);
  }


  /**
   * Throws XMinioStorageFull (507) if `size` bytes cannot be written now. Called
   * before a request body is read: a client that waits for "100 Continue" then never sends it.
   * An unknown size (Transfer-Encoding: chunked) is checked against the margin only.
   */
  async requireRoom(size: number | undefined): Promise<void> {
    await this.space.write(size, async () => undefined);
  }

  /** `size`: the length the client declared, checked against the free space (again) before any byte is staged. */
  async putObject(bucket: string, key: string, body: Readable, describe: Describe, precondition?: Precondition, size?: number): Promise<ObjectInfo> {
    await this.requireBucket(bucket);
    return this.stageWithin(size, body, (staged) => {
      const meta = describe(staged);
      return this.commitChecked(bucket, key, precondition, () => this.store.commitObject(bucket, key, [staged], meta));
    });
  }

  /**
   * A local source shares its bytes with the copy; a source that exists only on
   * the remote is streamed (its miss also mirrors it) and the copy gets its own bytes.
   */
  async copyObject(source: ObjectRead, bucket: string, key: string, meta: NewObject, precondition?: Precondition): Promise<ObjectInfo> {
    await this.requireBucket(bucket);
    // a chunked manifest has no bytes of its own to share
    if ((source.cache === undefined || source.cache === "hit") && source.info.chunkSize === undefined) {
      return this.commitChecked(bucket, key, precondition, () => this.store.copyObject(source.info, bucket, key, meta));
    }
    return this.stageWithin(source.info.size, source.open(), (staged) =>
      this.commitChecked(bucket, key, precondition, () => this.store.commitObject(bucket, key, [staged], meta)));
  }

  /** S3 answers success for a key that does not exist. With a remote, the delete sticks (tombstone). */
  async deleteObject(bucket: string, key: string): Promise<void> {
    await this.requireBucket(bucket);
    await this.deleteSticky(bucket, key);
  }

  async deleteObjects(bucket: string, keys: string[]): Promise<DeleteOutcome[]> {
    await this.requireBucket(bucket);
    const outcomes: DeleteOutcome[] = [];
    for (const key of keys) {
      try {
        await this.deleteSticky(bucket, key);
        outcomes.push({ key });
      } catch (error) {
        outcomes.push({ key, error: error instanceof S3Error ? error : errors.internal() });
      }
    }
    return outcomes;
  }

  async listObjects(bucket: string, request: PageRequest): Promise<Page<ObjectInfo>> {
    await this.requireBucket(bucket);
    const prefix = request.prefix;
    const local = sortedSource((after, limit) => this.store.listObjects(bucket, { prefix, startAfter: after, limit }), (info) => info.key);
    const overlay = this.overlayFor(bucket);
    if (!overlay) return listPage(local, request);
    const remote: ListSource<ObjectInfo> = sortedSource(async (after, limit) => {
      const objects = await overlay.remote.list(bucket, { prefix, startAfter: after, limit });
      return objects.map((object) => overlay.listedInfo(bucket, object));
    }, (info) => info.key);
    const hidden = async (keys: string[]) => {
      const gone = new Set<string>();
      for (const key of keys) if (await this.store.hasTombstone(bucket, key)) gone.add(key);
      return gone;
    };
    return listPage(mergedSource(local, remote, hidden), request);
  }

  /** Deletes the local object; with a remote, a tombstone keeps the remote's copy hidden. */
  private deleteSticky(bucket: string, key: string): Promise<void> {
    return this.keyLocks.run(objectId(bucket, key), async () => {
      await this.store.deleteObject(bucket, key);
      if (this.overlayFor(bucket)) await this.store.putTombstone(bucket, key);
    });
  }

  /** The store's object, unless it is a mirror too old to trust (S3_OVERLAY_REVALIDATE) that the remote changed. */
  private async localObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    const info = await this.store.headObject(bucket, key);
    const overlay = this.overlayFor(bucket);
    if (!info || !overlay?.isStale(info)) return info;
    return overlay.revalidate(info);
  }

  // ---------------------------------------------------------------- multipart

  async createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> {
    await this.requireBucket(bucket);
    return this.store.createUpload(bucket, key, meta);
  }

  async requireUpload(bucket: string, key: string, uploadId: string): Promise<UploadInfo> {
    const upload = await this.store.getUpload(bucket, uploadId);
    if (!upload || upload.key !== key) {
      await this.requireBucket(bucket);
      throw errors.noSuchUpload(uploadId);
    }
    return upload;
  }

  async uploadPart(
    bucket: string, key: string, uploadId: string, partNumber: number, body: Readable,
    describe: (staged: StagedData) => { etag: string; checksum?: Checksum }, size?: number,
  ): Promise<PartInfo> {
    checkPartNumber(partNumber);
    await this.requireUpload(bucket, key, uploadId);
    // one part number commits at a time, in the order the bodies finished, so the last to finish is the part
    // (an S3 tier takes the part, then its marker: two interleaved commits could pair one's bytes with the other's ETag)
    return this.stageWithin(size, body, (staged) =>
      this.keyLocks.run(`${uploadId}\npart ${partNumber}`, () => this.store.putPart(uploadId, partNumber, staged, describe(staged))));
  }

  async listParts(bucket: string, key: string, uploadId: string): Promise<{ upload: UploadInfo; parts: PartInfo[] }> {
    const upload = await this.requireUpload(bucket, key, uploadId);
    return { upload, parts: await this.store.listParts(uploadId) };
  }

  async listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> {
    await this.requireBucket(bucket);
    return this.store.listUploads(bucket, options);
  }

  async abortUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.requireUpload(bucket, key, uploadId);
    await this.store.abortUpload(uploadId);
  }

  /**
   * Validates the client's part list against the stored parts as S3 does and makes
   * the object. The ETag is the MD5 of the parts' binary MD5s, then "-N".
   */
  async completeUpload(
    bucket: string, key: string, uploadId: string, requested: CompletedPart[],
    describe: (assembled: { etag: string; partSizes: number[]; upload: UploadInfo; parts: PartInfo[] }) => NewObject,
    precondition?: Precondition,
  ): Promise<ObjectInfo> {
    try {
      const info = await this.completeOnce(bucket, key, uploadId, requested, describe, precondition);
      this.completions.remember(uploadId, bucket, key, requested, info);
      return info;
    } catch (error) {
      // a retry of a Complete that already succeeded gets that answer again, as from S3
      const earlier = error instanceof S3Error && error.code === "NoSuchUpload" ? this.completions.find(uploadId, bucket, key, requested) : undefined;
      if (earlier) return earlier;
      throw error;
    }
  }

  private async completeOnce(
    bucket: string, key: string, uploadId: string, requested: CompletedPart[],
    describe: (assembled: { etag: string; partSizes: number[]; upload: UploadInfo; parts: PartInfo[] }) => NewObject,
    precondition?: Precondition,
  ): Promise<ObjectInfo> {
    const upload = await this.requireUpload(bucket, key, uploadId);
    if (requested.length === 0) {
      throw new S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
    }
    const stored = new Map((await this.store.listParts(uploadId)).map((part) => [part.partNumber, part]));
    const chosen: PartInfo[] = [];
    let previous = 0;
    for (const [index, want] of requested.entries()) {
      if (want.partNumber <= previous) {
        throw new S3Error("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
      }
      previous = want.partNumber;
      const part = stored.get(want.partNumber);
      // the XML parser already took the quotes off
      if (!part || want.etag !== part.etag) {
        throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.", { PartNumber: String(want.partNumber), ETag: want.etag });
      }
      if (index < requested.length - 1 && part.size < MIN_PART_SIZE) {
        throw new S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", { ProposedSize: String(part.size), MinSizeAllowed: String(MIN_PART_SIZE), PartNumber: String(part.partNumber), ETag: part.etag });
      }
      chosen.push(part);
    }
    const md5 = createHash("md5");
    for (const part of chosen) md5.update(Buffer.from(part.etag, "hex"));
    const etag = `${md5.digest("hex")}-${chosen.length}`;
    const meta = describe({ etag, partSizes: chosen.map((part) => part.size), upload, parts: chosen });
    return this.commitChecked(bucket, key, precondition, () => this.store.completeUpload(uploadId, chosen.map((part) => part.partNumber), meta));
  }

  /**
   * Stages `body` with `size` bytes of disk reserved and hands it to `use`, which
   * must use it up; discarded if `use` fails. A full disk is 507; a body not taken
   * is destroyed (the server deals with the rest of the request).
   */
  private async stageWithin<T>(size: number | undefined, body: Readable, use: (staged: StagedData) => Promise<T>): Promise<T> {
    try {
      return await this.space.write(size, async () => {
        const staged = await this.store.stage(body);
        try {
          return await use(staged);
        } catch (error) {
          await staged.discard();
          throw error;
        }
      });
    } catch (error) {
      body.destroy();
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.overlay?.remote.close();
    await this.store.close();
  }

  /**
   * Every client write of a key goes through its lock, so a miss-fill finishing
   * at the same moment cannot overwrite it; the precondition sees the current object.
   */
  private async commitChecked(bucket: string, key: string, precondition: Precondition | undefined, commit: () => Promise<ObjectInfo>): Promise<ObjectInfo> {
    const info = await this.keyLocks.run(objectId(bucket, key), async () => {
      precondition?.(await this.store.headObject(bucket, key));
      return commit();
    });
    // no forgetAbsent here: a local object is read before the negative cache, a tombstone after a delete
    return info;
  }
}

export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw errors.invalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", String(partNumber));
  }
}
