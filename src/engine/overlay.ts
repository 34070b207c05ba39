// The remote side of the read path: what to do when the local store does not
// have an object. Remote 404s are remembered for a while (negative cache, kept
// in the store so that serves sharing a tier share it);
// concurrent misses of one object share one fill (single-flight).
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, pipeline, type Readable } from "node:stream";
import { finished } from "node:stream/promises";
import type { OverlaySettings } from "../config.js";
import type { ByteRange, ChunkStore, ObjectInfo, ObjectStore, OverlayMarkers } from "../store/types.js";
import { ChunkCache } from "./chunks.js";
import type { DiskSpace } from "./disk-space.js";
import { Fill } from "./fill.js";
import { KnownBuckets } from "./known-buckets.js";
import { objectId, type KeyedMutex } from "./mutex.js";
import { errors } from "../s3/errors.js";
import type { RemoteApi, RemoteObject } from "./remote.js";

export type CacheStatus = "hit" | "miss" | "pass";

/** An object found for a GET: its metadata, and how to open it (all of it, or the range the caller decided). */
export interface ObjectRead {
  info: ObjectInfo;
  /** found in the store (a whole object or a chunked manifest), not only on the remote */
  local: boolean;
  open(range?: ByteRange): Promise<OpenedRead>;
}

/** An opened read: its bytes, and where they come from (X-Cache; undefined in local mode). */
export interface OpenedRead {
  body: Readable;
  cache?: CacheStatus;
}

export class Overlay {
  readonly chunks: ChunkCache;
  /** for status: bytes of whole objects committed by fills, and GETs that joined a running fill */
  readonly counters = { filledBytes: 0, coalesced: 0 };
  private readonly fills = new Map<string, Fill>();
  private readonly knownBuckets: KnownBuckets;

  constructor(
    readonly remote: RemoteApi,
    private readonly store: ObjectStore & ChunkStore & OverlayMarkers,
    private readonly settings: OverlaySettings,
    private readonly spoolDir: string,
    private readonly keyLocks: KeyedMutex,
    private readonly region: string,
    private readonly space: DiskSpace,
  ) {
    this.chunks = new ChunkCache(store, remote, spoolDir, settings, space, (info) => this.dropChanged(info));
    this.knownBuckets = new KnownBuckets(settings.negativeTtlMs);
  }

  async start(): Promise<void> {
    // spool files of a previous run were never committed: they are garbage
    await rm(this.spoolDir, { recursive: true, force: true });
    await mkdir(this.spoolDir, { recursive: true });
  }

  /** Does the remote have this bucket? Answers are remembered (see KnownBuckets: bounded, a "no" expires). */
  async remoteBucketExists(bucket: string): Promise<boolean> {
    if (this.remote.mappedBuckets().includes(bucket)) return true;
    let known = this.knownBuckets.lookup(bucket);
    if (known === undefined) {
      known = await this.remote.bucketExists(bucket);
      this.knownBuckets.remember(bucket, known);
    }
    return known;
  }

  /** HEAD of an object the store does not have: remote metadata, no body download. */
  async head(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    if (await this.isKnownMissing(bucket, key)) return undefined;
    const object = await this.remote.head(bucket, key);
    if (!object) {
      await this.rememberMissing(bucket, key);
      return undefined;
    }
    return mirroredInfo(bucket, object);
  }

  /**
   * GET of an object the store does not have: streams from the remote, filling
   * the store on the way. A ranged read asks for the size first (HEAD), so a
   * range in a large object fetches only the chunks it touches.
   */
  async get(bucket: string, key: string, ranged: boolean): Promise<ObjectRead | undefined> {
    if (await this.isKnownMissing(bucket, key)) return undefined;
    if (!this.settings.cacheEnabled) return this.passThrough(bucket, key);
    const id = objectId(bucket, key);
    let fill = this.fills.get(id);
    if (fill) this.counters.coalesced++;
    if (!fill && ranged) {
      const head = await this.remote.head(bucket, key);
      if (!head) {
        await this.rememberMissing(bucket, key);
        return undefined;
      }
      if (head.size > this.settings.chunkThreshold) return this.readChunked(await this.commitManifest(bucket, key, head), false);
      fill = this.fills.get(id);
    }
    if (!fill) {
      const spoolPath = path.join(this.spoolDir, randomBytes(12).toString("hex"));
      const detach = () => {
        if (this.fills.get(id) === started) this.fills.delete(id);
      };
      const commit = (file: string, object: RemoteObject, crcs: number[]) => this.commitMirror(bucket, key, file, object, crcs);
      const started: Fill = new Fill(this.remote, bucket, key, spoolPath, this.settings, this.space, commit, detach);
      fill = started;
      this.fills.set(id, fill);
      void started.done.then(detach);
    }
    const start = await fill.ready;
    if (!start) {
      await this.rememberMissing(bucket, key);
      return undefined;
    }
    const { object } = start;
    if (start.chunked) {
      const manifest = await this.commitManifest(bucket, key, object);
      // every reader that joined this fill gets the same manifest; the first chunk's bytes are already on their way
      if (start.firstChunk) this.chunks.adoptFirst(manifest, start.firstChunk);
      start.firstChunk = undefined;
      return this.readChunked(manifest, false);
    }
    const info = mirroredInfo(bucket, object);
    if (start.passThrough) {
      this.space.stats.passThroughDiskFull++;
      return { info, local: false, open: async (range) => ({ body: remoteStream(this.remote, bucket, key, object.etag, range), cache: "pass" }) };
    }
    const running = fill;
    return {
      info,
      local: false,
      // a fill that ran out of disk kept nothing: a reader too late to join it reads the remote
      open: async (range) => ({
        body: running.reader(range ?? { start: 0, end: object.size - 1 })
          ?? (running.passedThrough ? remoteStream(this.remote, bucket, key, object.etag, range) : this.readCommitted(info, range)),
        cache: "miss",
      }),
    };
  }

