// The remote bucket, read-only. Data (GET/HEAD) goes over signed plain HTTP
// (undici + @smithy/signature-v4): measured ~1.3x the SDK's throughput and ~6x
// its small-request rate. Listings use the SDK. Nothing here can write.
import { encodeKey, s3Signer, unquoteEtag } from "../s3/signer.js";
import type { Readable } from "node:stream";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { Agent, type Dispatcher } from "undici";
import { remoteBucketFor, type RemoteSettings } from "../config.js";
import { S3Error } from "../s3/errors.js";
import { agentTimeouts, isTimeout, noAnswer, sdkTimeouts, seconds } from "../s3/timeouts.js";
import type { ByteRange, ContentHeaders } from "../store/types.js";
import { RemoteHealth } from "./remote-health.js";

/** What the remote says about an object (from GET/HEAD headers or a listing). */
export interface RemoteObject {
  key: string;
  size: number;
  /** without quotes */
  etag: string;
  lastModified: Date;
  headers: ContentHeaders;
  userMetadata: Record<string, string>;
  partsCount?: number;
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
}

/**
 * The remote as the engine uses it: read-only calls on buckets that overlay it.
 * Remote is the real one; tests give the engine a fake (test/doubles/fake-remote.ts).
 */
export interface RemoteApi {
  readonly health: RemoteHealth;
  overlays(localBucket: string): boolean;
  mappedBuckets(): string[];
  head(bucket: string, key: string): Promise<RemoteObject | undefined>;
  get(bucket: string, key: string, options?: ReadOptions): Promise<RemoteRead | undefined>;
  getFirstBytes(bucket: string, key: string, count: number): Promise<RemoteRead | undefined>;
  bucketExists(bucket: string): Promise<boolean>;
  list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]>;
  close(): Promise<void>;
}

/** attempts per call: a call the remote never answers fails after RETRIES x the timeout (+0.5 s of backoff) */
const RETRIES = 3;
const UNSIGNED = "UNSIGNED-PAYLOAD";
/** idle connections to the remote close after this (both pools); an option only for tests */
const IDLE_MS = 30_000;

export class Remote implements RemoteApi {
  readonly health: RemoteHealth;
  private readonly base: URL;
  private readonly signer: ReturnType<typeof s3Signer>;
  private readonly agent: Dispatcher;
  private readonly sdk: S3Client;

