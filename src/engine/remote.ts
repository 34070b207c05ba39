// The remote bucket, read-only, through the one upstream client (signing,
// addressing, timeouts, retries, error mapping: src/upstream/). Data (GET/HEAD)
// and listings go over its signed plain HTTP (listing-xml.ts reads the answers). Nothing here can write.
import type { Readable } from "node:stream";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { Dispatcher } from "undici";
import { remoteBucketFor, type RemoteSettings } from "../config.js";
import { S3Error } from "../s3/errors.js";
import { CONTENT_HEADERS } from "../s3/headers.js";
import { unquoteEtag } from "../s3/signer.js";
import { noAnswer, seconds } from "../s3/timeouts.js";
import type { S3Object } from "../s3/model.js";
import type { ByteRange, ContentHeaders } from "../store/types.js";
import { compareKeys } from "../store/fs/key-order.js";
import { UpstreamClient } from "../upstream/client.js";
import { parseObjectListing, parseVersionListing, UnparsableListing } from "../upstream/listing-xml.js";
import { firstBytes } from "./first-bytes.js";
import { RemoteHealth } from "./remote-health.js";

/**
 * What the remote says about an object (from GET/HEAD headers or a listing): an S3Object without the
 * bucket (the caller knows it) or what a listing cannot tell (checksum, part sizes); a multipart
 * object's part count instead, as x-amz-mp-parts-count gives it.
 */
export interface RemoteObject extends Omit<S3Object, "bucket" | "checksum" | "partSizes"> {
  partsCount?: number;
  /** the remote's x-amz-version-id; undefined when it is not versioned ("null") or did not say */
  versionId?: string;
}

/** One entry of ListObjectVersions: an object version, or a delete marker (deleteMarker, size 0, no ETag). */
export interface RemoteVersion {
  key: string;
  versionId: string;
  isLatest: boolean;
  lastModified: Date;
  deleteMarker: boolean;
  size: number;
  etag: string;
}

export interface VersionPage {
  versions: RemoteVersion[];
  /** where the next page starts; undefined on the last page */
  next?: { keyMarker: string; versionIdMarker?: string };
}

export interface RemoteRead {
  object: RemoteObject;
  /** 200, or 206 for a range */
  status: number;
  body: Readable;
}

export interface ReadOptions {
  range?: ByteRange;
  /** fail with 412 PreconditionFailed unless the object still has this ETag */
  ifMatch?: string;
  /** read this version (a versioned remote) instead of the current one */
  versionId?: string;
}

/**
 * The remote as the engine uses it: read-only calls on buckets that overlay it.
 * Remote is the real one; tests give the engine a fake (test/doubles/fake-remote.ts).
 */
export interface RemoteApi {
  readonly health: RemoteHealth;
  overlays(localBucket: string): boolean;
  mappedBuckets(): string[];
  head(bucket: string, key: string, options?: Pick<ReadOptions, "versionId">): Promise<RemoteObject | undefined>;
  get(bucket: string, key: string, options?: ReadOptions): Promise<RemoteRead | undefined>;
  getFirstBytes(bucket: string, key: string, count: number): Promise<RemoteRead | undefined>;
  bucketExists(bucket: string): Promise<boolean>;
  list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]>;
  /** ListObjectVersions: versions newest first within a key, keys in S3 order */
  listVersions(bucket: string, options: { prefix?: string; keyMarker?: string; versionIdMarker?: string; limit: number }): Promise<VersionPage>;
  close(): Promise<void>;
}

/** attempts per call: a call the remote never answers fails after RETRIES x the timeout (+ up to 0.5 s of backoff) */
const RETRIES = 3;
/** idle connections to the remote close after this (both pools); an option only for tests */
const IDLE_MS = 30_000;

export class Remote implements RemoteApi {
  readonly health: RemoteHealth;
  private readonly http: UpstreamClient;

  constructor(private readonly settings: RemoteSettings, { idleMs = IDLE_MS } = {}) {
    this.http = new UpstreamClient({
      role: "remote S3",
      credentialsName: "remote",
      endpoint: settings.endpoint,
      region: settings.region,
      credentials: settings.credentials ?? sdkDefaultCredentials(),
      addressingStyle: settings.addressingStyle,
      timeoutMs: settings.timeoutMs,
      idleMs,
      attempts: RETRIES,
      controlAttempts: RETRIES,
      // called only once requests run, after health exists below
      failure: (message, code) => this.health.failure(message, code),
    });
    // the client's host: it alone knows the default endpoint (AWS S3 of the region)
    this.health = new RemoteHealth(this.http.host);
  }

  /** Does this local bucket overlay the remote? Every other bucket is local-only (see remoteBucketFor). */
  overlays(localBucket: string): boolean {
    return remoteBucketFor(this.settings, localBucket) !== undefined;
  }

