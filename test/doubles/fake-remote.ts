// A remote bucket in memory that answers like S3 (ranges, If-Match, 404s, 416),
// for the engine's unit tests: objects and ETags are set by the test, every
// request is counted and logged, calls can be made to fail or wait.
// The real Remote's HTTP, signing and retries are tested against RGW (test/e2e).
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { S3Error } from "../../src/s3/errors.js";
import { compareKeys } from "../../src/store/fs/key-order.js";
import { firstBytes } from "../../src/engine/first-bytes.js";
import { type ReadOptions, type RemoteApi, type RemoteObject, type RemoteRead, type RemoteVersion, type VersionPage } from "../../src/engine/remote.js";
import { RemoteHealth } from "../../src/engine/remote-health.js";
import type { ContentHeaders } from "../../src/store/types.js";

export type RemoteMethod = "HEAD" | "GET" | "LIST" | "LIST_VERSIONS" | "HEAD_BUCKET";

/** One request the engine made, as the remote saw it. */
export interface RemoteRequest {
  method: RemoteMethod;
  bucket: string;
  key?: string;
  range?: { start: number; end: number };
  ifMatch?: string;
  versionId?: string;
}

interface FakeObject {
  bytes: Buffer;
  etag: string;
  lastModified: Date;
  headers: ContentHeaders;
  userMetadata: Record<string, string>;
  /** "null" on an unversioned bucket */
  versionId: string;
  /** a delete marker of a versioned bucket: no bytes */
  deleteMarker?: boolean;
}

export interface PutOptions {
  /** default: the MD5 of the bytes, as S3 gives a single-part object */
  etag?: string;
  headers?: ContentHeaders;
  userMetadata?: Record<string, string>;
  lastModified?: Date;
}

/** Decides a request's fate before it is answered: throw to fail it, await to hold it. */
export type Interceptor = (request: RemoteRequest) => void | Promise<void>;

export class FakeRemote implements RemoteApi {
  readonly health = new RemoteHealth("fake-remote");
  readonly requests: RemoteRequest[] = [];
  /** runs before every request; tests set it to fail or delay calls */
  intercept: Interceptor | undefined;
  /** bytes per body chunk: small enough that a body arrives in pieces */
  pieceSize = 64 * 1024;
  /** per bucket and key, its versions newest first (one "null" version unless versioned) */
  private readonly buckets = new Map<string, Map<string, FakeObject[]>>();
  /** buckets with versioning enabled: a put adds a version, a remove a delete marker */
  private readonly versioned = new Set<string>();
  private versionCounter = 0;

  /** `mapped`: local buckets that overlay this remote (same names); each exists on the remote. */
  constructor(private readonly mapped: string[] = ["remote"]) {
    for (const bucket of mapped) this.buckets.set(bucket, new Map());
  }

  /** Turns versioning on for a bucket, as PutBucketVersioning Enabled does. */
  enableVersioning(bucket: string): void {
    this.bucketOf(bucket);
    this.versioned.add(bucket);
  }

  put(bucket: string, key: string, data: Buffer | string, options: PutOptions = {}): RemoteObject {
    const bytes = Buffer.from(data);
    const object: FakeObject = {
      bytes,
      etag: options.etag ?? createHash("md5").update(bytes).digest("hex"),
      lastModified: options.lastModified ?? new Date("2024-01-02T03:04:05.000Z"),
      headers: options.headers ?? {},
      userMetadata: options.userMetadata ?? {},
      versionId: this.nextVersionId(bucket),
    };
    this.addVersion(bucket, key, object);
    return describe(key, object);
  }

  /** A DELETE: on a versioned bucket a delete marker (at `at`), else the object is gone. */
  remove(bucket: string, key: string, at = new Date()): void {
    if (!this.versioned.has(bucket)) {
      this.buckets.get(bucket)?.delete(key);
      return;
    }
    this.addVersion(bucket, key, { bytes: Buffer.alloc(0), etag: "", lastModified: at, headers: {}, userMetadata: {}, versionId: this.nextVersionId(bucket), deleteMarker: true });
  }

  /** A DELETE of one version: it is gone for good. */
  removeVersion(bucket: string, key: string, versionId: string): void {
    const versions = this.buckets.get(bucket)?.get(key)?.filter((version) => version.versionId !== versionId);
    if (versions?.length) this.buckets.get(bucket)!.set(key, versions);
    else this.buckets.get(bucket)?.delete(key);
  }

  /** Requests of one method (and key), for asserting what reached the remote. */
  count(method: RemoteMethod, key?: string): number {
    return this.requests.filter((request) => request.method === method && (key === undefined || request.key === key)).length;
  }

  overlays(localBucket: string): boolean {
    return this.mapped.includes(localBucket);
  }

  mappedBuckets(): string[] {
    return [...this.mapped];
  }