  constructor(private readonly settings: RemoteSettings, { idleMs = IDLE_MS } = {}) {
    this.base = new URL(settings.endpoint ?? `https://s3.${settings.region}.amazonaws.com`);
    const credentials = settings.credentials ?? defaultProvider();
    this.signer = s3Signer(credentials, settings.region);
    this.agent = new Agent({ connections: 64, keepAliveTimeout: idleMs, ...agentTimeouts(settings.timeoutMs) });
    // the SDK's default pool keeps idle sockets until the remote closes them: up to 50 fds after a burst of listings
    const pool = { keepAlive: true, maxSockets: 50, timeout: idleMs };
    this.sdk = new S3Client({
      endpoint: settings.endpoint,
      region: settings.region,
      credentials,
      forcePathStyle: settings.addressingStyle === "path",
      maxAttempts: RETRIES,
      requestHandler: { ...sdkTimeouts(settings.timeoutMs), httpAgent: pool, httpsAgent: pool },
    });
    this.health = new RemoteHealth(this.base.host);
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
  async head(bucket: string, key: string): Promise<RemoteObject | undefined> {
    const response = await this.send("HEAD", bucket, key, {});
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    await this.expectOk(response, bucket, key);
    return objectFromHeaders(key, response.headers);
  }

  /** undefined when the remote has no such object. The body must be consumed or destroyed. */
  async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end}`;
    if (options.ifMatch) headers["if-match"] = `"${options.ifMatch}"`;
    const response = await this.send("GET", bucket, key, headers);
    if (response.statusCode === 404) {
      response.body.resume();
      return undefined;
    }
    await this.expectOk(response, bucket, key);
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
    await this.expectOk(response, bucket, undefined);
    return true;
  }

  /** Up to `limit` objects with keys > startAfter under prefix, in S3 order. */
  async list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]> {
    const remoteBucket = this.bucketFor(bucket);
    // silence fails an attempt; the deadline (just above what the attempts can take) bounds a remote that answers a byte at a time
    const deadline = new AbortController();
    const deadlineMs = RETRIES * this.settings.timeoutMs + 1000;
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    let output;
    try {
      output = await this.sdk.send(new ListObjectsV2Command({
        Bucket: remoteBucket,
        Prefix: options.prefix || undefined,
        StartAfter: options.startAfter,
        MaxKeys: Math.min(options.limit, 1000),
      }), { abortSignal: deadline.signal });
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return [];
      const problem = deadline.signal.aborted
        ? `did not answer within ${seconds(deadlineMs)} (ListObjectsV2 on ${bucket})`
        : this.listingProblem(error, status, bucket);
      throw this.health.failure(`remote S3 at ${this.base.host} ${problem}`, status === 403 ? "AccessDenied" : "ServiceUnavailable");
    } finally {
      clearTimeout(timer);
    }
    // the SDK reads any XML (or none) without complaint: an HTML error page from a proxy would list as empty
    if (output.Name === undefined && output.IsTruncated === undefined) {
      throw this.health.failure(`remote S3 at ${this.base.host} ${unparsable(bucket, "it has none of its fields")}`);
    }
    this.health.ok();
    return (output.Contents ?? []).map((entry) => ({
      key: entry.Key!,
      size: entry.Size ?? 0,
      etag: unquoteEtag(entry.ETag ?? ""),
      lastModified: entry.LastModified ?? new Date(0),
      headers: {},
      userMetadata: {},
    }));
  }

  /** Why a listing failed, for "remote S3 at <host> <problem>". */
  private listingProblem(error: unknown, status: number | undefined, bucket: string): string {
    const err = error as { name?: string; message?: string };
    if (status === 403) return `denied ListObjectsV2 on ${bucket} (${err.name ?? "AccessDenied"}): check the remote credentials`;
    if (status === undefined) {
      return `${noAnswer(error, this.settings.timeoutMs)} (ListObjectsV2 on ${bucket}${isTimeout(error) ? `, ${RETRIES} attempts` : ""})`;
    }
    // a 2xx the SDK could not parse: say so, not "answered Error"
    if (status < 300) return unparsable(bucket, firstLine(err.message));
    const code = err.name && !["Error", "Unknown", "UnknownError"].includes(err.name) ? err.name : `HTTP ${status}`;
    return `answered ${code} to ListObjectsV2 on ${bucket}`;
  }

  close(): Promise<void> {
    this.sdk.destroy();
    return this.agent.close();
  }

  /** One signed request, retried with backoff while the remote cannot be reached or answers 5xx. */
  private async send(method: "GET" | "HEAD", bucket: string, key: string | undefined, extraHeaders: Record<string, string>): Promise<Dispatcher.ResponseData> {
    const target = this.targetFor(this.bucketFor(bucket), key);
    let lastProblem = "";
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      if (attempt > 0) await sleep(100 * 4 ** (attempt - 1));
      const signed = await this.signer.sign({
        method,
        protocol: this.base.protocol,
        hostname: target.hostname,
        port: this.base.port ? Number(this.base.port) : undefined,
        path: target.path,
        query: {},
        headers: { host: target.host, "x-amz-content-sha256": UNSIGNED, ...extraHeaders },
      });
      try {
        // origin + path, not a URL: a URL would resolve "." and ".." segments of keys
        const response = await this.agent.request({ origin: target.origin, path: target.path, method, headers: signed.headers });
        if (response.statusCode < 500) return response;
        lastProblem = `answered HTTP ${response.statusCode}`;
        response.body.resume();
      } catch (error) {
        lastProblem = isTimeout(error) ? `${noAnswer(error, this.settings.timeoutMs)} (${RETRIES} attempts)` : noAnswer(error, this.settings.timeoutMs);
      }
    }
    throw this.health.failure(`remote S3 at ${this.base.host} ${lastProblem}`);
  }

  /** Where a request for bucket/key goes, in the configured addressing style. */
  private targetFor(remoteBucket: string, key: string | undefined): { origin: string; host: string; hostname: string; path: string } {
    const keyPath = key === undefined ? "" : `/${encodeKey(key)}`;
    const basePath = this.base.pathname.replace(/\/$/, "");
    const port = this.base.port ? `:${this.base.port}` : "";
    if (this.settings.addressingStyle === "virtual") {
      const hostname = `${remoteBucket}.${this.base.hostname}`;
      return { origin: `${this.base.protocol}//${hostname}${port}`, host: `${hostname}${port}`, hostname, path: `${basePath}${keyPath || "/"}` };
    }
    return { origin: this.base.origin, host: this.base.host, hostname: this.base.hostname, path: `${basePath}/${remoteBucket}${keyPath}` };
  }

  /** Throws the S3 error a client should see for a non-2xx remote answer. */
  private async expectOk(response: Dispatcher.ResponseData, bucket: string, key: string | undefined): Promise<void> {
    const status = response.statusCode;
    if (status === 200 || status === 206) {
      this.health.ok();
      return;
    }
    const text = response.body.readableEnded ? "" : await response.body.text().catch(() => "");
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP ${status}`;
    if (status === 412) throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
    if (status === 304) throw new S3Error("NotModified", "Not Modified");
    if (status === 416) throw new S3Error("InvalidRange", "The requested range is not satisfiable");
    const where = key === undefined ? bucket : `${bucket}/${key}`;
    if (status === 403) {
      throw this.health.failure(`remote S3 at ${this.base.host} denied access to ${where} (${code}): check the remote credentials`, "AccessDenied");
    }
    throw this.health.failure(`remote S3 at ${this.base.host} answered ${code} for ${where}`);
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
  const pairs: [keyof ContentHeaders, string][] = [
    ["contentType", "content-type"], ["contentEncoding", "content-encoding"], ["contentDisposition", "content-disposition"],
    ["contentLanguage", "content-language"], ["cacheControl", "cache-control"], ["expires", "expires"],
  ];
  for (const [field, name] of pairs) {
    const value = one(name);
    if (value !== undefined) contentHeaders[field] = value;
  }
  const parts = one("x-amz-mp-parts-count");
  return {
    key,
    size: total,
    etag: unquoteEtag(one("etag") ?? ""),
    lastModified: new Date(one("last-modified") ?? 0),
    headers: contentHeaders,
    userMetadata,
    partsCount: parts ? Number(parts) : undefined,
  };
}

function unparsable(bucket: string, why: string): string {
  return `answered ListObjectsV2 on ${bucket} with something that could not be parsed as a ListBucketResult (${why})`;
}

function firstLine(text: string | undefined): string {
  return (text ?? "").split("\n")[0]!.replace(/^@aws-sdk /, "").trim().slice(0, 200);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
