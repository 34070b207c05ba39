// Cache accounting and eviction for `status` and the evictor: full scans of the
// tier (slow on big buckets; nothing else keeps counts on a shared tier).
import type { BucketUsage, CachedEntry, ChunkInfo, ListCachedOptions, ObjectInfo, UsageOptions } from "../types.js";
import { chunkFromTierKey, chunkOwnerHash, chunksOfBucket, hashKey } from "./cache-keys.js";
import type { Chunks } from "./chunks.js";
import type { Markers } from "./markers.js";
import type { Objects } from "./objects.js";
import { mapLimited, PARALLEL_HEADS, type Tier } from "./tier.js";

/** a chunk as a listing shows it: no checksums (those are in its metadata) */
type ListedChunk = Omit<ChunkInfo, "crc32">;

export class Accounting {
  constructor(
    private readonly tier: Tier,
    private readonly chunks: Chunks,
    private readonly objects: Objects,
    private readonly markers: Markers,
    /** the client-visible buckets, in name order */
    private readonly bucketNames: () => Promise<string[]>,
  ) {}

  async usage(options: UsageOptions): Promise<BucketUsage[]> {
    const result: BucketUsage[] = [];
    for (const bucket of await this.bucketsFor(options)) {
      const { objects, chunks } = await this.scan(bucket, options.prefix ?? "");
      const usage: BucketUsage = {
        bucket, mirroredObjects: 0, mirroredBytes: 0, chunkedObjects: 0, chunkedBytes: 0, chunksCached: 0, chunksTotal: 0, chunkBytes: 0, localObjects: 0, localBytes: 0, tombstones: 0,
      };
      for (const { info } of objects) {
        if (info.chunkSize !== undefined) {
          usage.chunkedObjects++;
          usage.chunkedBytes += info.size;
          usage.chunksTotal += Math.ceil(info.size / info.chunkSize);
        } else if (info.origin === "remote") {
          usage.mirroredObjects++;
          usage.mirroredBytes += info.size;
        } else {
          usage.localObjects++;
          usage.localBytes += info.size;
        }
      }
      for (const chunk of chunks) {
        usage.chunksCached++;
        usage.chunkBytes += chunk.size;
      }
      usage.tombstones = await this.markers.countTombstones(bucket, options.prefix ?? "");
      result.push(usage);
    }
    return result;
  }

  /** Bytes of all objects in all buckets and the cache bucket, as the tier stores them (parts of unfinished uploads not counted). */
  async diskUsage(): Promise<number> {
    const buckets = [...(await this.bucketNames()), this.tier.cache];
    let total = 0;
    for (const bucket of buckets) for (const entry of await this.tier.listAllKeys(bucket, "")) total += entry.size;
    return total;
  }

  /** lastAccess is the tier's Last-Modified (when it was written there): reads are not tracked on a shared tier. */
  async listCached(options: ListCachedOptions): Promise<CachedEntry[]> {
    const entries: CachedEntry[] = [];
    for (const bucket of await this.bucketsFor(options)) {
      const { objects, chunks } = await this.scan(bucket, options.prefix ?? "");
      for (const { info, stored } of objects) {
        if (info.origin !== "remote") continue;
        const own = info.chunkSize === undefined ? [] : chunks.filter((chunk) => chunk.key === info.key);
        const lastAccess = new Date(Math.max(stored.getTime(), ...own.map((chunk) => chunk.lastAccess.getTime())));
        const size = info.chunkSize === undefined ? info.size : own.reduce((sum, chunk) => sum + chunk.size, 0);
        entries.push({ kind: info.chunkSize === undefined ? "object" : "manifest", bucket, key: info.key, etag: info.etag, size, lastAccess });
      }
      for (const chunk of chunks) {
        entries.push({ kind: "chunk", bucket, key: chunk.key, etag: chunk.etag, size: chunk.size, lastAccess: chunk.lastAccess, chunkSize: chunk.chunkSize, index: chunk.index });
      }
    }
    const before = options.accessedBefore?.getTime() ?? Infinity;
    return entries
      .filter((entry) => entry.lastAccess.getTime() < before)
      .sort((a, b) => a.lastAccess.getTime() - b.lastAccess.getTime())
      .slice(0, options.limit);
  }

  /** Checked by a HEAD just before the DELETE: a client write landing between the two is the one race left. */
  async evict(entry: CachedEntry): Promise<boolean> {
    if (entry.kind === "chunk") {
      const chunk = { bucket: entry.bucket, key: entry.key, etag: entry.etag, chunkSize: entry.chunkSize!, index: entry.index! };
      if ((await this.chunks.getChunk(chunk)) === undefined) return false;
      await this.chunks.deleteChunk(chunk);
      return true;
    }
    const current = await this.tier.headObject(entry.bucket, entry.key);
    const stillCached = current !== undefined && current.origin === "remote" && current.etag === entry.etag && (current.chunkSize !== undefined) === (entry.kind === "manifest");
    if (!stillCached) return false;
    await this.objects.deleteObject(entry.bucket, entry.key);
    return true;
  }

  private async bucketsFor(options: UsageOptions): Promise<string[]> {
    if (options.bucket !== undefined) return (await this.tier.bucketExists(options.bucket)) ? [options.bucket] : [];
    return this.bucketNames();
  }

  /** Every object under prefix (HEADed) and the chunks of the manifests among them (from the listing: no checksums). */
  private async scan(bucket: string, prefix: string): Promise<{ objects: { info: ObjectInfo; stored: Date }[]; chunks: ListedChunk[] }> {
    const listed = await this.tier.listAllKeys(bucket, prefix);
    const heads = await mapLimited(listed, PARALLEL_HEADS, async (entry) => {
      const info = await this.tier.headObject(bucket, entry.key);
      return info && { info, stored: entry.stored };
    });
    const objects = heads.filter((entry): entry is { info: ObjectInfo; stored: Date } => entry !== undefined);
    const manifests = new Map(objects.filter(({ info }) => info.chunkSize !== undefined).map(({ info }) => [hashKey(info.key), info]));
    const chunks: ListedChunk[] = [];
    for (const entry of await this.tier.listAllKeys(this.tier.cache, chunksOfBucket(bucket))) {
      const manifest = manifests.get(chunkOwnerHash(entry.key));
      if (manifest === undefined) continue;
      const chunk = chunkFromTierKey(bucket, manifest.key, entry.key);
      if (chunk?.etag === manifest.etag && chunk.chunkSize === manifest.chunkSize) chunks.push({ ...chunk, size: entry.size, lastAccess: entry.stored });
    }
    return { objects, chunks };
  }
}
