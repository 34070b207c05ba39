// The one place that reads the environment (with config/): S3_OVERLAY_*
// variables and CLI flags become one validated Config. Flags win over env, env
// over defaults. A bad value is a ConfigError naming the flag or variable it came from.
import path from "node:path";
import type { LogFormat, LogLevel } from "./log.js";
import {
  ConfigError, invalid, nonEmpty, parseBoolean, parseChoice, parseCount, parseDomain, parseDuration, parseHost, parseOptional,
  parsePort, parseRegion, parseSize, parseUrl, pick, type Env, type Flags, type Source,
} from "./config/values.js";

export { ConfigError, parseDuration, parsePort, parseSize, type Env, type Flags };
export * from "./config/cache-commands.js";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The remote bucket side: read-only, never written. */
export interface RemoteSettings {
  /** undefined: AWS S3 for the region */
  endpoint?: string;
  region: string;
  addressingStyle: "virtual" | "path";
  /** undefined: the AWS default credential chain (env, profiles, SSO, instance roles) */
  credentials?: Credentials & { sessionToken?: string };
  /** local bucket -> remote bucket */
  bucketMapping: Record<string, string>;
  /** buckets that overlay the remote bucket of the same name; "*" for any bucket. Every other bucket is local-only. */
  remoteBuckets: string[];
  /** how long the remote may be silent (connect, headers, between body bytes) before a call fails; a listing's whole answer, per attempt */
  timeoutMs: number;
}

export interface OverlaySettings {
  /** undefined: plain local S3 server */
  remote?: RemoteSettings;
  /** false: serve remote objects without keeping them (pass-through) */
  cacheEnabled: boolean;
  /** how long a remote 404 is remembered */
  negativeTtlMs: number;
  /** undefined: a cached object is a snapshot until evicted; else hits older than this are revalidated */
  revalidateMs?: number;
  /** remote objects larger than this are cached in chunks */
  chunkThreshold: number;
  chunkSize: number;
  /** chunks a sequential reader fetches ahead, in parallel */
  maxInflightChunks: number;
  /** pin the remote to the versions in this lockfile (src/engine/pinned.ts); strict: refuse keys outside it */
  lock?: { file: string; strict: boolean };
  /** read the remote as it was at this time (src/engine/as-of.ts) */
  remoteAsOf?: Date;
}

export interface ServeConfig extends OverlaySettings {
  host: string;
  port: number;
  dataDir: string;
  /** virtual-host style base domain: Host `bucket.<domain>` addresses `bucket` */
  domain?: string;
  /** what clients sign with */
  credentials: Credentials;
  region: string;
  /** most time a client may take between two body chunks / header bytes */
  requestTimeoutMs: number;
  /** how long SIGINT/SIGTERM waits for in-flight requests */
  shutdownGraceMs: number;
  /** undefined: no limit; else mirrored data and chunks are evicted (LRU) above this many bytes */
  maxCacheSize?: number;
  /** undefined: the embedded store in dataDir; else an S3-compatible local tier (MinIO, Ceph RGW, …) */
  localTier?: LocalTierSettings;
  /** listen beyond loopback with the well-known default credentials although a remote is configured */
  allowDefaultCredentials: boolean;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** the level of the one line per request; "off": none */
  accessLog: LogLevel | "off";
  /** GET /metrics: undefined turns it off; a token makes it require `Authorization: Bearer <token>` */
  metrics?: { token?: string };
  /** undefined: plain HTTP; else HTTPS with these PEM files, or a self-signed certificate kept in the data dir */
  tls?: { certFile: string; keyFile: string } | "self-signed";
}

/** The S3-compatible local tier: objects 1:1 in same-named buckets, clients' credentials are the tier's. */
export interface LocalTierSettings {
  endpoint: string;
  sessionToken?: string;
  /** LocationConstraint for buckets it creates ("us-east-1" sends none) */
  defaultBucketLocation: string;
  /** where chunks, tombstones and upload bookkeeping live */
  cacheBucket: string;
  /** how long the tier may be silent (connect, headers, between body bytes) before a call fails */
  timeoutMs: number;
}

/** "local1:remote1,local2:remote2" */
function parseBucketMapping(source: Source): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const pair of source.value.split(",").map((part) => part.trim()).filter(Boolean)) {
    const match = /^([a-z0-9][a-z0-9.-]{1,62}):([a-z0-9][a-z0-9._-]{1,254})$/.exec(pair);
    if (!match) throw invalid(source, `"${pair}" is not local-bucket:remote-bucket`);
    if (mapping[match[1]!] !== undefined) throw invalid(source, `bucket "${match[1]}" is mapped twice`);
    mapping[match[1]!] = match[2]!;
  }
  return mapping;
}

