// The S3-compatible local tier (MinIO, Ceph RGW, any S3 endpoint) as the Store.
// Objects live 1:1 in same-named buckets on the tier; what the overlay must
// remember lives in the tier too (so several `serve` processes share one overlay
// and the proxy keeps no state): object facts in x-amz-meta-s3o-* metadata
// (metadata.ts), tombstones, remote 404s, chunks and upload bookkeeping as marker
// objects in the cache bucket (layout: cache-keys.ts). Data goes over signed plain
// HTTP (src/upstream/, shared with the remote); listings and multipart bookkeeping use its SDK client.
//
// This file only composes the parts: tier.ts (requests, errors, listing),
// buckets.ts, objects.ts + transfer.ts (data path), uploads.ts, chunks.ts,
// markers.ts (tombstones, absent), accounting.ts (usage, listCached, evict).
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import { UpstreamClient } from "../../upstream/client.js";
import { controlClient } from "../../upstream/control-client.js";
import type {
  BucketInfo, BucketUsage, ByteRange, CachedEntry, Checksum, ChunkInfo, ChunkKey, ChunkVersion, ListCachedOptions, ListOptions, ListUploadsOptions,
  NewObject, ObjectInfo, PartInfo, StagedData, Store, UploadInfo, UsageOptions,
} from "../types.js";
import { Accounting } from "./accounting.js";
import { Buckets } from "./buckets.js";
import { Chunks } from "./chunks.js";
import { Markers } from "./markers.js";
import { Objects } from "./objects.js";
import { Staging } from "./staging.js";
import { Tier } from "./tier.js";
import { Transfer } from "./transfer.js";
import { Uploads } from "./uploads.js";

export interface S3StoreOptions {
  /** e.g. http://127.0.0.1:9000; addressed path style */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** holds tombstones, chunks and upload bookkeeping; created if missing, hidden from bucket listings */
  cacheBucket: string;
  /** LocationConstraint for buckets the store creates; "" or "us-east-1" sends none */
  defaultBucketLocation: string;
  /** where staged bytes wait before they go to the tier (default: <os tmpdir>/s3-overlay-staging) */
  stagingDir?: string;
  /** how long the tier may be silent before a call fails (default 30 s); SDK calls make 2 attempts */
  timeoutMs?: number;
}

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

export class S3Store implements Store {
  private readonly http: UpstreamClient;
  private readonly sdk: S3Client;
  private readonly staging: Staging;
  private readonly tier: Tier;
  private readonly buckets: Buckets;
  private readonly objects: Objects;
  private readonly uploads: Uploads;
  private readonly chunks: Chunks;
  private readonly markers: Markers;
  private readonly accounting: Accounting;

  constructor(options: S3StoreOptions) {
    this.http = new UpstreamClient({
      role: "the S3 local tier",
      credentialsName: "local tier",
      endpoint: options.endpoint,
      region: options.region,
      credentials: options.credentials,
      addressingStyle: "path",
      timeoutMs: options.timeoutMs ?? 30_000,
      idleMs: 30_000,
      // data requests are not retried: a tier that does not answer fails the call after one timeout
      attempts: 1,
      controlAttempts: 2,
    });
    this.sdk = controlClient(this.http);
    // staged files are owned by the store itself: take() refuses another store's
    this.staging = new Staging(this, options.stagingDir ?? join(tmpdir(), "s3-overlay-staging"));
    const tier = (this.tier = new Tier(this.http, this.sdk, options.cacheBucket));
    const transfer = new Transfer(tier);
    this.markers = new Markers(tier);
    this.chunks = new Chunks(tier, this.staging);
    this.objects = new Objects(tier, this.staging, transfer, this.chunks, this.markers);
    this.uploads = new Uploads(tier, this.staging, transfer, this.objects);
    const hasUploads = async (bucket: string) => (await this.uploads.listUploads(bucket, { limit: 1 })).length > 0;
    this.buckets = new Buckets(tier, options.defaultBucketLocation, options.region, hasUploads);
    this.accounting = new Accounting(tier, this.chunks, this.objects, this.markers, () => this.buckets.names());
  }

  /** @internal used by openS3Store: the staging directory and the cache bucket exist afterwards */
  async prepare(): Promise<void> {
    await this.staging.prepare();
    await this.buckets.prepare();
  }

  async close(): Promise<void> {
    this.sdk.destroy();
    await this.http.close();
  }

  // ---- buckets
  listBuckets(): Promise<BucketInfo[]> { return this.buckets.listBuckets(); }
  getBucket(name: string): Promise<BucketInfo | undefined> { return this.buckets.getBucket(name); }
  createBucket(name: string, region: string): Promise<boolean> { return this.buckets.createBucket(name, region); }
  deleteBucket(name: string): Promise<void> { return this.buckets.deleteBucket(name); }

