// The data path: objects live 1:1 in same-named tier buckets, their facts in
// x-amz-meta-s3o-* metadata (metadata.ts). A manifest is an empty tier object.
import type { Readable } from "node:stream";
import { errors } from "../../s3/errors.js";
import { encodeKey } from "../../s3/signer.js";
import { inMemoryStream, type ByteRange, type ListOptions, type NewObject, type ObjectInfo, type StagedData } from "../types.js";
import { requireStorableKey } from "./cache-keys.js";
import type { Chunks } from "./chunks.js";
import { openedOnFirstRead } from "./lazy-body.js";
import type { Markers } from "./markers.js";
import { describeObject, headersFor, infoFromHeaders, sameVersion } from "./metadata.js";
import { removeAll, type Staging } from "./staging.js";
import { dropBody, mapLimited, PARALLEL_HEADS, type Tier } from "./tier.js";
import { COPY_PART_SIZE, MAX_COPY, type Transfer } from "./transfer.js";

export class Objects {
  constructor(
    private readonly tier: Tier,
    private readonly staging: Staging,
    private readonly transfer: Transfer,
    private readonly chunks: Chunks,
    private readonly markers: Markers,
  ) {}

  /** Small objects' bytes fetched by their lookup, until their `info` is dropped. */
  private readonly fetchedWithLookup = new WeakMap<ObjectInfo, Buffer>();

  /** headObject for a read: a small object's bytes come along and are read from memory. */
  async lookupForRead(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    const found = await this.tier.lookupForRead(bucket, key);
    if (found?.body) this.fetchedWithLookup.set(found.info, found.body);
    return found?.info;
  }

  /** A manifest has no bytes of its own: read its chunks. */
  readObject(info: ObjectInfo, range?: ByteRange): Readable {
    if (info.chunkSize !== undefined) throw new Error(`${info.bucket}/${info.key} is a chunked manifest: read its chunks instead`);
    // the bytes came in the answer that described this version: nothing to ask again
    const fetched = this.fetchedWithLookup.get(info);
    if (fetched !== undefined) return inMemoryStream(fetched, range);
    const tier = this.tier;
    const headers: Record<string, string> = {};
    if (range !== undefined && info.size > 0) headers.range = `bytes=${range.start}-${Math.min(range.end, info.size - 1)}`;
    // Opened on first read; the answer's metadata says whether it is still the version asked for.
    return openedOnFirstRead(async () => {
      const response = await tier.http.send({ method: "GET", bucket: info.bucket, key: info.key, headers });
      if (response.statusCode === 404) {
        response.body.resume();
        throw errors.noSuchKey(info.key);
      }
      if (response.statusCode !== 200 && response.statusCode !== 206) throw await tier.failure(response, `GET ${info.bucket}/${info.key}`, info.bucket, info.key);
      if (!sameVersion(infoFromHeaders(info.bucket, info.key, response.headers), info)) {
        dropBody(response);
        throw errors.noSuchKey(info.key);
      }
      return response.body;
    });
  }

  /** A manifest (meta.chunkSize) takes no data; its size is meta.remote.size (kept in metadata: the tier object is empty). */
  async commitObject(bucket: string, key: string, data: StagedData[], meta: NewObject): Promise<ObjectInfo> {
    if (meta.chunkSize !== undefined) requireManifest(data, meta);
    const files = this.staging.take(data);
    try {
      requireStorableKey(key);
      const previous = await this.tier.headObject(bucket, key);
      const lastModified = meta.lastModified ?? new Date();
      let info: ObjectInfo;
      if (meta.chunkSize !== undefined) {
        info = describeObject(bucket, key, meta.remote!.size, meta, lastModified);
        await this.tier.putBody(bucket, key, headersFor(meta, lastModified, info.size), Buffer.alloc(0), 0);
      } else {
        const size = files.reduce((sum, file) => sum + file.size, 0);
        info = describeObject(bucket, key, size, meta, lastModified);
        await this.transfer.upload(bucket, key, files, size, headersFor(meta, lastModified));
      }
      await this.replaced(previous, info);
      return info;
    } finally {
      await removeAll(files);
    }
  }

