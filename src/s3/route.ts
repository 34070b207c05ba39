// Request routing: which bucket and key a request names, and which S3 operation it is.
import { S3Error, errors } from "./errors.js";
import { headerValue, type RequestHeaders } from "./headers.js";

export interface S3Target {
  bucket?: string;
  key?: string;
  /** the path exactly as sent (still percent-encoded), for SigV4 */
  rawPath: string;
  /** the query string exactly as sent, without "?" */
  rawQuery: string;
  query: URLSearchParams;
  /** the Host header named the bucket (virtual-hosted style) */
  virtualHosted?: boolean;
}

/**
 * Splits a request URL into bucket/key: path-style (/bucket/key) or virtual-host
 * style (Host: bucket.<domain>[:port]) when `domain` is given (like MinIO's
 * MINIO_DOMAIN). Keys are percent-decoded (UTF-8); "+" in a path is a literal plus.
 * `rawUrl` must be the request-target as received (Node's req.url): a WHATWG URL
 * would already have collapsed "//" and "../" that are legal inside keys.
 */
export function parseTarget(rawUrl: string, host: string | undefined, domain?: string): S3Target {
  const target = stripAbsoluteForm(rawUrl);
  const queryStart = target.indexOf("?");
  const rawPath = queryStart === -1 ? target : target.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? "" : target.slice(queryStart + 1);
  const result: S3Target = { rawPath, rawQuery, query: new URLSearchParams(rawQuery) };

  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  const hostBucket = domain === undefined ? undefined : bucketFromHost(host, domain);
  if (hostBucket !== undefined) {
    result.bucket = hostBucket;
    result.virtualHosted = true;
    if (path !== "") result.key = decodePathPart(path);
    return result;
  }
  if (path === "") return result;
  const slash = path.indexOf("/");
  if (slash === -1) {
    result.bucket = decodePathPart(path);
  } else {
    result.bucket = decodePathPart(path.slice(0, slash));
    const key = path.slice(slash + 1);
    if (key !== "") result.key = decodePathPart(key);
  }
  return result;
}

/** "http://host/path?q" (absolute-form, as sent to proxies) -> "/path?q". */
function stripAbsoluteForm(rawUrl: string): string {
  if (rawUrl.startsWith("/")) return rawUrl;
  const scheme = rawUrl.indexOf("://");
  if (scheme === -1) return "/" + rawUrl;
  const pathStart = rawUrl.indexOf("/", scheme + 3);
  return pathStart === -1 ? "/" : rawUrl.slice(pathStart);
}

/** The bucket of a virtual-host style Host header ("my.bucket.s3.local:8000"), if it is one. */
function bucketFromHost(host: string | undefined, domain: string): string | undefined {
  if (host === undefined) return undefined;
  const hostname = host.toLowerCase().replace(/:\d+$/, "");
  const suffix = "." + domain.toLowerCase();
  if (!hostname.endsWith(suffix) || hostname.length === suffix.length) return undefined;
  return hostname.slice(0, -suffix.length);
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    // S3's code for a path that does not percent-decode to UTF-8
    throw new S3Error("InvalidURI", "Couldn't parse the specified URI.");
  }
}

export type Operation =
  | "ListBuckets"
  | "CreateBucket"
  | "HeadBucket"
  | "DeleteBucket"
  | "GetBucketLocation"
  | "ListObjects"
  | "ListObjectsV2"
  | "ListMultipartUploads"
  | "DeleteObjects"
  | "PutObject"
  | "CopyObject"
  | "GetObject"
  | "HeadObject"
  | "DeleteObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "UploadPartCopy"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListParts"
  | "GetObjectTagging"
  | "GetObjectAcl"
  | "GetObjectAttributes"
  | BucketConfigurationRead;

/**
 * Reads of bucket configuration this server never holds, by subresource. Tools call
 * them routinely, so they answer as S3 does for an unconfigured bucket (an empty
 * document, the owner's ACL, or the configuration's 404); writing any of them is 501.
 */
export const BUCKET_CONFIGURATION_READS = {
  versioning: "GetBucketVersioning",
  acl: "GetBucketAcl",
  policy: "GetBucketPolicy",
  cors: "GetBucketCors",
  lifecycle: "GetBucketLifecycleConfiguration",
  tagging: "GetBucketTagging",
  encryption: "GetBucketEncryption",
  "object-lock": "GetObjectLockConfiguration",
  ownershipControls: "GetBucketOwnershipControls",
  publicAccessBlock: "GetPublicAccessBlock",
  website: "GetBucketWebsite",
  replication: "GetBucketReplication",
} as const;
export type BucketConfigurationRead = (typeof BUCKET_CONFIGURATION_READS)[keyof typeof BUCKET_CONFIGURATION_READS];

/**
 * Query parameters that select an S3 feature this server does not have (bucket
 * and object configuration, versioning, S3 Select, ...). Any other unknown
 * parameter is ignored, as S3 does.
 */
const UNSUPPORTED_SUBRESOURCES = [
  "accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering",
  "inventory", "legal-hold", "lifecycle", "logging", "metadataConfiguration", "metadataTable",
  "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
  "publicAccessBlock", "renameObject", "replication", "requestPayment", "restore", "retention",
  "select", "session", "tagging", "torrent", "versioning", "versions", "website",
];

function configurationRead(subresource: string): BucketConfigurationRead | undefined {
  return Object.hasOwn(BUCKET_CONFIGURATION_READS, subresource)
    ? BUCKET_CONFIGURATION_READS[subresource as keyof typeof BUCKET_CONFIGURATION_READS]
    : undefined;
}