  // ---- objects
  headObject(bucket: string, key: string, intent?: "read"): Promise<ObjectInfo | undefined> {
    return intent === "read" ? this.objects.lookupForRead(bucket, key) : this.tier.headObject(bucket, key);
  }
  readObject(info: ObjectInfo, range?: ByteRange): Readable { return this.objects.readObject(info, range); }
  stage(body: Readable): Promise<StagedData> { return this.staging.stage(body); }
  adoptFile(path: string): Promise<StagedData> { return this.staging.adopt(path); }
  commitObject(bucket: string, key: string, data: StagedData[], meta: NewObject): Promise<ObjectInfo> { return this.objects.commitObject(bucket, key, data, meta); }
  copyObject(source: ObjectInfo, bucket: string, key: string, meta: NewObject): Promise<ObjectInfo> { return this.objects.copyObject(source, bucket, key, meta); }
  deleteObject(bucket: string, key: string): Promise<boolean> { return this.objects.deleteObject(bucket, key); }
  listObjects(bucket: string, options: ListOptions): Promise<ObjectInfo[]> { return this.objects.listObjects(bucket, options); }
  listClientWrites(bucket: string, options: ListOptions): Promise<ObjectInfo[]> { return this.objects.listClientWrites(bucket, options); }

  // ---- multipart uploads
  createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> { return this.uploads.createUpload(bucket, key, meta); }
  getUpload(bucket: string, uploadId: string): Promise<UploadInfo | undefined> { return this.uploads.getUpload(bucket, uploadId); }
  putPart(uploadId: string, partNumber: number, data: StagedData, meta: { etag: string; checksum?: Checksum }): Promise<PartInfo> { return this.uploads.putPart(uploadId, partNumber, data, meta); }
  listParts(uploadId: string): Promise<PartInfo[]> { return this.uploads.listParts(uploadId); }
  listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> { return this.uploads.listUploads(bucket, options); }
  completeUpload(uploadId: string, partNumbers: number[], meta: NewObject): Promise<ObjectInfo> { return this.uploads.completeUpload(uploadId, partNumbers, meta); }
  abortUpload(uploadId: string): Promise<void> { return this.uploads.abortUpload(uploadId); }

  // ---- chunks of large remote objects
  putChunk(chunk: ChunkKey, data: StagedData, crc32: string): Promise<boolean> { return this.chunks.putChunk(chunk, data, crc32); }
  getChunk(chunk: ChunkKey): Promise<ChunkInfo | undefined> { return this.chunks.getChunk(chunk); }
  readChunk(chunk: ChunkInfo, range?: ByteRange): Readable { return this.chunks.readChunk(chunk, range); }
  deleteChunk(chunk: ChunkKey): Promise<void> { return this.chunks.deleteChunk(chunk); }
  chunksIn(version: ChunkVersion, range: ByteRange): Promise<ChunkInfo[]> { return this.chunks.chunksIn(version, range); }
  listChunks(bucket: string, key: string, etag: string): Promise<ChunkInfo[]> { return this.chunks.listChunks(bucket, key, etag); }

  // ---- accounting and eviction
  usage(options: UsageOptions): Promise<BucketUsage[]> { return this.accounting.usage(options); }
  diskUsage(): Promise<number> { return this.accounting.diskUsage(); }
  listCached(options: ListCachedOptions): Promise<CachedEntry[]> { return this.accounting.listCached(options); }
  evict(entry: CachedEntry): Promise<boolean> { return this.accounting.evict(entry); }

  // ---- tombstones and the negative cache
  putTombstone(bucket: string, key: string): Promise<void> { return this.markers.putTombstone(bucket, key); }
  hasTombstone(bucket: string, key: string): Promise<boolean> { return this.markers.hasTombstone(bucket, key); }
  deleteTombstone(bucket: string, key: string): Promise<boolean> { return this.markers.deleteTombstone(bucket, key); }
  listTombstones(bucket: string, options: ListOptions): Promise<string[]> { return this.markers.listTombstones(bucket, options); }
  rememberAbsent(bucket: string, key: string, until: Date): Promise<void> { return this.markers.rememberAbsent(bucket, key, until); }
  absentUntil(bucket: string, key: string): Promise<Date | undefined> { return this.markers.absentUntil(bucket, key); }
  forgetAbsent(bucket: string, key: string): Promise<void> { return this.markers.forgetAbsent(bucket, key); }
}