  /**
   * Warm: fetches an object into the store through the same fill as a GET miss
   * and waits until that fill is over. Returns what the remote served (a manifest
   * if the object turned out to be large), undefined for a remote 404.
   */
  async fillObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    const read = await this.get(bucket, key, false);
    if (!read || read.info.chunkSize !== undefined) return read?.info;
    const fill = this.fills.get(objectId(bucket, key));
    if (fill) {
      // wait for the fill itself: reading its bytes back from the spool, as a GET does, cost a read of every byte
      await fill.done;
      if (fill.passedThrough) throw errors.storageFull();
      if (fill.failure) throw fill.failure;
      return read.info;
    }
    // the fill ended meanwhile: reading what it left surfaces a failure
    const opened = await read.open();
    if (opened.cache === "pass" && this.settings.cacheEnabled) {
      opened.body.destroy();
      throw errors.storageFull();
    }
    await finished(opened.body.resume());
    return read.info;
  }

  /** The fill ended between lookup and read: the same version is in the store now (or the read fails cleanly). */
  private readCommitted(info: ObjectInfo, range: ByteRange | undefined): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    this.store.headObject(info.bucket, info.key).then((stored) => {
      if (!stored || stored.etag !== info.etag || stored.chunkSize !== undefined) {
        return out.destroy(new Error(`${info.bucket}/${info.key} changed while it was being read`));
      }
      // readObject throws for a version known to be corrupt
      try {
        pipeline(this.store.readObject(stored, range), out, () => undefined);
      } catch (error) {
        out.destroy(error as Error);
      }
    }, (error: Error) => out.destroy(error));
    return out;
  }

  /**
   * A large object read from its chunks: those present are local, the others are
   * fetched as they are touched. Opening a range looks up just its chunks: a hit if all are local.
   */
  readChunked(manifest: ObjectInfo, local: boolean): ObjectRead {
    return { info: manifest, local, open: (range) => this.chunks.open(manifest, range ?? { start: 0, end: manifest.size - 1 }) };
  }

  /** With caching off (S3_OVERLAY_CACHE=off) a remote object is passed through, nothing kept. */
  get cacheEnabled(): boolean {
    return this.settings.cacheEnabled;
  }

  /**
   * Records a large remote object as a manifest (its bytes come in chunks). If a
   * client wrote or deleted the key meanwhile, the chunks are read without being kept.
   */
  commitManifest(bucket: string, key: string, object: RemoteObject): Promise<ObjectInfo> {
    const info = { ...mirroredInfo(bucket, object), chunkSize: this.settings.chunkSize };
    return this.keyLocks.run(objectId(bucket, key), async () => {
      const local = await this.store.headObject(bucket, key);
      if (local?.chunkSize === info.chunkSize && local.etag === info.etag) return local;
      if (local || (await this.store.hasTombstone(bucket, key))) return info;
      if (!(await this.store.getBucket(bucket))) await this.store.createBucket(bucket, this.region);
      return this.store.commitObject(bucket, key, [], {
        etag: info.etag, headers: info.headers, userMetadata: info.userMetadata, origin: "remote",
        remote: info.remote, lastModified: info.lastModified, chunkSize: info.chunkSize,
      });
    });
  }

  /** The remote object behind a manifest changed (a chunk fetch got 412): forget the old version. */
  private async dropChanged(info: ObjectInfo): Promise<void> {
    await this.keyLocks.run(objectId(info.bucket, info.key), async () => {
      const local = await this.store.headObject(info.bucket, info.key);
      if (local?.chunkSize !== undefined && local.etag === info.etag) await this.store.deleteObject(info.bucket, info.key);
    });
  }

  /** Is this mirrored object older than S3_OVERLAY_REVALIDATE allows? */
  isStale(info: ObjectInfo): boolean {
    const maxAge = this.settings.revalidateMs;
    if (maxAge === undefined || info.origin !== "remote" || !info.remote) return false;
    return Date.now() - info.remote.fetchedAt.getTime() > maxAge;
  }

  /**
   * Checks a stale mirrored object against the remote. Unchanged: it is kept
   * (with a new fetch time) and returned. Changed or deleted remotely: the
   * local mirror is dropped and undefined returned, so the caller reads afresh.
   * With the remote unreachable the cached copy is served as it is.
   */
  async revalidate(info: ObjectInfo): Promise<ObjectInfo | undefined> {
    let current: RemoteObject | undefined;
    try {
      current = await this.remote.head(info.bucket, info.key);
    } catch {
      return info;
    }
    return this.keyLocks.run(objectId(info.bucket, info.key), async () => {
      const local = await this.store.headObject(info.bucket, info.key);
      // a client wrote the key meanwhile: that is what readers get now
      if (!local || local.origin !== "remote" || local.etag !== info.etag) return local;
      if (current && current.etag === info.etag) {
        const touched = {
          etag: local.etag, headers: local.headers, userMetadata: local.userMetadata, origin: "remote" as const,
          remote: { ...local.remote!, fetchedAt: new Date() }, lastModified: local.lastModified,
          checksum: local.checksum, partSizes: local.partSizes, chunkSize: local.chunkSize,
        };
        // a manifest committed again with the same identity keeps its chunks; an object shares its blobs
        return local.chunkSize !== undefined
          ? this.store.commitObject(info.bucket, info.key, [], touched)
          : this.store.copyObject(local, info.bucket, info.key, touched);
      }
      await this.store.deleteObject(info.bucket, info.key);
      return undefined;
    });
  }

  /** A listing entry of a remote object the store does not have. */
  listedInfo(bucket: string, object: RemoteObject): ObjectInfo {
    return mirroredInfo(bucket, object);
  }

  /** A client write was dropped: the remote's version may show through again at once. */
  forget(bucket: string, key: string): Promise<void> {
    return this.store.forgetAbsent(bucket, key);
  }

  private async passThrough(bucket: string, key: string): Promise<ObjectRead | undefined> {
    const head = await this.remote.head(bucket, key);
    if (!head) {
      await this.rememberMissing(bucket, key);
      return undefined;
    }
    return {
      info: mirroredInfo(bucket, head),
      local: false,
      open: async (range) => ({ body: remoteStream(this.remote, bucket, key, head.etag, range), cache: "pass" }),
    };
  }

  /** Makes a verified spool file the mirrored object, unless a client wrote or deleted the key meanwhile. */
  private commitMirror(bucket: string, key: string, file: string, object: RemoteObject, blockCrcs: number[]): Promise<boolean> {
    return this.keyLocks.run(objectId(bucket, key), async () => {
      if (await this.store.headObject(bucket, key)) return false;
      if (await this.store.hasTombstone(bucket, key)) return false;
      if (!(await this.store.getBucket(bucket))) await this.store.createBucket(bucket, this.region);
      const staged = await this.store.adoptFile(file, blockCrcs);
      const info = mirroredInfo(bucket, object);
      await this.store.commitObject(bucket, key, [staged], {
        etag: info.etag,
        headers: info.headers,
        userMetadata: info.userMetadata,
        origin: "remote",
        remote: info.remote,
        lastModified: info.lastModified,
      });
      this.counters.filledBytes += object.size;
      return true;
    });
  }

  private async isKnownMissing(bucket: string, key: string): Promise<boolean> {
    if (this.settings.negativeTtlMs <= 0) return false;
    return (await this.store.absentUntil(bucket, key)) !== undefined;
  }

  /** A remote 404, kept in the store so every serve on a shared tier trusts it for the same time. */
  private async rememberMissing(bucket: string, key: string): Promise<void> {
    if (this.settings.negativeTtlMs <= 0) return;
    await this.store.rememberAbsent(bucket, key, new Date(Date.now() + this.settings.negativeTtlMs));
  }
}


/** The ObjectInfo of a remote object as the overlay presents it: the remote's identity, unchanged. */
export function mirroredInfo(bucket: string, object: RemoteObject): ObjectInfo {
  return {
    bucket,
    key: object.key,
    size: object.size,
    etag: object.etag,
    lastModified: object.lastModified,
    headers: object.headers,
    userMetadata: object.userMetadata,
    origin: "remote",
    remote: { etag: object.etag, lastModified: object.lastModified, size: object.size, fetchedAt: new Date() },
  };
}

/** A pass-through read: the remote's bytes of that exact version, nothing kept. */
function remoteStream(remote: RemoteApi, bucket: string, key: string, etag: string, range: ByteRange | undefined): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  remote.get(bucket, key, { range, ifMatch: etag }).then((read) => {
    if (!read) return out.destroy(new Error(`${bucket}/${key} disappeared from the remote`));
    read.body.on("error", (error) => out.destroy(error));
    read.body.pipe(out);
  }, (error: Error) => out.destroy(error));
  return out;
}
