// Chunks of large remote objects: each chunk is one object in the cache bucket,
// its whole identity (version, chunk size, index, CRC32) in its key (cache-keys.ts).
import type { Readable } from "node:stream";
import { errors } from "../../s3/errors.js";
import type { ByteRange, ChunkInfo, ChunkKey, StagedData } from "../types.js";
import { chunkDir, chunkFromTierKey, chunkPrefix, chunkTierKey, chunkVersionPrefix } from "./cache-keys.js";
import { openedOnFirstRead } from "./lazy-body.js";
import { readSpan, removeAll, type Staging, type StagedFile } from "./staging.js";
import { dropBody, type ListedObject, type Tier } from "./tier.js";

export function chunkFromListing(bucket: string, key: string, entry: ListedObject): ChunkInfo {
  return chunkFromTierKey(bucket, key, entry.key, entry.size, entry.stored);
}

export class Chunks {
  constructor(
    private readonly tier: Tier,
    private readonly staging: Staging,
  ) {}

  /** Stores the chunk only if bucket/key is a manifest of its ETag and chunk size; otherwise discards `data` and returns false. */
  async putChunk(chunk: ChunkKey, data: StagedData, crc32: string): Promise<boolean> {
    const [file] = this.staging.take([data]) as [StagedFile];
    try {
      const manifest = await this.tier.headObject(chunk.bucket, chunk.key);
      if (manifest === undefined || manifest.etag !== chunk.etag || manifest.chunkSize !== chunk.chunkSize) return false;
      const expected = Math.min(chunk.chunkSize, manifest.size - chunk.index * chunk.chunkSize);
      if (!Number.isSafeInteger(chunk.index) || chunk.index < 0 || expected <= 0 || file.size !== expected) {
        throw new Error(`chunk ${chunk.index} of ${chunk.bucket}/${chunk.key} (${manifest.size} bytes in chunks of ${chunk.chunkSize}) cannot hold ${file.size} bytes`);
      }
      const earlier = await this.tier.listAllKeys(this.tier.cache, chunkDir(chunk));
      const tierKey = chunkTierKey(chunk, crc32);
      await this.tier.putBody(this.tier.cache, tierKey, {}, readSpan([file], 0, file.size), file.size);
      await this.tier.deleteCacheKeys(earlier.filter((entry) => entry.key !== tierKey));
      return true;
    } finally {
      await removeAll([file]);
    }
  }

  async getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined> {
    const [found] = await this.tier.listTier(this.tier.cache, chunkDir(chunk), undefined, 1);
    return found && chunkFromListing(chunk.bucket, chunk.key, found);
  }

  /** No access tracking on a shared tier: lastAccess stays the chunk's write time. */
  readChunk(chunk: ChunkInfo, range?: ByteRange): Readable {
    const key = chunkTierKey(chunk, chunk.crc32);
    const tier = this.tier;
    const wanted = range ?? { start: 0, end: chunk.size - 1 };
    return openedOnFirstRead(async () => {
      const headers = range ? { range: `bytes=${range.start}-${range.end}` } : undefined;
      const response = await tier.http.send({ method: "GET", bucket: tier.cache, key, headers });
      if (response.statusCode === 404) {
        response.body.resume();
        throw errors.noSuchKey(chunk.key);
      }
      if (response.statusCode !== 200 && response.statusCode !== 206) throw await tier.failure(response, `GET chunk ${chunk.index} of ${chunk.bucket}/${chunk.key}`, tier.cache, key);
      if (Number(response.headers["content-length"]) !== wanted.end - wanted.start + 1) {
        dropBody(response);
        throw errors.noSuchKey(chunk.key);
      }
      return response.body;
    });
  }

  async deleteChunk(chunk: ChunkKey): Promise<void> {
    await this.tier.deleteCachePrefix(chunkDir(chunk));
  }

  async listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]> {
    const listed = await this.tier.listAllKeys(this.tier.cache, chunkVersionPrefix(bucket, key, etag));
    return listed.map((entry) => chunkFromListing(bucket, key, entry));
  }

  /** Every chunk of every version of bucket/key. */
  async deleteAllOf(bucket: string, key: string): Promise<void> {
    await this.tier.deleteCachePrefix(chunkPrefix(bucket, key));
  }
}
