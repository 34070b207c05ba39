// The engine: S3 semantics on top of a Store, with no knowledge of HTTP.
// Buckets must exist, multipart uploads are validated and assembled, listings
// are paged. The server calls it; it calls the store.
import path from "node:path";
import type { Readable } from "node:stream";
import { S3Error, errors } from "../s3/errors.js";
import { Corruption } from "./corruption.js";
import type {
  BucketInfo, HotSetStats, ObjectInfo, NewObject, StagedData, Store,
} from "../store/types.js";
import type { OverlaySettings } from "../config.js";
import { listPage, mergedSource, sortedSource, type ListSource, type Page, type PageRequest } from "./listing.js";
import { KeyedMutex, objectId } from "./mutex.js";
import { Multipart, type Precondition } from "./multipart.js";
import type { ChunkStats } from "./chunks.js";
import { DiskSpace, type DiskFullStats } from "./disk-space.js";
import { Overlay, type CacheStatus, type ObjectRead, type OpenedRead } from "./overlay.js";
import { Reads, type LookupOptions, type ReadCounts } from "./reads.js";
import { AsOfRemote } from "./as-of.js";
import { pinnedRemote } from "./pinned.js";
import type { RemoteApi } from "./remote.js";

export type { LookupOptions, ObjectRead, OpenedRead };

/** Decides the new object's metadata once its bytes are staged (digests are known only then). */
export type Describe = (staged: StagedData) => NewObject;
export type { Precondition };

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
export interface EngineCounters extends DiskFullStats, ReadCounts {
  /** bytes of whole objects filled from the remote */
  filledBytes: number;
  /** GETs that joined a fill already running for the same object */
  coalesced: number;
  /** reads of whole stored objects that found their bytes corrupt (mirrors dropped, client writes marked) */
  corruptObjects: number;
  chunks: ChunkStats;
  /** the embedded store's in-memory hot set of small objects (absent on an S3 tier) */
  hotSet?: HotSetStats;
}

export class Engine {
  private readonly keyLocks = new KeyedMutex();
  /** undefined in local mode (no remote configured); public for the cache commands (warm) */
  readonly overlay: Overlay | undefined;
  /** the read policy: where HEAD and GET look, in what order */
  private readonly reads: Reads;
  /** what happens when stored bytes fail their check (reads and verify) */
  readonly corruption: Corruption;
  /** free space of the data dir (the spool dir's parent, which exists in local mode too) */
  private readonly space: DiskSpace;
  /** multipart uploads, validated and assembled as S3 does */
  readonly multipart: Multipart;

  private constructor(readonly store: Store, readonly options: EngineOptions, remote: RemoteApi | undefined) {
    this.corruption = new Corruption(store);
    this.space = new DiskSpace(path.dirname(options.spoolDir));
    this.multipart = new Multipart({
      store,
      keyLocks: this.keyLocks,
      requireBucket: (name) => this.requireBucket(name),
      stageWithin: (size, body, use) => this.stageWithin(size, body, use),
      commitChecked: (bucket, key, precondition, commit) => this.commitChecked(bucket, key, precondition, commit),
    });
    if (remote) {
      this.overlay = new Overlay(remote, store, options, options.spoolDir, this.keyLocks, options.region, this.space);
    }
    this.reads = new Reads(store, this.corruption, (bucket) => this.overlayFor(bucket), (bucket) => this.requireBucket(bucket));
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

  /** Metadata for HEAD (reads.ts: the read order). A remote answer downloads no body. `cache` is undefined in local mode. */
  statObject(bucket: string, key: string): Promise<{ info: ObjectInfo; cache?: CacheStatus }> {
    return this.reads.stat(bucket, key);
  }

  /**
   * An object for GET, step one: found (a local hit never contacts the remote; a
   * miss starts streaming from it), not yet opened. The caller decides the range,
   * then open(range) opens just that and tells hit or miss (X-Cache).
   */
  getObject(bucket: string, key: string, options?: LookupOptions): Promise<ObjectRead> {
    return this.reads.lookup(bucket, key, options);
  }

  counters(): EngineCounters {
    const overlay = this.overlay?.counters ?? { filledBytes: 0, coalesced: 0 };
    const chunks = this.overlay?.chunks.stats ?? { fetched: 0, fetchedBytes: 0, hits: 0, corrupt: 0, coalesced: 0 };
    const hotSet = this.store.hotSetStats?.();
    return { ...this.reads.counts, ...overlay, ...this.space.stats, corruptObjects: this.corruption.found, chunks: { ...chunks }, ...(hotSet && { hotSet }) };
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
    if (source.local && source.info.chunkSize === undefined) {
      return this.commitChecked(bucket, key, precondition, () => this.store.copyObject(source.info, bucket, key, meta));
    }
    return this.stageWithin(source.info.size, (await source.open()).body, (staged) =>
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
