// The remote bucket, read-only, through the one upstream client (signing,
// addressing, timeouts, retries, error mapping: src/upstream/). Data (GET/HEAD)
// goes over its signed plain HTTP; listings use its SDK client. Nothing here can write.
import type { Readable } from "node:stream";
import { ListObjectVersionsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import type { Dispatcher } from "undici";
import { remoteBucketFor, type RemoteSettings } from "../config.js";
import { S3Error } from "../s3/errors.js";
import { CONTENT_HEADERS } from "../s3/headers.js";
import { unquoteEtag } from "../s3/signer.js";
import { isTimeout, noAnswer, seconds } from "../s3/timeouts.js";
import type { S3Object } from "../s3/model.js";
import type { ByteRange, ContentHeaders } from "../store/types.js";
import { compareKeys } from "../store/fs/key-order.js";
import { UpstreamClient } from "../upstream/client.js";
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
  private readonly sdk: S3Client;

  constructor(private readonly settings: RemoteSettings, { idleMs = IDLE_MS } = {}) {
    this.http = new UpstreamClient({
      role: "remote S3",
      credentialsName: "remote",
      endpoint: settings.endpoint,
      region: settings.region,
      credentials: settings.credentials ?? defaultProvider(),
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
    this.sdk = this.http.controlClient();
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
    const output = await this.listing(bucket, "ListObjectsV2", (Bucket, abortSignal) => this.sdk.send(new ListObjectsV2Command({
      Bucket, Prefix: options.prefix || undefined, StartAfter: options.startAfter, MaxKeys: Math.min(options.limit, 1000),
    }), { abortSignal }));
    return (output?.Contents ?? []).map((entry) => ({
      key: entry.Key!,
      size: entry.Size ?? 0,
      etag: unquoteEtag(entry.ETag ?? ""),
      lastModified: entry.LastModified ?? new Date(0),
      headers: {},
      userMetadata: {},
    }));
  }

  /** A page of ListObjectVersions: every version and delete marker under prefix after the markers. */
  async listVersions(bucket: string, options: { prefix?: string; keyMarker?: string; versionIdMarker?: string; limit: number }): Promise<VersionPage> {
    const output = await this.listing(bucket, "ListObjectVersions", (Bucket, abortSignal) => this.sdk.send(new ListObjectVersionsCommand({
      Bucket, Prefix: options.prefix || undefined, KeyMarker: options.keyMarker, VersionIdMarker: options.versionIdMarker, MaxKeys: Math.min(options.limit, 1000),
    }), { abortSignal }));
    if (!output) return { versions: [] };
    const entry = (deleteMarker: boolean) => (item: { Key?: string; VersionId?: string; IsLatest?: boolean; LastModified?: Date; Size?: number; ETag?: string }): RemoteVersion => ({
      key: item.Key!, versionId: item.VersionId ?? "null", isLatest: item.IsLatest === true, lastModified: item.LastModified ?? new Date(0),
      deleteMarker, size: item.Size ?? 0, etag: unquoteEtag(item.ETag ?? ""),
    });
    // the answer holds versions and markers in two lists; S3 order is key, then newest first
    const versions = [...(output.Versions ?? []).map(entry(false)), ...(output.DeleteMarkers ?? []).map(entry(true))]
      .sort((a, b) => compareKeys(a.key, b.key) || b.lastModified.getTime() - a.lastModified.getTime());
    const next = output.IsTruncated && output.NextKeyMarker !== undefined
      ? { keyMarker: output.NextKeyMarker, versionIdMarker: output.NextVersionIdMarker }
      : undefined;
    return { versions, next };
  }

  /** One listing call with its deadline and error mapping; undefined for a bucket the remote does not have. */
  private async listing<T extends { Name?: string; IsTruncated?: boolean }>(bucket: string, operation: ListOperation, run: (remoteBucket: string, signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    const remoteBucket = this.bucketFor(bucket);
    // silence fails an attempt; the deadline (just above what the attempts can take) bounds a remote that answers a byte at a time
    const deadline = new AbortController();
    const deadlineMs = RETRIES * this.settings.timeoutMs + 1000;
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    let output: T;
    try {
      output = await run(remoteBucket, deadline.signal);
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      const problem = deadline.signal.aborted
        ? `did not answer within ${seconds(deadlineMs)} (${operation} on ${bucket})`
        : this.listingProblem(error, status, bucket, operation);
      throw this.health.failure(`${this.http.who} ${problem}`, status === 403 ? "AccessDenied" : "ServiceUnavailable");
    } finally {
      clearTimeout(timer);
    }
    // the SDK reads any XML (or none) without complaint: an HTML error page from a proxy would list as empty
    if (output.Name === undefined && output.IsTruncated === undefined) {
      throw this.health.failure(`${this.http.who} ${unparsable(bucket, operation, "it has none of its fields")}`);
    }
    this.health.ok();
    return output;
  }

  /** Why a listing failed, for "remote S3 at <host> <problem>". */
  private listingProblem(error: unknown, status: number | undefined, bucket: string, operation: ListOperation): string {
    const err = error as { name?: string; message?: string };
    if (status === 403) return `denied ${operation} on ${bucket} (${err.name ?? "AccessDenied"}): check the remote credentials`;
    if (status === undefined) {
      return `${noAnswer(error, this.settings.timeoutMs)} (${operation} on ${bucket}${isTimeout(error) ? `, ${RETRIES} attempts` : ""})`;
    }
    // a 2xx the SDK could not parse: say so, not "answered Error"
    if (status < 300) return unparsable(bucket, operation, firstLine(err.message));
    const code = err.name && !["Error", "Unknown", "UnknownError"].includes(err.name) ? err.name : `HTTP ${status}`;
    return `answered ${code} to ${operation} on ${bucket}`;
  }

  close(): Promise<void> {
    this.sdk.destroy();
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

/** getFirstBytes in terms of get (shared with test doubles of the remote). */
export async function firstBytes(remote: Pick<RemoteApi, "get">, bucket: string, key: string, count: number): Promise<RemoteRead | undefined> {
  try {
    return await remote.get(bucket, key, { range: { start: 0, end: count - 1 } });
  } catch (error) {
    if (error instanceof S3Error && error.code === "InvalidRange") return remote.get(bucket, key);
    throw error;
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

type ListOperation = "ListObjectsV2" | "ListObjectVersions";

function unparsable(bucket: string, operation: ListOperation, why: string): string {
  const result = operation === "ListObjectsV2" ? "ListBucketResult" : "ListVersionsResult";
  return `answered ${operation} on ${bucket} with something that could not be parsed as a ${result} (${why})`;
}

function firstLine(text: string | undefined): string {
  return (text ?? "").split("\n")[0]!.replace(/^@aws-sdk /, "").trim().slice(0, 200);
}