function loadRemote(flags: Flags, env: Env): RemoteSettings | undefined {
  const endpoint = pick(flags, env, "remote-endpoint", "S3_OVERLAY_REMOTE_ENDPOINT");
  const region = pick(flags, env, "remote-region", "S3_OVERLAY_REMOTE_REGION");
  const style = pick(flags, env, "remote-addressing-style", "S3_OVERLAY_REMOTE_ADDRESSING_STYLE");
  const accessKey = pick(flags, env, "remote-access-key-id", "S3_OVERLAY_REMOTE_ACCESS_KEY_ID");
  const secretKey = pick(flags, env, "remote-secret-access-key", "S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY");
  const sessionToken = pick(flags, env, "remote-session-token", "S3_OVERLAY_REMOTE_SESSION_TOKEN");
  const mapping = pick(flags, env, "bucket-mapping", "S3_OVERLAY_BUCKET_MAPPING");
  const ownNames = pick(flags, env, "remote-buckets", "S3_OVERLAY_REMOTE_BUCKETS");
  if (!endpoint && !region && !accessKey && !secretKey && !sessionToken && !mapping && !ownNames) return undefined;
  if (Boolean(accessKey) !== Boolean(secretKey)) {
    const given = (accessKey ?? secretKey)!;
    throw new ConfigError(`${given.origin} is set but ${accessKey ? "S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY" : "S3_OVERLAY_REMOTE_ACCESS_KEY_ID"} is not: set both, or neither to use the AWS default credential chain`);
  }
  const bucketMapping = mapping ? parseBucketMapping(mapping) : {};
  const remoteBuckets = ownNames ? parseRemoteBuckets(ownNames) : [];
  // the remote credentials are lent only to buckets named here: with none, the remote would be unreachable
  if (Object.keys(bucketMapping).length === 0 && remoteBuckets.length === 0) {
    throw new ConfigError("a remote is configured but no bucket overlays it: set S3_OVERLAY_BUCKET_MAPPING=local:remote, or S3_OVERLAY_REMOTE_BUCKETS=<bucket>,… (or * for every bucket under its own name)");
  }
  let addressingStyle: "virtual" | "path" = "virtual";
  if (style) {
    const value = style.value.trim().toLowerCase();
    if (value !== "virtual" && value !== "path") throw invalid(style, "must be virtual or path");
    addressingStyle = value;
  }
  return {
    endpoint: endpoint && parseUrl(endpoint),
    region: region ? parseRegion(region) : "us-east-1",
    addressingStyle,
    credentials: accessKey && secretKey
      ? { accessKeyId: accessKey.value, secretAccessKey: secretKey.value, sessionToken: sessionToken?.value }
      : undefined,
    bucketMapping,
    remoteBuckets,
    timeoutMs: parseTimeout(pick(flags, env, "remote-timeout", "S3_OVERLAY_REMOTE_TIMEOUT", "30s")!),
  };
}

/**
 * Mapped buckets read their target; S3_OVERLAY_REMOTE_BUCKETS names buckets that
 * read the remote bucket of the same name ("*": any bucket). A mapping's target is
 * reached only through its alias unless it is named itself, so mapping dev:prod
 * never exposes "prod" under its real name.
 */
export function remoteBucketFor(settings: Pick<RemoteSettings, "bucketMapping" | "remoteBuckets">, localBucket: string): string | undefined {
  const mapped = settings.bucketMapping[localBucket];
  if (mapped !== undefined) return mapped;
  if (settings.remoteBuckets.includes(localBucket)) return localBucket;
  if (!settings.remoteBuckets.includes("*")) return undefined;
  return Object.values(settings.bucketMapping).includes(localBucket) ? undefined : localBucket;
}

/** "*", or bucket names: the buckets that read the remote bucket of the same name. */
function parseRemoteBuckets(source: Source): string[] {
  const names = source.value.split(",").map((part) => part.trim()).filter(Boolean);
  for (const name of names) {
    if (name !== "*" && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) throw invalid(source, `"${name}" is not a bucket name or *`);
  }
  return names;
}

function parseTimeout(source: Source): number {
  const ms = parseDuration(source);
  if (ms < 100 || ms > 3_600_000) throw invalid(source, "must be between 100ms and 1h");
  return ms;
}

