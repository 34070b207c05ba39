// A remote bucket in memory that answers like S3 (ranges, If-Match, 404s, 416),
// for the engine's unit tests: objects and ETags are set by the test, every
// request is counted and logged, calls can be made to fail or wait.
// The real Remote's HTTP, signing and retries are tested against RGW (test/e2e).
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { S3Error } from "../../src/s3/errors.js";
import { compareKeys } from "../../src/store/fs/key-order.js";
import { firstBytes, type ReadOptions, type RemoteApi, type RemoteObject, type RemoteRead } from "../../src/engine/remote.js";
import { RemoteHealth } from "../../src/engine/remote-health.js";
import type { ContentHeaders } from "../../src/store/types.js";

export type RemoteMethod = "HEAD" | "GET" | "LIST" | "HEAD_BUCKET";

/** One request the engine made, as the remote saw it. */
export interface RemoteRequest {
  method: RemoteMethod;
  bucket: string;
  key?: string;
  range?: { start: number; end: number };
  ifMatch?: string;
}

interface FakeObject {
  bytes: Buffer;
  etag: string;
  lastModified: Date;
  headers: ContentHeaders;
  userMetadata: Record<string, string>;
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
  private readonly buckets = new Map<string, Map<string, FakeObject>>();

  /** `mapped`: local buckets that overlay this remote (same names); each exists on the remote. */
  constructor(private readonly mapped: string[] = ["remote"]) {
    for (const bucket of mapped) this.buckets.set(bucket, new Map());
  }

  put(bucket: string, key: string, data: Buffer | string, options: PutOptions = {}): RemoteObject {
    const bytes = Buffer.from(data);
    const object: FakeObject = {
      bytes,
      etag: options.etag ?? createHash("md5").update(bytes).digest("hex"),
      lastModified: options.lastModified ?? new Date("2024-01-02T03:04:05.000Z"),
      headers: options.headers ?? {},
      userMetadata: options.userMetadata ?? {},
    };
    this.bucketOf(bucket).set(key, object);
    return describe(key, object);
  }

  remove(bucket: string, key: string): void {
    this.buckets.get(bucket)?.delete(key);
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

  async head(bucket: string, key: string): Promise<RemoteObject | undefined> {
    await this.request({ method: "HEAD", bucket, key });
    const object = this.buckets.get(bucket)?.get(key);
    return object && describe(key, object);
  }

  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    await this.request({ method: "GET", bucket, key, range: options.range, ifMatch: options.ifMatch });
    const object = this.buckets.get(bucket)?.get(key);
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
    const objects = this.buckets.get(bucket) ?? new Map<string, FakeObject>();
    return [...objects.keys()]
      .filter((key) => key.startsWith(options.prefix ?? "") && (options.startAfter === undefined || compareKeys(key, options.startAfter) > 0))
      .sort(compareKeys)
      .slice(0, Math.min(options.limit, 1000))
      // a listing carries no content headers or metadata, as from S3
      .map((key) => ({ ...describe(key, objects.get(key)!), headers: {}, userMetadata: {} }));
  }

  async close(): Promise<void> {}

  private async request(request: RemoteRequest): Promise<void> {
    this.requests.push(request);
    await this.intercept?.(request);
  }

  private bucketOf(bucket: string): Map<string, FakeObject> {
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
