// The S3-compatible local tier (MinIO, Ceph RGW, any S3 endpoint) as the Store.
// Objects live 1:1 in same-named buckets on the tier; what the overlay must
// remember lives in the tier too (so several `serve` processes share one overlay
// and the proxy keeps no state): object facts in x-amz-meta-s3o-* metadata
// (metadata.ts), tombstones, remote 404s, chunks and upload bookkeeping as marker objects in
// the cache bucket. Data goes over signed plain HTTP (signed-http.ts); listings
// and multipart bookkeeping use the SDK.
//
// Cache bucket layout:
//   tombstones/<bucket>/<key>                                   zero bytes
//   absent/<bucket>/<sha256(key)>                               zero bytes, x-amz-meta-s3o-absent-until: a remote 404 (negative cache)
//   chunks/<bucket>/<sha256(key)>/<etag>/<chunkSize>/<index>/<crc32>   the chunk's bytes
//   uploads/<sha256(uploadId)>                                  JSON: the UploadInfo
//   uploads/<sha256(uploadId)>/<partNumber>/<etag>[/<alg>/<type>/<value>]   zero bytes: a part's own ETag/checksum
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
  type _Object,
} from "@aws-sdk/client-s3";
import type { Dispatcher } from "undici";
import { S3Error, errors } from "../../s3/errors.js";
import type {
  BucketInfo,
  BucketUsage,
  ByteRange,
  CachedEntry,
  Checksum,
  ChecksumAlgorithm,
  ChunkInfo,
  ChunkKey,
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
import { describeObject, headersFor, infoFromHeaders, sameVersion } from "./metadata.js";
import { encodeKey, unquoteEtag } from "../../s3/signer.js";
import { noAnswer, sdkTimeouts } from "../../s3/timeouts.js";
import { errorFrom, SignedHttp, tierUnavailable, type TierCredentials } from "./signed-http.js";
import { openedOnFirstRead } from "./lazy-body.js";
import { readSpan, removeAll, Staging, type StagedFile } from "./staging.js";

export interface S3StoreOptions {
  /** e.g. http://127.0.0.1:9000; addressed path style */
  endpoint: string;
  region: string;
  credentials: TierCredentials;
  /** holds tombstones, chunks and upload bookkeeping; created if missing, hidden from bucket listings */
  cacheBucket: string;
  /** LocationConstraint for buckets the store creates; "" or "us-east-1" sends none */
  defaultBucketLocation: string;
  /** where staged bytes wait before they go to the tier (default: <os tmpdir>/s3-overlay-staging) */
  stagingDir?: string;
  /** how long the tier may be silent before a call fails (default 30 s); SDK calls make 2 attempts */
  timeoutMs?: number;
}

/** Objects up to this size are one PUT; larger ones are multipart uploads of parts this size. */
const PART_SIZE = 64 * 1024 * 1024;
const PARALLEL_PARTS = 4;
/** the largest object one server-side CopyObject may copy */
const MAX_COPY = 5 * 1024 ** 3;
const COPY_PART_SIZE = 1024 ** 3;
/** HEAD requests in flight while a listing learns each object's metadata */
const PARALLEL_HEADS = 32;

/**
 * Connects to the tier and makes sure the cache bucket exists. Throws an Error
 * naming the endpoint when the tier does not answer or refuses the credentials.
 */
export async function openS3Store(options: S3StoreOptions): Promise<S3Store> {
  const store = new S3Store(options);
  try {
    await store.prepare();
  } catch (error) {
    await store.close();
    throw new Error(`cannot use the S3 local tier at ${options.endpoint}: ${(error as Error).message}`);
  }
  return store;
}

interface ListedObject {
  key: string;
  size: number;
  /** the tier's own Last-Modified: when the object was last written there */
  stored: Date;
}

interface StoredChunk extends ChunkInfo {
  tierKey: string;
}

export class S3Store implements Store {
  private readonly http: SignedHttp;
  private readonly sdk: S3Client;
  private readonly staging: Staging;
  private readonly cache: string;

  constructor(private readonly options: S3StoreOptions) {
    this.http = new SignedHttp(options.endpoint, options.region, options.credentials, options.timeoutMs ?? 30_000);
    this.sdk = new S3Client({
      requestHandler: sdkTimeouts(this.http.timeoutMs),
      endpoint: options.endpoint,
      region: options.region,
      credentials: options.credentials,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 2,
    });
    this.staging = new Staging(this, options.stagingDir ?? join(tmpdir(), "s3-overlay-staging"));
    this.cache = options.cacheBucket;
  }

  /** @internal used by openS3Store: the staging directory and the cache bucket exist afterwards */
  async prepare(): Promise<void> {
    await this.staging.prepare();
    if (await this.bucketExists(this.cache)) return;
    await this.control("CreateBucket", () => this.sdk.send(new CreateBucketCommand({ Bucket: this.cache, ...this.location() })), this.cache).catch((error: unknown) => {
      if (!(error instanceof S3Error && error.code === "BucketAlreadyOwnedByYou")) throw error;
    });
  }

  async close(): Promise<void> {
    this.sdk.destroy();
    await this.http.close();
  }

  // ---- buckets

  async listBuckets(): Promise<BucketInfo[]> {
    const output = await this.control("ListBuckets", () => this.sdk.send(new ListBucketsCommand({})));
    return (output.Buckets ?? [])
      .filter((bucket) => bucket.Name !== this.cache)
      .map((bucket) => ({ name: bucket.Name!, createdAt: bucket.CreationDate ?? new Date(0), region: this.bucketRegion() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async getBucket(name: string): Promise<BucketInfo | undefined> {
    if (name === this.cache) return undefined;
    return (await this.listBuckets()).find((bucket) => bucket.name === name);
  }

  /** The tier is one place: buckets get the configured location, whatever region a client asks for. */
  async createBucket(name: string, _region: string): Promise<boolean> {
    if (name === this.cache) throw new S3Error("BucketAlreadyExists", "The bucket name is reserved for the overlay's cache", { BucketName: name });
    if (await this.bucketExists(name)) return false;
    try {
      await this.control("CreateBucket", () => this.sdk.send(new CreateBucketCommand({ Bucket: name, ...this.location() })), name);
      return true;
    } catch (error) {
      if (error instanceof S3Error && error.code === "BucketAlreadyOwnedByYou") return false;
      throw error;
    }
  }

  async deleteBucket(name: string): Promise<void> {
    if (name === this.cache) throw errors.noSuchBucket(name);
    // Some tiers delete a bucket that still has uploads in progress: S3 does not.
    const uploads = await this.listUploads(name, { limit: 1 });
    if (uploads.length > 0) throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: name });
    await this.control("DeleteBucket", () => this.sdk.send(new DeleteBucketCommand({ Bucket: name })), name);
    for (const kind of ["tombstones", "absent", "chunks"]) await this.deleteCacheKeys(await this.listAllKeys(this.cache, `${kind}/${name}/`));
  }

  // ---- objects

  async headObject(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    return (await this.headStored(bucket, key))?.info;
  }

  /** A manifest has no bytes of its own: read its chunks. */
  readObject(info: ObjectInfo, range?: ByteRange): Readable {
    if (info.chunkSize !== undefined) throw new Error(`${info.bucket}/${info.key} is a chunked manifest: read its chunks instead`);
    const store = this;
    const headers: Record<string, string> = {};
    if (range !== undefined && info.size > 0) headers.range = `bytes=${range.start}-${Math.min(range.end, info.size - 1)}`;
    // Opened on first read; the answer's metadata says whether it is still the version asked for.
    return openedOnFirstRead(async () => {
      const response = await store.http.send({ method: "GET", bucket: info.bucket, key: info.key, headers });
      if (response.statusCode === 404) {
        response.body.resume();
        throw errors.noSuchKey(info.key);
      }
      if (response.statusCode !== 200 && response.statusCode !== 206) throw await store.failure(response, `GET ${info.bucket}/${info.key}`, info.bucket, info.key);
      if (!sameVersion(infoFromHeaders(info.bucket, info.key, response.headers), info)) {
        dropBody(response);
        throw errors.noSuchKey(info.key);
      }
      return response.body;
    });
  }

  stage(body: Readable): Promise<StagedData> {
    return this.staging.stage(body);
  }

  adoptFile(path: string): Promise<StagedData> {
    return this.staging.adopt(path);
  }

  /** A manifest (meta.chunkSize) takes no data; its size is meta.remote.size (kept in metadata: the tier object is empty). */
  async commitObject(bucket: string, key: string, data: StagedData[], meta: NewObject): Promise<ObjectInfo> {
    if (meta.chunkSize !== undefined) requireManifest(data, meta);
    const files = this.staging.take(data);
    try {
      requireStorableKey(key);
      const previous = await this.headObject(bucket, key);
      const lastModified = meta.lastModified ?? new Date();
      let info: ObjectInfo;
      if (meta.chunkSize !== undefined) {
        info = describeObject(bucket, key, meta.remote!.size, meta, lastModified);
        await this.putBody(bucket, key, headersFor(meta, lastModified, info.size), Buffer.alloc(0), 0);
      } else {
        const size = files.reduce((sum, file) => sum + file.size, 0);
        info = describeObject(bucket, key, size, meta, lastModified);
        await this.upload(bucket, key, files, size, headersFor(meta, lastModified));
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
    const current = await this.headStored(source.bucket, source.key);
    if (current === undefined || !sameVersion(current.info, source)) throw errors.noSuchKey(source.key);
    const previous = await this.headObject(bucket, key);
    const lastModified = meta.lastModified ?? new Date();
    const info = describeObject(bucket, key, source.size, meta, lastModified);
    const copySource = { "x-amz-copy-source": `/${source.bucket}/${encodeKey(source.key)}`, "x-amz-copy-source-if-match": `"${current.tierEtag}"` };
    const headers = headersFor(meta, lastModified);
    if (source.size <= MAX_COPY) {
      await this.copyInPlace(bucket, key, { ...headers, ...copySource, "x-amz-metadata-directive": "REPLACE" });
    } else {
      await this.multipart(bucket, key, headers, source.size, COPY_PART_SIZE, (partNumber, start, end, uploadId) =>
        this.expectXml(this.http.send({
          method: "PUT", bucket, key,
          query: { partNumber: String(partNumber), uploadId },
          headers: { ...copySource, "x-amz-copy-source-range": `bytes=${start}-${end - 1}` },
        }), `UploadPartCopy ${bucket}/${key}`, bucket, key).then((xml) => unquoteEtag(xmlValue(xml, "ETag") ?? "")),
      );
    }
    await this.replaced(previous, info);
    return info;
  }

  async deleteObject(bucket: string, key: string): Promise<boolean> {
    const previous = await this.headObject(bucket, key);
    if (previous === undefined) return false;
    await this.deleteKey(bucket, key);
    if (previous.chunkSize !== undefined) await this.deleteCacheKeys(await this.listAllKeys(this.cache, chunkPrefix(bucket, key)));
    return true;
  }

  /** The tier's listing has no metadata: each entry is HEADed (PARALLEL_HEADS at a time) for its real size, ETag and dates. */
  async listObjects(bucket: string, options: ListOptions): Promise<ObjectInfo[]> {
    const listed = await this.listTier(bucket, options.prefix ?? "", options.startAfter, options.limit);
    const infos = await mapLimited(listed, PARALLEL_HEADS, (entry) => this.headObject(bucket, entry.key));
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

  // ---- multipart uploads: 1:1 tier multipart uploads, plus a JSON marker with what the tier does not keep

  async createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> {
    requireStorableKey(key);
    const headers = headersFor({ etag: "", headers: meta.headers, userMetadata: meta.userMetadata, origin: "local" }, new Date());
    const xml = await this.expectXml(this.http.send({ method: "POST", bucket, key, query: { uploads: "" }, headers: onlyClientHeaders(headers) }), `CreateMultipartUpload ${bucket}/${key}`, bucket, key);
    const upload: UploadInfo = { uploadId: xmlValue(xml, "UploadId")!, bucket, key, initiated: new Date(), headers: { ...meta.headers }, userMetadata: { ...meta.userMetadata } };
    if (meta.checksumAlgorithm !== undefined) upload.checksumAlgorithm = meta.checksumAlgorithm;
    const body = Buffer.from(JSON.stringify(upload));
    await this.putBody(this.cache, uploadMarker(upload.uploadId), { "content-type": "application/json" }, body, body.length);
    return upload;
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadInfo | undefined> {
    const upload = await this.readUploadMarker(uploadId);
    return upload?.bucket === bucket ? upload : undefined;
  }

  async putPart(uploadId: string, partNumber: number, data: StagedData, meta: { etag: string; checksum?: Checksum }): Promise<PartInfo> {
    const [file] = this.staging.take([data]) as [StagedFile];
    try {
      const upload = await this.requireUpload(uploadId);
      const response = await this.http.send({
        method: "PUT", bucket: upload.bucket, key: upload.key,
        query: { partNumber: String(partNumber), uploadId },
        body: readSpan([file], 0, file.size), contentLength: file.size,
      });
      if (response.statusCode === 404) {
        response.body.resume();
        throw errors.noSuchUpload(uploadId);
      }
      if (response.statusCode !== 200) throw await this.failure(response, `UploadPart ${upload.bucket}/${upload.key}`, upload.bucket, upload.key);
      response.body.resume();
      const tierEtag = unquoteEtag(String(response.headers.etag ?? ""));
      // What the tier cannot say about the part (our ETag if it differs, the checksum) goes into a marker's name.
      const partDir = `${uploadMarker(uploadId)}/${String(partNumber).padStart(5, "0")}/`;
      await this.deleteCacheKeys(await this.listAllKeys(this.cache, partDir));
      if (meta.checksum !== undefined || meta.etag !== tierEtag) {
        const checksum = meta.checksum ? `/${meta.checksum.algorithm}/${meta.checksum.type}/${Buffer.from(meta.checksum.value).toString("base64url")}` : "";
        await this.putBody(this.cache, `${partDir}${encodeURIComponent(meta.etag)}${checksum}`, {}, Buffer.alloc(0), 0);
      }
      const part: PartInfo = { partNumber, size: file.size, etag: meta.etag, lastModified: new Date() };
      if (meta.checksum !== undefined) part.checksum = { ...meta.checksum };
      return part;
    } finally {
      await removeAll([file]);
    }
  }

  async listParts(uploadId: string): Promise<PartInfo[]> {
    const upload = await this.requireUpload(uploadId);
    const [tierParts, markers] = await Promise.all([this.listTierParts(upload, uploadId), this.listAllKeys(this.cache, `${uploadMarker(uploadId)}/`)]);
    const own = new Map<number, { etag: string; checksum?: Checksum }>();
    for (const marker of markers) {
      const [partNumber, etag, algorithm, type, value] = marker.key.slice(uploadMarker(uploadId).length + 1).split("/");
      const entry: { etag: string; checksum?: Checksum } = { etag: decodeURIComponent(etag!) };
      if (value !== undefined) entry.checksum = { algorithm: algorithm as ChecksumAlgorithm, type: type as Checksum["type"], value: Buffer.from(value, "base64url").toString() };
      own.set(Number(partNumber), entry);
    }
    return tierParts.map((part) => {
      const mine = own.get(part.partNumber);
      const info: PartInfo = { partNumber: part.partNumber, size: part.size, etag: mine?.etag ?? part.etag, lastModified: part.lastModified };
      if (mine?.checksum) info.checksum = mine.checksum;
      return info;
    });
  }

  async listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> {
    const output = await this.control("ListMultipartUploads", () => this.sdk.send(new ListMultipartUploadsCommand({
      Bucket: bucket,
      Prefix: options.prefix || undefined,
      KeyMarker: options.keyMarker || undefined,
      UploadIdMarker: options.keyMarker ? options.uploadIdMarker || undefined : undefined,
      MaxUploads: Math.min(options.limit, 1000),
    })), bucket).catch((error: unknown) => {
      if (error instanceof S3Error && error.code === "NoSuchBucket") return { Uploads: [] };
      throw error;
    });
    return mapLimited(output.Uploads ?? [], PARALLEL_HEADS, async (entry) => {
      const marker = await this.readUploadMarker(entry.UploadId!);
      return {
        // uploads started directly on the tier have no marker
        ...(marker ?? { headers: {}, userMetadata: {} }),
        uploadId: entry.UploadId!,
        bucket,
        key: entry.Key!,
        initiated: entry.Initiated ?? marker?.initiated ?? new Date(0),
      };
    });
  }

  /**
   * The tier completes the upload (no data copied; its ETag is S3's md5-of-md5s), then a
   * metadata-only copy onto itself records what is known only now (checksum, part sizes).
   * Above 5 GiB that copy is impossible: such an object keeps the tier's own facts.
   */
  async completeUpload(uploadId: string, partNumbers: number[], meta: NewObject): Promise<ObjectInfo> {
    if (meta.chunkSize !== undefined) throw new Error("only commitObject makes a manifest (chunkSize set)");
    const upload = await this.requireUpload(uploadId);
    const { bucket, key } = upload;
    const tierParts = new Map((await this.listTierParts(upload, uploadId)).map((part) => [part.partNumber, part]));
    const chosen = partNumbers.map((partNumber) => {
      const part = tierParts.get(partNumber);
      if (part === undefined) {
        throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded.", { UploadId: uploadId, PartNumber: String(partNumber) });
      }
      return part;
    });
    const previous = await this.headObject(bucket, key);
    try {
      await this.completeTier(bucket, key, uploadId, chosen.map((part) => ({ partNumber: part.partNumber, etag: part.etag })));
    } catch (error) {
      // every listed part exists (checked above): a tier that still says InvalidPart cannot leave parts out
      if (error instanceof S3Error && error.code === "InvalidPart" && chosen.length < tierParts.size) throw subsetCompleteRefused();
      throw error;
    }
    const partSizes = meta.partSizes ?? chosen.map((part) => part.size);
    const size = partSizes.reduce((sum, partSize) => sum + partSize, 0);
    const lastModified = meta.lastModified ?? new Date();
    const full = { ...meta, partSizes };
    let info = describeObject(bucket, key, size, full, lastModified);
    if (size <= MAX_COPY) {
      await this.copyInPlace(bucket, key, { ...headersFor(full, lastModified), "x-amz-copy-source": `/${bucket}/${encodeKey(key)}`, "x-amz-metadata-directive": "REPLACE" });
    } else {
      info = (await this.headObject(bucket, key)) ?? info;
    }
    await this.deleteCacheKeys([...(await this.listAllKeys(this.cache, `${uploadMarker(uploadId)}/`)), { key: uploadMarker(uploadId), size: 0, stored: new Date() }]);
    await this.replaced(previous, info);
    return info;
  }

  async abortUpload(uploadId: string): Promise<void> {
    const upload = await this.requireUpload(uploadId);
    await this.control("AbortMultipartUpload", () => this.sdk.send(new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: uploadId })), upload.bucket, uploadId);
    await this.deleteCacheKeys([...(await this.listAllKeys(this.cache, `${uploadMarker(uploadId)}/`)), { key: uploadMarker(uploadId), size: 0, stored: new Date() }]);
  }

  // ---- chunks of large remote objects

  /** Stores the chunk only if bucket/key is a manifest of its ETag and chunk size; otherwise discards `data` and returns false. */
  async putChunk(chunk: ChunkKey, data: StagedData, crc32: string): Promise<boolean> {
    const [file] = this.staging.take([data]) as [StagedFile];
    try {
      const manifest = await this.headObject(chunk.bucket, chunk.key);
      if (manifest === undefined || manifest.etag !== chunk.etag || manifest.chunkSize !== chunk.chunkSize) return false;
      const expected = Math.min(chunk.chunkSize, manifest.size - chunk.index * chunk.chunkSize);
      if (!Number.isSafeInteger(chunk.index) || chunk.index < 0 || expected <= 0 || file.size !== expected) {
        throw new Error(`chunk ${chunk.index} of ${chunk.bucket}/${chunk.key} (${manifest.size} bytes in chunks of ${chunk.chunkSize}) cannot hold ${file.size} bytes`);
      }
      const earlier = await this.listAllKeys(this.cache, chunkDir(chunk));
      const tierKey = `${chunkDir(chunk)}${checksumInKey(crc32)}`;
      await this.putBody(this.cache, tierKey, {}, readSpan([file], 0, file.size), file.size);
      await this.deleteCacheKeys(earlier.filter((entry) => entry.key !== tierKey));
      return true;
    } finally {
      await removeAll([file]);
    }
  }

  async getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined> {
    const [found] = await this.listTier(this.cache, chunkDir(chunk), undefined, 1);
    return found && withoutTierKey(chunkFromListing(chunk.bucket, chunk.key, found));
  }

  /** No access tracking on a shared tier: lastAccess stays the chunk's write time. */
  readChunk(chunk: ChunkInfo, range?: ByteRange): Readable {
    const key = `${chunkDir(chunk)}${checksumInKey(chunk.crc32)}`;
    const store = this;
    const wanted = range ?? { start: 0, end: chunk.size - 1 };
    return openedOnFirstRead(async () => {
      const headers = range ? { range: `bytes=${range.start}-${range.end}` } : undefined;
      const response = await store.http.send({ method: "GET", bucket: store.cache, key, headers });
      if (response.statusCode === 404) {
        response.body.resume();
        throw errors.noSuchKey(chunk.key);
      }
      if (response.statusCode !== 200 && response.statusCode !== 206) throw await store.failure(response, `GET chunk ${chunk.index} of ${chunk.bucket}/${chunk.key}`, store.cache, key);
      if (Number(response.headers["content-length"]) !== wanted.end - wanted.start + 1) {
        dropBody(response);
        throw errors.noSuchKey(chunk.key);
      }
      return response.body;
    });
  }

  async deleteChunk(chunk: ChunkKey): Promise<void> {
    await this.deleteCacheKeys(await this.listAllKeys(this.cache, chunkDir(chunk)));
  }

  async listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]> {
    const listed = await this.listAllKeys(this.cache, `${chunkPrefix(bucket, key)}${encodeURIComponent(etag)}/`);
    return listed.map((entry) => withoutTierKey(chunkFromListing(bucket, key, entry)));
  }

  // ---- cache accounting and eviction: full scans of the tier (slow on big buckets; used by status and the evictor)

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
      usage.tombstones = (await this.listAllKeys(this.cache, `tombstones/${bucket}/${options.prefix ?? ""}`)).length;
      result.push(usage);
    }
    return result;
  }

  /** Bytes of all objects in all buckets and the cache bucket, as the tier stores them (parts of unfinished uploads not counted). */
  async diskUsage(): Promise<number> {
    const buckets = [...(await this.listBuckets()).map((bucket) => bucket.name), this.cache];
    let total = 0;
    for (const bucket of buckets) for (const entry of await this.listAllKeys(bucket, "")) total += entry.size;
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
      if ((await this.getChunk(chunk)) === undefined) return false;
      await this.deleteChunk(chunk);
      return true;
    }
    const current = await this.headObject(entry.bucket, entry.key);
    const stillCached = current !== undefined && current.origin === "remote" && current.etag === entry.etag && (current.chunkSize !== undefined) === (entry.kind === "manifest");
    if (!stillCached) return false;
    await this.deleteObject(entry.bucket, entry.key);
    return true;
  }

  // ---- tombstones: zero-byte objects in the cache bucket, seen by every process on the tier

  async putTombstone(bucket: string, key: string): Promise<void> {
    requireStorableKey(key);
    if (!(await this.bucketExists(bucket))) throw errors.noSuchBucket(bucket);
    if (!fitsTier(tombstoneKey(bucket, key))) {
      throw new S3Error("KeyTooLongError", "This key is too long for the S3 local tier to remember its deletion (the tombstone's key would exceed 1024 bytes).");
    }
    await this.putBody(this.cache, tombstoneKey(bucket, key), {}, Buffer.alloc(0), 0);
  }

  async hasTombstone(bucket: string, key: string): Promise<boolean> {
    // a key too long for a tombstone, or one the tier cannot store, never has one (putTombstone refuses it)
    if (!fitsTier(tombstoneKey(bucket, key)) || !storableKey(key)) return false;
    return this.exists(this.cache, tombstoneKey(bucket, key));
  }

  async deleteTombstone(bucket: string, key: string): Promise<boolean> {
    if (!(await this.hasTombstone(bucket, key))) return false;
    await this.deleteKey(this.cache, tombstoneKey(bucket, key));
    return true;
  }

  async listTombstones(bucket: string, options: ListOptions): Promise<string[]> {
    const base = `tombstones/${bucket}/`;
    const listed = await this.listTier(this.cache, base + (options.prefix ?? ""), options.startAfter === undefined ? undefined : base + options.startAfter, options.limit);
    return listed.map((entry) => entry.key.slice(base.length));
  }

  // ---- negative cache: marker objects with an expiry, seen by every process on the tier

  async rememberAbsent(bucket: string, key: string, until: Date): Promise<void> {
    await this.putBody(this.cache, absentKey(bucket, key), { [ABSENT_UNTIL]: String(until.getTime()) }, Buffer.alloc(0), 0);
  }

  async absentUntil(bucket: string, key: string): Promise<Date | undefined> {
    const response = await this.http.send({ method: "HEAD", bucket: this.cache, key: absentKey(bucket, key) });
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) throw await this.failure(response, "HEAD of a negative-cache marker", this.cache);
    const until = Number(response.headers[ABSENT_UNTIL]);
    if (Number.isFinite(until) && until > Date.now()) return new Date(until);
    // expired: whoever sees it first removes it
    await this.deleteKey(this.cache, absentKey(bucket, key));
    return undefined;
  }

  async forgetAbsent(bucket: string, key: string): Promise<void> {
    await this.deleteKey(this.cache, absentKey(bucket, key));
  }

  // ---- helpers: tier requests

  private location(): { CreateBucketConfiguration?: { LocationConstraint: never } } {
    const location = this.options.defaultBucketLocation;
    if (location === "" || location === "us-east-1") return {};
    return { CreateBucketConfiguration: { LocationConstraint: location as never } };
  }

  private bucketRegion(): string {
    return this.options.defaultBucketLocation || this.options.region;
  }

  /** An SDK control call; its failures become the S3 errors a client should see. */
  private async control<T>(what: string, run: () => Promise<T>, bucket?: string, uploadId?: string): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const err = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
      const status = err.$metadata?.httpStatusCode;
      const code = err.Code ?? err.name ?? "";
      if (status === undefined) throw tierUnavailable(this.http.host, `${noAnswer(error, this.http.timeoutMs)} (${what})`);
      if (status >= 500) throw tierUnavailable(this.http.host, `answered ${code || `HTTP ${status}`} to ${what}`);
      if (code === "NoSuchBucket" && bucket !== undefined) throw errors.noSuchBucket(bucket);
      if (code === "NoSuchUpload" && uploadId !== undefined) throw errors.noSuchUpload(uploadId);
      if (code === "BucketNotEmpty") throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: bucket ?? "" });
      if (status === 403) throw new S3Error("AccessDenied", `the S3 local tier at ${this.http.host} denied ${what} (${code}): check the local tier credentials`);
      throw new S3Error(code || "InternalError", `the S3 local tier at ${this.http.host} answered ${code || `HTTP ${status}`} to ${what}`);
    }
  }

  /** The S3 error for a non-2xx answer of a signed request. */
  private async failure(response: Dispatcher.ResponseData, what: string, bucket: string, key?: string): Promise<S3Error> {
    const error = await errorFrom(response, this.http.host, what);
    if (error.code === "NoSuchBucket") return errors.noSuchBucket(bucket);
    if (error.code === "NoSuchKey" && key !== undefined) return errors.noSuchKey(key);
    return error;
  }

  /** Awaits a request that answers XML; a 200 carrying <Error> (CompleteMultipartUpload, CopyObject) is a failure too. */
  private async expectXml(pending: Promise<Dispatcher.ResponseData>, what: string, bucket: string, key?: string): Promise<string> {
    const response = await pending;
    if (response.statusCode !== 200) throw await this.failure(response, what, bucket, key);
    const xml = await response.body.text();
    const code = /<Error>[\s\S]*?<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
    if (code !== undefined) throw code === "InternalError" || code === "SlowDown" ? tierUnavailable(this.http.host, `answered ${code} to ${what}`) : new S3Error(code, `the S3 local tier answered ${code} to ${what}`);
    return xml;
  }

  private async headStored(bucket: string, key: string): Promise<{ info: ObjectInfo; tierEtag: string } | undefined> {
    if (!storableKey(key)) return undefined;
    const response = await this.http.send({ method: "HEAD", bucket, key });
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) throw await this.failure(response, `HEAD ${bucket}/${key}`, bucket, key);
    return { info: infoFromHeaders(bucket, key, response.headers), tierEtag: unquoteEtag(String(response.headers.etag ?? "")) };
  }

  private async exists(bucket: string, key: string): Promise<boolean> {
    return (await this.headStored(bucket, key)) !== undefined;
  }

  private async bucketExists(bucket: string): Promise<boolean> {
    const response = await this.http.send({ method: "HEAD", bucket });
    response.body.resume();
    if (response.statusCode === 404) return false;
    if (response.statusCode !== 200) throw await this.failure(response, `HEAD bucket ${bucket}`, bucket);
    return true;
  }

  private async putBody(bucket: string, key: string, headers: Record<string, string>, body: Readable | Buffer, length: number): Promise<void> {
    const response = await this.http.send({ method: "PUT", bucket, key, headers, body, contentLength: length });
    if (response.statusCode !== 200) throw await this.failure(response, `PUT ${bucket}/${key}`, bucket, key);
    response.body.resume();
  }

  private async deleteKey(bucket: string, key: string): Promise<void> {
    const response = await this.http.send({ method: "DELETE", bucket, key });
    if (response.statusCode !== 204 && response.statusCode !== 200 && response.statusCode !== 404) throw await this.failure(response, `DELETE ${bucket}/${key}`, bucket, key);
    response.body.resume();
  }

  private async deleteCacheKeys(entries: ListedObject[]): Promise<void> {
    await mapLimited(entries, PARALLEL_HEADS, (entry) => this.deleteKey(this.cache, entry.key));
  }

  private async copyInPlace(bucket: string, key: string, headers: Record<string, string>): Promise<void> {
    const response = this.http.send({ method: "PUT", bucket, key, headers });
    const what = `CopyObject to ${bucket}/${key}`;
    try {
      await this.expectXml(response, what, bucket, key);
    } catch (error) {
      // the source changed since it was checked
      if (error instanceof S3Error && error.code === "PreconditionFailed") throw errors.noSuchKey(key);
      throw error;
    }
  }

  /** Staged files to bucket/key: one PUT, or a parallel multipart upload when large. */
  private async upload(bucket: string, key: string, files: StagedFile[], size: number, headers: Record<string, string>): Promise<void> {
    if (size <= PART_SIZE) return this.putBody(bucket, key, headers, readSpan(files, 0, size), size);
    await this.multipart(bucket, key, headers, size, PART_SIZE, async (partNumber, start, end, uploadId) => {
      const response = await this.http.send({
        method: "PUT", bucket, key, query: { partNumber: String(partNumber), uploadId }, body: readSpan(files, start, end), contentLength: end - start,
      });
      if (response.statusCode !== 200) throw await this.failure(response, `UploadPart ${bucket}/${key}`, bucket, key);
      response.body.resume();
      return unquoteEtag(String(response.headers.etag ?? ""));
    });
  }

  /** A tier multipart upload of `size` bytes in parts of `partSize`, PARALLEL_PARTS at a time; aborted on failure. */
  private async multipart(
    bucket: string, key: string, headers: Record<string, string>, size: number, partSize: number,
    sendPart: (partNumber: number, start: number, end: number, uploadId: string) => Promise<string>,
  ): Promise<void> {
    const xml = await this.expectXml(this.http.send({ method: "POST", bucket, key, query: { uploads: "" }, headers }), `CreateMultipartUpload ${bucket}/${key}`, bucket, key);
    const uploadId = xmlValue(xml, "UploadId")!;
    try {
      const numbers = Array.from({ length: Math.ceil(size / partSize) }, (_, i) => i + 1);
      const etags = await mapLimited(numbers, PARALLEL_PARTS, (n) => sendPart(n, (n - 1) * partSize, Math.min(n * partSize, size), uploadId));
      await this.completeTier(bucket, key, uploadId, numbers.map((partNumber, i) => ({ partNumber, etag: etags[i]! })));
    } catch (error) {
      await this.http.send({ method: "DELETE", bucket, key, query: { uploadId } }).then((r) => r.body.resume(), () => undefined);
      throw error;
    }
  }

  private async completeTier(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void> {
    const body = Buffer.from(
      `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${p.etag}"</ETag></Part>`).join("")}</CompleteMultipartUpload>`,
    );
    const response = this.http.send({ method: "POST", bucket, key, query: { uploadId }, headers: { "content-type": "application/xml" }, body, contentLength: body.length });
    await this.expectXml(response, `CompleteMultipartUpload ${bucket}/${key}`, bucket, key);
  }

  private async listTierParts(upload: UploadInfo, uploadId: string): Promise<{ partNumber: number; etag: string; size: number; lastModified: Date }[]> {
    const parts: { partNumber: number; etag: string; size: number; lastModified: Date }[] = [];
    let marker: string | undefined;
    do {
      const output = await this.control("ListParts", () => this.sdk.send(new ListPartsCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: uploadId, PartNumberMarker: marker })), upload.bucket, uploadId);
      for (const part of output.Parts ?? []) {
        parts.push({ partNumber: part.PartNumber!, etag: unquoteEtag(part.ETag ?? ""), size: part.Size ?? 0, lastModified: part.LastModified ?? new Date(0) });
      }
      marker = output.IsTruncated ? output.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  private async readUploadMarker(uploadId: string): Promise<UploadInfo | undefined> {
    const response = await this.http.send({ method: "GET", bucket: this.cache, key: uploadMarker(uploadId) });
    if (response.statusCode === 404) {
      response.body.resume();
      return undefined;
    }
    if (response.statusCode !== 200) throw await this.failure(response, `GET upload ${uploadId}`, this.cache);
    const upload = (await response.body.json()) as UploadInfo & { initiated: string };
    return { ...upload, initiated: new Date(upload.initiated) };
  }

  private async requireUpload(uploadId: string): Promise<UploadInfo> {
    const upload = await this.readUploadMarker(uploadId);
    if (upload === undefined) throw errors.noSuchUpload(uploadId);
    return upload;
  }

  /** Up to `limit` keys of a tier bucket after startAfter under prefix, in the tier's (UTF-8 byte) order. */
  private async listTier(bucket: string, prefix: string, startAfter: string | undefined, limit: number): Promise<ListedObject[]> {
    const listed: ListedObject[] = [];
    let token: string | undefined;
    do {
      const output = await this.control("ListObjectsV2", () => this.sdk.send(new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix || undefined,
        StartAfter: token === undefined ? startAfter : undefined,
        ContinuationToken: token,
        MaxKeys: Math.min(limit - listed.length, 1000),
      })), bucket).catch((error: unknown) => {
        if (error instanceof S3Error && error.code === "NoSuchBucket") return { Contents: [] as _Object[], IsTruncated: false, NextContinuationToken: undefined };
        throw error;
      });
      for (const entry of output.Contents ?? []) listed.push({ key: entry.Key!, size: entry.Size ?? 0, stored: entry.LastModified ?? new Date(0) });
      token = output.IsTruncated ? output.NextContinuationToken : undefined;
    } while (token !== undefined && listed.length < limit);
    return listed;
  }

  private listAllKeys(bucket: string, prefix: string): Promise<ListedObject[]> {
    return this.listTier(bucket, prefix, undefined, Infinity);
  }

  /** After bucket/key became `info`: a replaced manifest's chunks go (unless it is the same manifest again); a client write clears the tombstone. */
  private async replaced(previous: ObjectInfo | undefined, info: ObjectInfo): Promise<void> {
    const sameManifest = previous?.chunkSize !== undefined && previous.chunkSize === info.chunkSize && previous.etag === info.etag && previous.size === info.size;
    if (previous?.chunkSize !== undefined && !sameManifest) await this.deleteCacheKeys(await this.listAllKeys(this.cache, chunkPrefix(info.bucket, info.key)));
    if (info.origin === "local") await this.deleteTombstone(info.bucket, info.key);
  }

  private async bucketsFor(options: UsageOptions): Promise<string[]> {
    if (options.bucket !== undefined) return (await this.bucketExists(options.bucket)) ? [options.bucket] : [];
    return (await this.listBuckets()).map((bucket) => bucket.name);
  }

  /** Every object under prefix (HEADed) and the chunks of the manifests among them. */
  private async scan(bucket: string, prefix: string): Promise<{ objects: { info: ObjectInfo; stored: Date }[]; chunks: ChunkInfo[] }> {
    const listed = await this.listAllKeys(bucket, prefix);
    const heads = await mapLimited(listed, PARALLEL_HEADS, async (entry) => {
      const info = await this.headObject(bucket, entry.key);
      return info && { info, stored: entry.stored };
    });
    const objects = heads.filter((entry): entry is { info: ObjectInfo; stored: Date } => entry !== undefined);
    const manifests = new Map(objects.filter(({ info }) => info.chunkSize !== undefined).map(({ info }) => [hashKey(info.key), info]));
    const chunks: ChunkInfo[] = [];
    for (const entry of await this.listAllKeys(this.cache, `chunks/${bucket}/`)) {
      const manifest = manifests.get(entry.key.split("/")[2]!);
      if (manifest === undefined) continue;
      const chunk = chunkFromListing(bucket, manifest.key, entry);
      if (chunk.etag === manifest.etag && chunk.chunkSize === manifest.chunkSize) chunks.push(withoutTierKey(chunk));
    }
    return { objects, chunks };
  }
}

// ---- cache bucket keys

function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** The chunk's checksum text (opaque to the store) as one key segment. */
function checksumInKey(crc32: string): string {
  return Buffer.from(crc32, "utf8").toString("base64url");
}

const ABSENT_UNTIL = "x-amz-meta-s3o-absent-until";

/** Hashed: a marker must fit the tier's key limit whatever the key's length. */
function absentKey(bucket: string, key: string): string {
  return `absent/${bucket}/${hashKey(key)}`;
}

function tombstoneKey(bucket: string, key: string): string {
  return `tombstones/${bucket}/${key}`;
}

function subsetCompleteRefused(): S3Error {
  return new S3Error(
    "NotImplemented",
    "The S3 local tier cannot complete an upload with a subset of its uploaded parts (Ceph RGW refuses it). " +
      "The upload is unchanged: complete it with every uploaded part, or abort it and upload again.",
  );
}

/** Ceph RGW refuses keys containing NUL (every other character is fine), and a tier cannot hold what it refuses. */
function storableKey(key: string): boolean {
  return !key.includes("\u0000");
}

function requireStorableKey(key: string): void {
  if (!storableKey(key)) throw errors.invalidArgument("The S3 local tier cannot store a key that contains U+0000 (NUL).", "key");
}

/** S3 keys are at most 1024 bytes of UTF-8. */
function fitsTier(tierKey: string): boolean {
  return Buffer.byteLength(tierKey, "utf8") <= 1024;
}

function chunkPrefix(bucket: string, key: string): string {
  return `chunks/${bucket}/${hashKey(key)}/`;
}

/** Everything of one chunk but its CRC32, which ends the tier key. */
function chunkDir(chunk: ChunkKey): string {
  return `${chunkPrefix(chunk.bucket, chunk.key)}${encodeURIComponent(chunk.etag)}/${String(chunk.chunkSize).padStart(12, "0")}/${String(chunk.index).padStart(10, "0")}/`;
}

function chunkFromListing(bucket: string, key: string, entry: ListedObject): StoredChunk {
  const [, , , etag, chunkSize, index, crc32] = entry.key.split("/");
  return {
    bucket, key,
    etag: decodeURIComponent(etag!),
    chunkSize: Number(chunkSize),
    index: Number(index),
    size: entry.size,
    crc32: Buffer.from(crc32!, "base64url").toString("utf8"),
    lastAccess: entry.stored,
    tierKey: entry.key,
  };
}

function withoutTierKey({ tierKey: _, ...chunk }: StoredChunk): ChunkInfo {
  return chunk;
}

function uploadMarker(uploadId: string): string {
  return `uploads/${hashKey(uploadId)}`;
}

// ---- small helpers

/** Stops an unwanted body without reading it (undici reports the abort as an error: nobody needs it). */
function dropBody(response: Dispatcher.ResponseData): void {
  response.body.on("error", () => undefined).destroy();
}

function requireManifest(data: StagedData[], meta: NewObject): void {
  if (data.length > 0) throw new Error("a manifest (chunkSize set) is committed without staged data");
  if (meta.remote === undefined) throw new Error("a manifest (chunkSize set) needs meta.remote: its size is the remote object's");
  if (!Number.isSafeInteger(meta.chunkSize) || meta.chunkSize! <= 0) throw new Error(`invalid chunk size ${meta.chunkSize}`);
}

/** The content headers and user metadata of an upload: the rest is only known at completion. */
function onlyClientHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith("x-amz-meta-s3o-")));
}

function xmlValue(xml: string, element: string): string | undefined {
  const raw = new RegExp(`<${element}>([^<]*)</${element}>`).exec(xml)?.[1];
  return raw?.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