  async head(bucket: string, key: string, options: Pick<ReadOptions, "versionId"> = {}): Promise<RemoteObject | undefined> {
    await this.request({ method: "HEAD", bucket, key, versionId: options.versionId });
    const object = this.find(bucket, key, options.versionId);
    return object && describe(key, object);
  }

  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    await this.request({ method: "GET", bucket, key, range: options.range, ifMatch: options.ifMatch, versionId: options.versionId });
    const object = this.find(bucket, key, options.versionId);
    if (!object) return undefined;
    if (options.ifMatch !== undefined && options.ifMatch !== object.etag) {
      throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
    }
    const size = object.bytes.length;
    if (options.range && options.range.start >= size) throw new S3Error("InvalidRange", "The requested range is not satisfiable");
    const start = options.range?.start ?? 0;
    const end = Math.min(options.range?.end ?? size - 1, size - 1);
    const bytes = object.bytes.subarray(start, end + 1);
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += this.pieceSize) pieces.push(bytes.subarray(at, at + this.pieceSize));
    return { object: describe(key, object), status: options.range ? 206 : 200, body: Readable.from(pieces, { objectMode: false }) };
  }

  /** Like Remote: a ranged GET of the first bytes; an empty object answers 416 to it, then a plain GET. */
  getFirstBytes(bucket: string, key: string, count: number): Promise<RemoteRead | undefined> {
    return firstBytes(this, bucket, key, count);
  }

  async bucketExists(bucket: string): Promise<boolean> {
    await this.request({ method: "HEAD_BUCKET", bucket });
    return this.buckets.has(bucket);
  }

  async list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]> {
    await this.request({ method: "LIST", bucket });
    return this.keysAfter(bucket, options.prefix, options.startAfter)
      .filter((key) => this.find(bucket, key) !== undefined)
      .slice(0, Math.min(options.limit, 1000))
      // a listing carries no content headers or metadata, as from S3
      .map((key) => ({ ...describe(key, this.find(bucket, key)!), headers: {}, userMetadata: {} }));
  }

  async listVersions(bucket: string, options: { prefix?: string; keyMarker?: string; versionIdMarker?: string; limit: number }): Promise<VersionPage> {
    await this.request({ method: "LIST_VERSIONS", bucket });
    const all: RemoteVersion[] = [];
    for (const key of this.keysAfter(bucket, options.prefix, undefined)) {
      this.buckets.get(bucket)!.get(key)!.forEach((version, index) => all.push({
        key, versionId: version.versionId, isLatest: index === 0, lastModified: version.lastModified,
        deleteMarker: version.deleteMarker === true, size: version.bytes.length, etag: version.etag,
      }));
    }
    // after the markers: the versions of keyMarker past versionIdMarker, else the keys past keyMarker
    const marker = options.keyMarker;
    const atVersion = all.findIndex((entry) => entry.key === marker && entry.versionId === options.versionIdMarker);
    const pastKey = marker === undefined ? 0 : all.findIndex((entry) => compareKeys(entry.key, marker) > 0);
    const start = atVersion >= 0 ? atVersion + 1 : pastKey < 0 ? all.length : pastKey;
    const limit = Math.min(options.limit, 1000);
    const versions = all.slice(start, start + limit);
    const last = versions[versions.length - 1];
    return { versions, next: start + limit < all.length && last ? { keyMarker: last.key, versionIdMarker: last.versionId } : undefined };
  }

  async close(): Promise<void> {}

  private async request(request: RemoteRequest): Promise<void> {
    this.requests.push(request);
    await this.intercept?.(request);
  }

  /** The current version, or the one asked for; undefined for a delete marker or none. */
  private find(bucket: string, key: string, versionId?: string): FakeObject | undefined {
    const versions = this.buckets.get(bucket)?.get(key) ?? [];
    const version = versionId === undefined ? versions[0] : versions.find((candidate) => candidate.versionId === versionId);
    return version?.deleteMarker ? undefined : version;
  }

  private keysAfter(bucket: string, prefix = "", after: string | undefined): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])]
      .filter((key) => key.startsWith(prefix) && (after === undefined || compareKeys(key, after) > 0))
      .sort(compareKeys);
  }

  private addVersion(bucket: string, key: string, object: FakeObject): void {
    const objects = this.bucketOf(bucket);
    objects.set(key, this.versioned.has(bucket) ? [object, ...(objects.get(key) ?? [])] : [object]);
  }

  private nextVersionId(bucket: string): string {
    return this.versioned.has(bucket) ? `v${String(++this.versionCounter).padStart(6, "0")}` : "null";
  }

  private bucketOf(bucket: string): Map<string, FakeObject[]> {
    let objects = this.buckets.get(bucket);
    if (!objects) this.buckets.set(bucket, (objects = new Map()));
    return objects;
  }
}

function describe(key: string, object: FakeObject): RemoteObject {
  return {
    key,
    size: object.bytes.length,
    etag: object.etag,
    lastModified: object.lastModified,
    headers: { ...object.headers },
    userMetadata: { ...object.userMetadata },
    ...(object.versionId === "null" ? {} : { versionId: object.versionId }),
  };
}

/** A gate for holding requests: `wait()` blocks until `open()`. */
export class Gate {
  private release!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.release = resolve));
  open(): void {
    this.release();
  }
}
