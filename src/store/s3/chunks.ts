// Chunks of large remote objects: each chunk is one object in the cache bucket,
// named by its whole identity (version, chunk size, index: cache-keys.ts), its
// checksums in its metadata. A read HEADs or GETs the chunks it needs by name;
// only warm, verify and accounting list them.
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { errors } from "../../s3/errors.js";
import type { ByteRange, ChunkInfo, ChunkKey, ChunkVersion, StagedData } from "../types.js";
import { CHUNK_CHECKSUM_HEADER, checksumFromHeader, checksumHeaderValue, chunkFromTierKey, chunkPrefix, chunkTierKey, chunkVersionPrefix } from "./cache-keys.js";
import { openedOnFirstRead } from "./lazy-body.js";
import { readSpan, removeAll, type Staging, type StagedFile } from "./staging.js";
import { dropBody, mapLimited, PARALLEL_HEADS, type Tier } from "./tier.js";

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
      // one name per chunk: a new copy replaces the old one in the same PUT
      const headers = { [CHUNK_CHECKSUM_HEADER]: checksumHeaderValue(crc32) };
      await this.tier.putBody(this.tier.cache, chunkTierKey(chunk), headers, readSpan([file], 0, file.size), file.size);
      return true;
    } finally {
      await removeAll([file]);
    }
  }

  /** One HEAD. A chunk object without its checksums (not written by us) counts as absent. */
  async getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined> {
    const key = chunkTierKey(chunk);
    const response = await this.tier.http.send({ method: "HEAD", bucket: this.tier.cache, key });
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) throw await this.tier.failure(response, `HEAD chunk ${chunk.index} of ${chunk.bucket}/${chunk.key}`, this.tier.cache, key);
    const checksums = header(response, CHUNK_CHECKSUM_HEADER);
    if (checksums === undefined) return undefined;
    const { bucket, key: objectKey, etag, chunkSize, index } = chunk;
    return {
      bucket, key: objectKey, etag, chunkSize, index,
      size: Number(header(response, "content-length") ?? 0),
      crc32: checksumFromHeader(checksums),
      lastAccess: new Date(header(response, "last-modified") ?? 0),
    };
  }

  /** A HEAD per chunk the range touches, in parallel. */
  async chunksIn(version: ChunkVersion, range: ByteRange): Promise<ChunkInfo[]> {
    const first = Math.floor(range.start / version.chunkSize);
    const indexes = Array.from({ length: Math.floor(range.end / version.chunkSize) - first + 1 }, (_, n) => first + n);
    const found = await mapLimited(indexes, PARALLEL_HEADS, (index) => this.getChunk({ ...version, index }));
    return found.filter((chunk) => chunk !== undefined);
  }

  /** No access tracking on a shared tier: lastAccess stays the chunk's write time. */
  readChunk(chunk: ChunkInfo, range?: ByteRange): Readable {
    const key = chunkTierKey(chunk);
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
      // rewritten with other bytes since `chunk` was looked up: as if gone
      const rewritten = header(response, CHUNK_CHECKSUM_HEADER) !== checksumHeaderValue(chunk.crc32);
      if (rewritten || Number(response.headers["content-length"]) !== wanted.end - wanted.start + 1) {
        dropBody(response);
        throw errors.noSuchKey(chunk.key);
      }
      return response.body;
    });
  }

  async deleteChunk(chunk: ChunkKey): Promise<void> {
    await this.tier.deleteKey(this.tier.cache, chunkTierKey(chunk));
  }

  /** A listing, then a HEAD per chunk for its checksums. */
  async listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]> {
    const listed = await this.tier.listAllKeys(this.tier.cache, chunkVersionPrefix(bucket, key, etag));
    const keys = listed.map((entry) => chunkFromTierKey(bucket, key, entry.key)).filter((chunk) => chunk !== undefined);
    const found = await mapLimited(keys, PARALLEL_HEADS, (chunk) => this.getChunk(chunk));
    return found.filter((chunk) => chunk !== undefined);
  }

  /** Every chunk of every version of bucket/key. */
  async deleteAllOf(bucket: string, key: string): Promise<void> {
    await this.tier.deleteCachePrefix(chunkPrefix(bucket, key));
  }
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