function parseRevalidate(source: Source): number | undefined {
  return source.value.trim().toLowerCase() === "never" ? undefined : parseDuration(source);
}

function loadChunking(flags: Flags, env: Env): Pick<OverlaySettings, "chunkThreshold" | "chunkSize" | "maxInflightChunks"> {
  const chunkSizeSource = pick(flags, env, "chunk-size", "S3_OVERLAY_CHUNK_SIZE", "16777216")!;
  const chunkSize = parseSize(chunkSizeSource);
  // chunks are checked in memory when read: keep them between 64 KiB and 1 GiB
  if (chunkSize < 64 * 1024 || chunkSize > 1024 ** 3) throw invalid(chunkSizeSource, "must be between 64KiB and 1GiB");
  return {
    chunkThreshold: parseSize(pick(flags, env, "chunk-threshold", "S3_OVERLAY_CHUNK_THRESHOLD", "52428800")!),
    chunkSize,
    maxInflightChunks: parseCount(pick(flags, env, "max-inflight-chunks", "S3_OVERLAY_MAX_INFLIGHT_CHUNKS", "4")!, 1, 64),
  };
}

function loadLocalTier(flags: Flags, env: Env): LocalTierSettings | undefined {
  const endpoint = pick(flags, env, "local-endpoint", "S3_OVERLAY_LOCAL_ENDPOINT");
  if (!endpoint) return undefined;
  const cacheBucket = pick(flags, env, "cache-bucket", "S3_OVERLAY_CACHE_BUCKET", "s3-overlay-cache")!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(cacheBucket.value)) throw invalid(cacheBucket, "must be a valid bucket name");
  return {
    endpoint: parseUrl(endpoint),
    sessionToken: pick(flags, env, "local-session-token", "S3_OVERLAY_LOCAL_SESSION_TOKEN")?.value,
    defaultBucketLocation: parseRegion(pick(flags, env, "default-bucket-location", "S3_OVERLAY_DEFAULT_BUCKET_LOCATION", "us-east-1")!),
    cacheBucket: cacheBucket.value,
    timeoutMs: parseTimeout(pick(flags, env, "local-timeout", "S3_OVERLAY_LOCAL_TIMEOUT", "30s")!),
  };
}

export function loadServeConfig(flags: Flags, env: Env = process.env): ServeConfig {
  const domain = pick(flags, env, "domain", "S3_OVERLAY_DOMAIN");
  return {
    localTier: loadLocalTier(flags, env),
    remote: loadRemote(flags, env),
    cacheEnabled: parseBoolean(pick(flags, env, "cache-enabled", "S3_OVERLAY_CACHE_ENABLED", "true")!),
    negativeTtlMs: parseDuration(pick(flags, env, "negative-ttl", "S3_OVERLAY_NEGATIVE_TTL", "30s")!),
    revalidateMs: parseRevalidate(pick(flags, env, "revalidate", "S3_OVERLAY_REVALIDATE", "never")!),
    ...loadChunking(flags, env),
    ...loadPinning(flags, env),
    host: parseHost(pick(flags, env, "host", "S3_OVERLAY_HOST", "127.0.0.1")!),
    port: parsePort(pick(flags, env, "port", "S3_OVERLAY_PORT", "8000")!),
    dataDir: path.resolve(nonEmpty(pick(flags, env, "data-dir", "S3_OVERLAY_DATA_DIR", "./.s3-overlay")!)),
    domain: domain && parseDomain(domain),
    credentials: {
      accessKeyId: nonEmpty(pick(flags, env, "access-key", "S3_OVERLAY_LOCAL_ACCESS_KEY", DEFAULT_CREDENTIALS.accessKeyId)!),
      secretAccessKey: nonEmpty(pick(flags, env, "secret-key", "S3_OVERLAY_LOCAL_SECRET_KEY", DEFAULT_CREDENTIALS.secretAccessKey)!),
    },
    region: parseRegion(pick(flags, env, "region", "S3_OVERLAY_LOCAL_REGION", "us-east-1")!),
    requestTimeoutMs: parseDuration(pick(flags, env, "request-timeout", "S3_OVERLAY_REQUEST_TIMEOUT", "5m")!),
    shutdownGraceMs: parseDuration(pick(flags, env, "shutdown-grace", "S3_OVERLAY_SHUTDOWN_GRACE", "30s")!),
    maxCacheSize: parseOptional(pick(flags, env, "max-cache-size", "S3_OVERLAY_MAX_CACHE_SIZE"), parseSize),
    allowDefaultCredentials: parseBoolean(pick(flags, env, "allow-default-credentials", "S3_OVERLAY_ALLOW_DEFAULT_CREDENTIALS", "false")!),
    logLevel: parseChoice(pick(flags, env, "log-level", "S3_OVERLAY_LOG_LEVEL", "info")!, LOG_LEVELS),
    logFormat: parseChoice(pick(flags, env, "log-format", "S3_OVERLAY_LOG_FORMAT", "text")!, ["text", "json"] as const),
    accessLog: parseChoice(pick(flags, env, "access-log", "S3_OVERLAY_ACCESS_LOG", "debug")!, [...LOG_LEVELS, "off"] as const),
    tls: loadTls(flags, env),
    metrics: parseBoolean(pick(flags, env, "metrics", "S3_OVERLAY_METRICS", "true")!)
      ? { token: pick(flags, env, "metrics-token", "S3_OVERLAY_METRICS_TOKEN")?.value }
      : undefined,
  };
}

