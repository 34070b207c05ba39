// The read policy, in one place: where HEAD and GET look for an object and in
// what order (local object, tombstone, negative cache, remote), local-only
// bucket or overlay. A GET is two steps: lookup() finds the object and gives its
// metadata, the caller decides the range (conditions, Range, partNumber), then
// open(range) opens exactly that range and says whether it came from the store
// (X-Cache), judged by what it opens: for a chunked object, the chunks of that range.
import type { ObjectInfo, ObjectStore, OverlayMarkers } from "../store/types.js";
import { S3Error, errors } from "../s3/errors.js";
import type { Corruption } from "./corruption.js";
import type { CacheStatus, ObjectRead, OpenedRead, Overlay } from "./overlay.js";

/** GETs by where their bytes came from (status counters), counted when opened. */
export interface ReadCounts {
  /** GETs answered from the store */
  hits: number;
  /** GETs filled from the remote */
  misses: number;
  /** GETs passed through with caching off */
  passes: number;
}

export interface LookupOptions {
  /** the caller will open a range (a ranged miss asks the remote for the size first, so it fetches only that range's chunks) */
  ranged?: boolean;
}

export class Reads {
  readonly counts: ReadCounts = { hits: 0, misses: 0, passes: 0 };

  constructor(
    private readonly store: ObjectStore & OverlayMarkers,
    private readonly corruption: Corruption,
    /** the overlay of a bucket that overlays the remote; undefined for a local-only bucket */
    private readonly overlayFor: (bucket: string) => Overlay | undefined,
    /** the bucket, created locally if only the remote has it; throws NoSuchBucket */
    private readonly requireBucket: (bucket: string) => Promise<unknown>,
  ) {}

  /**
   * Metadata for HEAD. Read order: local object, tombstone, negative cache,
   * remote. A remote answer downloads no body. `cache` is undefined in local mode.
   */
  async stat(bucket: string, key: string): Promise<{ info: ObjectInfo; cache?: CacheStatus }> {
    const info = await this.localObject(bucket, key);
    const overlay = this.overlayFor(bucket);
    if (info) return { info, cache: overlay && "hit" };
    if (overlay && !(await this.store.hasTombstone(bucket, key))) {
      await this.requireBucket(bucket);
      const remote = await overlay.head(bucket, key);
      if (remote) return { info: remote, cache: overlay.cacheEnabled ? "miss" : "pass" };
    }
    await this.requireBucket(bucket);
    throw errors.noSuchKey(key);
  }

  /** An object for GET, in the same order: a local one never contacts the remote; a miss starts streaming from it. */
  async lookup(bucket: string, key: string, options: LookupOptions = {}): Promise<ObjectRead> {
    const read = await this.find(bucket, key, options);
    return { ...read, open: async (range) => this.counted(await read.open(range)) };
  }

  /** The store's object, unless it is a mirror too old to trust (S3_OVERLAY_REVALIDATE) that the remote changed. */
  async localObject(bucket: string, key: string, intent?: "read"): Promise<ObjectInfo | undefined> {
    const info = await this.store.headObject(bucket, key, intent);
    const overlay = this.overlayFor(bucket);
    if (!info || !overlay?.isStale(info)) return info;
    return overlay.revalidate(info);
  }

  private async find(bucket: string, key: string, options: LookupOptions): Promise<ObjectRead> {
    const info = await this.localObject(bucket, key, "read");
    const overlay = this.overlayFor(bucket);
    if (info?.chunkSize !== undefined) {
      if (!overlay) throw new S3Error("ServiceUnavailable", `${bucket}/${key} is cached in chunks from a remote, and bucket ${bucket} no longer overlays one`);
      return overlay.readChunked(info, true);
    }
    if (info) return { info, local: true, open: async (range) => ({ body: this.corruption.watch(info, this.store.readObject(info, range)), cache: overlay && "hit" }) };
    if (overlay && !(await this.store.hasTombstone(bucket, key))) {
      await this.requireBucket(bucket);
      const found = await overlay.get(bucket, key, options.ranged === true);
      if (found) return found;
    }
    await this.requireBucket(bucket);
    throw errors.noSuchKey(key);
  }

  private counted(opened: OpenedRead): OpenedRead {
    if (opened.cache === "hit") this.counts.hits++;
    else if (opened.cache === "miss") this.counts.misses++;
    else if (opened.cache === "pass") this.counts.passes++;
    return opened;
  }
}