  /** Server-side copy on the tier (UploadPartCopy above 5 GiB). Not for manifests. */
  async copyObject(source: ObjectInfo, bucket: string, key: string, meta: NewObject): Promise<ObjectInfo> {
    requireStorableKey(key);
    if (meta.chunkSize !== undefined) throw new Error("only commitObject makes a manifest (chunkSize set)");
    if (source.chunkSize !== undefined) throw new Error(`${source.bucket}/${source.key} is a chunked manifest: it has no bytes to share; copy its data instead`);
    const current = await this.tier.headStored(source.bucket, source.key);
    if (current === undefined || !sameVersion(current.info, source)) throw errors.noSuchKey(source.key);
    const previous = await this.tier.headObject(bucket, key);
    const lastModified = meta.lastModified ?? new Date();
    const info = describeObject(bucket, key, source.size, meta, lastModified);
    const copySource = { "x-amz-copy-source": `/${source.bucket}/${encodeKey(source.key)}`, "x-amz-copy-source-if-match": `"${current.tierEtag}"` };
    const headers = headersFor(meta, lastModified);
    if (source.size <= MAX_COPY) {
      await this.transfer.copyInPlace(bucket, key, { ...headers, ...copySource, "x-amz-metadata-directive": "REPLACE" });
    } else {
      await this.transfer.multipart(bucket, key, headers, source.size, COPY_PART_SIZE, (partNumber, start, end, uploadId) =>
        this.transfer.copyPart(bucket, key, uploadId, partNumber, copySource, start, end),
      );
    }
    await this.replaced(previous, info);
    return info;
  }

  async deleteObject(bucket: string, key: string): Promise<boolean> {
    const previous = await this.tier.headObject(bucket, key);
    if (previous === undefined) return false;
    await this.tier.deleteKey(bucket, key);
    if (previous.chunkSize !== undefined) await this.chunks.deleteAllOf(bucket, key);
    return true;
  }

  /** The tier's listing has no metadata: each entry is HEADed (PARALLEL_HEADS at a time) for its real size, ETag and dates. */
  async listObjects(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    const listed = await this.tier.listTier(bucket, options.prefix ?? "", options.startAfter, options.limit);
    const infos = await mapLimited(listed, PARALLEL_HEADS, (entry) => this.tier.headObject(bucket, entry.key));
    return infos.filter((info): info is ObjectInfo => info !== undefined);
  }

  // The tier keeps origin in each object's metadata, so finding client writes lists (and HEADs) every object in scope.
  async listClientWrites(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    for (let after = options.startAfter; found.length < options.limit; ) {
      const page = await this.listObjects(bucket, { prefix: options.prefix, startAfter: after, limit: 1000 });
      for (const info of page) if (info.origin === "local" && found.length < options.limit) found.push(info);
      if (page.length < 1000) break;
      after = page[page.length - 1]!.key;
    }
    return found;
  }

  /** After bucket/key became `info`: a replaced manifest's chunks go (unless it is the same manifest again); a client write clears the tombstone. */
  async replaced(previous: ObjectInfo | undefined, info: ObjectInfo): Promise<void> {
    const sameManifest = previous?.chunkSize !== undefined && previous.chunkSize === info.chunkSize && previous.etag === info.etag && previous.size === info.size;
    if (previous?.chunkSize !== undefined && !sameManifest) await this.chunks.deleteAllOf(info.bucket, info.key);
    if (info.origin === "local") await this.markers.deleteTombstone(info.bucket, info.key);
  }
}

function requireManifest(data: StagedData[], meta: NewObject): void {
  if (data.length > 0) throw new Error("a manifest (chunkSize set) is committed without staged data");
  if (meta.remote === undefined) throw new Error("a manifest (chunkSize set) needs meta.remote: its size is the remote object's");
  if (!Number.isSafeInteger(meta.chunkSize) || meta.chunkSize! <= 0) throw new Error(`invalid chunk size ${meta.chunkSize}`);
}