function loadPinning(flags: Flags, env: Env): Pick<OverlaySettings, "lock" | "remoteAsOf"> {
  const file = pick(flags, env, "lock", "S3_OVERLAY_LOCK");
  const strict = pick(flags, env, "lock-strict", "S3_OVERLAY_LOCK_STRICT", "false")!;
  const asOf = pick(flags, env, "remote-as-of", "S3_OVERLAY_REMOTE_AS_OF");
  const settings: Pick<OverlaySettings, "lock" | "remoteAsOf"> = {};
  if (file) settings.lock = { file: path.resolve(nonEmpty(file)), strict: parseBoolean(strict) };
  else if (parseBoolean(strict)) throw new ConfigError(`${strict.origin} needs a lockfile: set S3_OVERLAY_LOCK (--lock) too`);
  if (asOf) settings.remoteAsOf = parseTimestamp(asOf);
  return settings;
}

/** An ISO 8601 time with a date, e.g. 2024-05-01T12:00:00Z (a zone-less time is UTC). */
function parseTimestamp(source: Source): Date {
  const text = source.value.trim();
  const zoned = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(text) ? `${text}${text.includes("T") ? "Z" : "T00:00:00Z"}` : text;
  const time = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(zoned) ? Date.parse(zoned) : Number.NaN;
  if (Number.isNaN(time)) throw invalid(source, "must be an ISO 8601 time like 2024-05-01T12:00:00Z");
  return new Date(time);
}

const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** --https, or a certificate and key of your own (which imply it). */
function loadTls(flags: Flags, env: Env): ServeConfig["tls"] {
  const https = parseBoolean(pick(flags, env, "https", "S3_OVERLAY_HTTPS", "false")!);
  const cert = pick(flags, env, "tls-cert", "S3_OVERLAY_TLS_CERT");
  const key = pick(flags, env, "tls-key", "S3_OVERLAY_TLS_KEY");
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError(`${(cert ?? key)!.origin} is set but ${cert ? "S3_OVERLAY_TLS_KEY" : "S3_OVERLAY_TLS_CERT"} is not: give both`);
  if (cert && key) return { certFile: path.resolve(nonEmpty(cert)), keyFile: path.resolve(nonEmpty(key)) };
  return https ? "self-signed" : undefined;
}

export const DEFAULT_CREDENTIALS: Credentials = { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" };

/**
 * serve: with the well-known default credentials, anyone who reaches the port
 * can sign requests, and with a remote configured that means reading what the
 * remote credentials can. Beyond loopback that needs an explicit yes.
 */
export function checkExposure(config: ServeConfig): void {
  if (!config.remote || config.allowDefaultCredentials || isLoopback(config.host)) return;
  const { accessKeyId, secretAccessKey } = config.credentials;
  if (accessKeyId !== DEFAULT_CREDENTIALS.accessKeyId || secretAccessKey !== DEFAULT_CREDENTIALS.secretAccessKey) return;
  throw new ConfigError(`refusing to listen on ${config.host} with the default credentials (minioadmin) while a remote is configured: anyone reaching the port could read the remote. Set S3_OVERLAY_LOCAL_ACCESS_KEY and S3_OVERLAY_LOCAL_SECRET_KEY, or S3_OVERLAY_ALLOW_DEFAULT_CREDENTIALS=true to accept it`);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