  /** Local buckets the configuration names: they exist in the overlay even before anything is cached. */
  mappedBuckets(): string[] {
    const named = this.settings.remoteBuckets.filter((name) => name !== "*");
    return [...new Set([...Object.keys(this.settings.bucketMapping), ...named])].filter((name) => this.overlays(name));
  }

  /**
   * The remote bucket behind a local one. The remote credentials are lent only
   * to buckets the configuration names, so this is checked on every call, not
   * only by the engine: a bucket outside the scope never reaches the remote.
   */
  private bucketFor(localBucket: string): string {
    const remoteBucket = remoteBucketFor(this.settings, localBucket);
    if (remoteBucket === undefined) throw new Error(`bucket ${localBucket} does not overlay the remote (S3_OVERLAY_BUCKET_MAPPING, S3_OVERLAY_REMOTE_BUCKETS)`);
    return remoteBucket;
  }

  /** undefined when the remote has no such object (or bucket). */
  async head(bucket: string, key: string, options: Pick<ReadOptions, "versionId"> = {}): Promise<RemoteObject | undefined> {
    const response = await this.send("HEAD", bucket, key, {}, options.versionId);
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    await this.expectOk(response, "HEAD", bucket, key);
    return objectFromHeaders(key, response.headers);
  }

  /** undefined when the remote has no such object. The body must be consumed or destroyed. */
  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end}`;
    if (options.ifMatch) headers["if-match"] = `"${options.ifMatch}"`;
    const response = await this.send("GET", bucket, key, headers, options.versionId);
    if (response.statusCode === 404) {
      response.body.resume();
      return undefined;
    }
    await this.expectOk(response, "GET", bucket, key);
    return { object: objectFromHeaders(key, response.headers), status: response.statusCode, body: response.body };
  }

  /**
   * GET of the first `count` bytes (all of a smaller object); the object's size
   * comes from Content-Range. An empty object answers 416 to any range: then a plain GET.
   */
  getFirstBytes(bucket: string, key: string, count: number): Promise<RemoteRead | undefined> {
    return firstBytes(this, bucket, key, count);
  }

  async bucketExists(bucket: string): Promise<boolean> {
    const response = await this.send("HEAD", bucket, undefined, {});
    response.body.resume();
    if (response.statusCode === 404) return false;
    await this.expectOk(response, "HEAD", bucket, undefined);
    return true;
  }

  /** Up to `limit` objects with keys > startAfter under prefix, in S3 order. */
  async list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]> {
    const query: Record<string, string> = { "list-type": "2", "max-keys": String(Math.min(options.limit, 1000)) };
    if (options.prefix) query.prefix = options.prefix;
    if (options.startAfter) query["start-after"] = options.startAfter;
    const listing = await this.listing(bucket, "ListObjectsV2", query, parseObjectListing);
    return (listing?.objects ?? []).map((entry) => ({ ...entry, etag: unquoteEtag(entry.etag), headers: {}, userMetadata: {} }));
  }

  /** A page of ListObjectVersions: every version and delete marker under prefix after the markers. */
  async listVersions(bucket: string, options: { prefix?: string; keyMarker?: string; versionIdMarker?: string; limit: number }): Promise<VersionPage> {
    const query: Record<string, string> = { versions: "", "max-keys": String(Math.min(options.limit, 1000)) };
    if (options.prefix) query.prefix = options.prefix;
    if (options.keyMarker !== undefined) query["key-marker"] = options.keyMarker;
    if (options.versionIdMarker !== undefined) query["version-id-marker"] = options.versionIdMarker;
    const listing = await this.listing(bucket, "ListObjectVersions", query, parseVersionListing);
    if (!listing) return { versions: [] };
    // S3 order is key, then newest first (the answer's two kinds are read apart)
    const versions = listing.versions.map((entry) => ({ ...entry, etag: unquoteEtag(entry.etag) }))
      .sort((a, b) => compareKeys(a.key, b.key) || b.lastModified.getTime() - a.lastModified.getTime());
    const next = listing.isTruncated && listing.nextKeyMarker !== undefined
      ? { keyMarker: listing.nextKeyMarker, versionIdMarker: listing.nextVersionIdMarker }
      : undefined;
    return { versions, next };
  }

  /**
   * One listing call, read whole and parsed; undefined for a bucket the remote
   * does not have. Retries and per-read silence are the upstream client's; the
   * deadline (just above what its attempts can take) bounds a remote that answers a byte at a time.
   */
  private async listing<T>(bucket: string, operation: ListOperation, query: Record<string, string>, parse: (xml: string) => T): Promise<T | undefined> {
    const what = `${operation} on ${bucket}`;
    const deadlineMs = RETRIES * this.settings.timeoutMs + 1000;
    const signal = AbortSignal.timeout(deadlineMs);
    let parsed: T;
    try {
      const response = await this.http.send({ method: "GET", bucket: this.bucketFor(bucket), query, what, signal });
      if (response.statusCode === 404) {
        response.body.resume();
        return undefined;
      }
      if (response.statusCode !== 200) throw await this.listingRefused(response, what);
      parsed = parse(await readText(response.body, MAX_LISTING_BYTES));
    } catch (error) {
      if (error instanceof S3Error) throw error;
      if (signal.aborted) throw this.health.failure(`${this.http.who} did not answer within ${seconds(deadlineMs)} (${what})`, "ServiceUnavailable");
      if (!(error instanceof UnparsableListing)) throw this.health.failure(`${this.http.who} ${noAnswer(error, this.settings.timeoutMs)} (${what})`, "ServiceUnavailable");
      const result = operation === "ListObjectsV2" ? "ListBucketResult" : "ListVersionsResult";
      throw this.health.failure(`${this.http.who} answered ${what} with something that could not be parsed as a ${result} (${error.message})`, "ServiceUnavailable");
    }
    this.health.ok();
    return parsed;
  }

  /** A listing answered with an error: denied names the credentials; anything else is the remote's trouble, not the client's (503). */
  private async listingRefused(response: Dispatcher.ResponseData, what: string): Promise<S3Error> {
    if (response.statusCode === 403 || response.statusCode >= 500) return this.http.errorOf(response, what);
    const text = await readText(response.body, 64 * 1024).catch(() => "");
    const code = /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1] ?? `HTTP ${response.statusCode}`;
    return this.health.failure(`${this.http.who} answered ${code} to ${what}`, "ServiceUnavailable");
  }

  close(): Promise<void> {
    return this.http.close();
  }

  /** One signed GET or HEAD of a bucket the configuration lends the remote to. */
  private send(method: "GET" | "HEAD", bucket: string, key: string | undefined, headers: Record<string, string>, versionId?: string): Promise<Dispatcher.ResponseData> {
    const query = versionId === undefined ? undefined : { versionId };
    return this.http.send({ method, bucket: this.bucketFor(bucket), key, headers, query });
  }

  /** Throws the S3 error a client should see for a non-2xx remote answer. */
  private async expectOk(response: Dispatcher.ResponseData, method: string, bucket: string, key: string | undefined): Promise<void> {
    if (response.statusCode === 200 || response.statusCode === 206) {
      this.health.ok();
      return;
    }
    throw await this.http.errorOf(response, `${method} ${key === undefined ? bucket : `${bucket}/${key}`}`);
  }
}

function objectFromHeaders(key: string, headers: Dispatcher.ResponseData["headers"]): RemoteObject {
  const one = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const contentRange = one("content-range");
  const total = contentRange ? Number(contentRange.split("/")[1]) : Number(one("content-length") ?? 0);
  const userMetadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("x-amz-meta-") && value !== undefined) userMetadata[name.slice(11)] = Array.isArray(value) ? value.join(",") : value;
  }
  const contentHeaders: ContentHeaders = {};
  for (const [field, name] of CONTENT_HEADERS) {
    const value = one(name);
    if (value !== undefined) contentHeaders[field] = value;
  }
  const parts = one("x-amz-mp-parts-count");
  const versionId = one("x-amz-version-id");
  return {
    key,
    size: total,
    etag: unquoteEtag(one("etag") ?? ""),
    lastModified: new Date(one("last-modified") ?? 0),
    headers: contentHeaders,
    userMetadata,
    partsCount: parts ? Number(parts) : undefined,
    ...(versionId && versionId !== "null" ? { versionId } : {}),
  };
}

/**
 * The SDK's default credential chain (environment, profiles, SSO, instance roles),
 * imported on the first signature: ~60 ms of imports a remote with its own keys never needs.
 */
function sdkDefaultCredentials(): AwsCredentialIdentityProvider {
  let chain: Promise<AwsCredentialIdentityProvider> | undefined;
  return async () => {
    chain ??= import("@aws-sdk/credential-provider-node").then(({ defaultProvider }) => defaultProvider());
    return (await chain)();
  };
}

type ListOperation = "ListObjectsV2" | "ListObjectVersions";

/** a listing page of 1000 keys is under 1 MiB; an answer far above that is not one */
const MAX_LISTING_BYTES = 16 * 1024 * 1024;

/** A body as text, refusing one longer than `limit` bytes. */
async function readText(body: Readable, limit: number): Promise<string> {
  const pieces: Buffer[] = [];
  let length = 0;
  for await (const piece of body as AsyncIterable<Buffer>) {
    length += piece.length;
    if (length > limit) {
      body.destroy();
      throw new UnparsableListing(`it is longer than ${limit} bytes`);
    }
    pieces.push(piece);
  }
  return Buffer.concat(pieces).toString("utf8");
}