/**
 * Which S3 operation a request is (method + bucket/key presence + subresource
 * query params + x-amz-copy-source). Unsupported subresources and object
 * versions throw NotImplemented (501); a method the resource does not have
 * throws MethodNotAllowed (405).
 */
export function resolveOperation(method: string, target: S3Target, headers: RequestHeaders): Operation {
  const { query } = target;
  // objects never have tags here, and saying so (an empty TagSet) is what lets `aws s3 cp` copy between keys
  if (method.toUpperCase() === "GET" && target.key !== undefined && query.has("tagging")) return "GetObjectTagging";
  if (method.toUpperCase() === "GET" && target.key !== undefined && query.has("acl")) return "GetObjectAcl";
  const unsupported = UNSUPPORTED_SUBRESOURCES.find((name) => query.has(name));
  if (unsupported !== undefined) {
    const read = target.bucket !== undefined && target.key === undefined ? configurationRead(unsupported) : undefined;
    if (read !== undefined && method.toUpperCase() === "GET") return read;
    if (read !== undefined) {
      throw new S3Error("NotImplemented", `Setting or deleting bucket configuration (?${unsupported}) is not implemented by s3-overlay: buckets here keep none, and reading it answers as for an unconfigured bucket`);
    }
    throw errors.notImplemented(`The ?${unsupported} subresource`);
  }
  // Buckets here are never versioned: only the "null" version (the current object) exists.
  const versionId = query.get("versionId");
  if (versionId !== null && versionId !== "null") throw errors.notImplemented("Object versions (versionId)");

  const verb = method.toUpperCase();
  if (target.bucket === undefined) {
    if (verb === "GET") return "ListBuckets";
    throw methodNotAllowed(verb, "service");
  }
  if (target.key === undefined) return bucketOperation(verb, query);
  return objectOperation(verb, query, headerValue(headers, "x-amz-copy-source") !== undefined);
}

function bucketOperation(verb: string, query: URLSearchParams): Operation {
  switch (verb) {
    case "GET": {
      if (query.has("location")) return "GetBucketLocation";
      if (query.has("uploads")) return "ListMultipartUploads";
      const listType = query.get("list-type");
      if (listType === null) return "ListObjects";
      if (listType === "2") return "ListObjectsV2";
      throw errors.invalidArgument("Invalid List Type specified", "list-type", listType);
    }
    case "HEAD":
      return "HeadBucket";
    case "PUT":
      return "CreateBucket";
    case "DELETE":
      return "DeleteBucket";
    case "POST":
      if (query.has("delete")) return "DeleteObjects";
      throw errors.notImplemented("POST Object (browser-based form upload)");
    default:
      throw methodNotAllowed(verb, "bucket");
  }
}

function objectOperation(verb: string, query: URLSearchParams, hasCopySource: boolean): Operation {
  const hasUploadId = query.has("uploadId");
  if (query.has("attributes")) {
    if (verb === "GET") return "GetObjectAttributes";
    throw methodNotAllowed(verb, "object");
  }
  switch (verb) {
    case "GET":
      return hasUploadId ? "ListParts" : "GetObject";
    case "HEAD":
      return "HeadObject";
    case "PUT":
      if (hasUploadId || query.has("partNumber")) {
        if (!hasUploadId) throw errors.invalidArgument("uploadId is required with partNumber", "uploadId", "");
        if (!query.has("partNumber")) throw errors.invalidArgument("partNumber is required with uploadId", "partNumber", "");
        return hasCopySource ? "UploadPartCopy" : "UploadPart";
      }
      return hasCopySource ? "CopyObject" : "PutObject";
    case "POST":
      if (query.has("uploads")) return "CreateMultipartUpload";
      if (hasUploadId) return "CompleteMultipartUpload";
      throw methodNotAllowed(verb, "object");
    case "DELETE":
      return hasUploadId ? "AbortMultipartUpload" : "DeleteObject";
    default:
      throw methodNotAllowed(verb, "object");
  }
}

function methodNotAllowed(verb: string, resourceType: string): S3Error {
  return new S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", {
    Method: verb,
    ResourceType: resourceType.toUpperCase(),
  });
}

const MAX_PART_NUMBER = 10000;

/** The partNumber query parameter (UploadPart, GET/HEAD by part): an integer in 1..10000. */
export function parsePartNumber(value: string): number {
  const partNumber = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(partNumber >= 1 && partNumber <= MAX_PART_NUMBER)) {
    throw errors.invalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", value);
  }
  return partNumber;
}

/**
 * The x-amz-copy-source header: "[/]bucket/key[?versionId=...]", key percent-encoded.
 * Only the current ("null") version can be copied, as in resolveOperation.
 */
export function parseCopySource(value: string): { bucket: string; key: string } {
  const queryStart = value.indexOf("?");
  const path = (queryStart === -1 ? value : value.slice(0, queryStart)).replace(/^\//, "");
  if (queryStart !== -1) {
    const versionId = new URLSearchParams(value.slice(queryStart + 1)).get("versionId");
    if (versionId !== null && versionId !== "null") throw errors.notImplemented("Copying an object version (versionId)");
  }
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) {
    throw errors.invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey", "x-amz-copy-source", value);
  }
  try {
    return { bucket: decodeURIComponent(path.slice(0, slash)), key: decodeURIComponent(path.slice(slash + 1)) };
  } catch {
    throw errors.invalidArgument("Copy Source is not a valid percent-encoded UTF-8 string", "x-amz-copy-source", value);
  }
}
