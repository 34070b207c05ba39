// Object headers in and out: user metadata and content headers from a request,
// and the headers S3 sends with an object on GET/HEAD.
import type { Checksum, ContentHeaders, S3Object } from "./model.js";
import { S3Error } from "./errors.js";

/** Request headers as Node gives them: names lower-cased, values latin1 (one char per byte). */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** One header's value; repeated headers are joined with ", " as HTTP allows. */
export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * The bytes a client may have signed for `text`, which holds header values as Node
 * gives them (latin1: one char per byte received). Clients that send a value's UTF-8
 * bytes sign those (the JS SDK, botocore 1.29: both measured), so the bytes as received
 * come first; one that sends latin-1 bytes but signs the characters' UTF-8 (botocore's
 * signer over Python's http.client) matches the second. Either is made with the secret.
 */
export function signableBytes(text: string): Buffer[] {
  const utf8 = Buffer.from(text, "utf8");
  // ASCII-only (nearly every request), or chars above 0xFF (not from Node's parser)
  if (utf8.length === text.length || /[\u0100-\uffff]/.test(text)) return [utf8];
  return [Buffer.from(text, "latin1"), utf8];
}

const META_PREFIX = "x-amz-meta-";
/** AWS: "the user-defined metadata is limited to 2 KB", counting the bytes of each name and value. */
const MAX_USER_METADATA_BYTES = 2048;

/**
 * x-amz-meta-* headers with the prefix removed and names lower-cased. Values are
 * kept byte for byte (Node's latin1 strings), so they go back out unchanged.
 */
export function parseUserMetadata(headers: RequestHeaders): Record<string, string> {
  const metadata: Record<string, string> = {};
  let bytes = 0;
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (!lower.startsWith(META_PREFIX)) continue;
    const value = headerValue(headers, name);
    if (value === undefined) continue;
    const key = lower.slice(META_PREFIX.length);
    metadata[key] = value;
    bytes += Buffer.byteLength(key) + value.length;
  }
  if (bytes > MAX_USER_METADATA_BYTES) {
    throw new S3Error("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.", {
      Size: String(bytes),
      MaxSizeAllowed: String(MAX_USER_METADATA_BYTES),
    });
  }
  return metadata;
}

/** The standard content headers an object keeps, each with its header name: the one table every layer uses. */
export const CONTENT_HEADERS: readonly (readonly [field: keyof ContentHeaders, header: string])[] = [
  ["contentType", "content-type"],
  ["contentEncoding", "content-encoding"],
  ["contentDisposition", "content-disposition"],
  ["contentLanguage", "content-language"],
  ["cacheControl", "cache-control"],
  ["expires", "expires"],
];

/**
 * Content-Encoding without its "aws-chunked" entries, the rest exactly as sent
 * ("aws-chunked, deflate, gzip" -> "deflate, gzip", as S3 stores it); undefined when nothing remains.
 */
export function withoutAwsChunked(encoding: string): string | undefined {
  const kept = encoding.split(",").filter((part) => part.trim().toLowerCase() !== "aws-chunked").join(",").trim();
  return kept === "" ? undefined : kept;
}

/**
 * The standard content headers of a PUT / CreateMultipartUpload. "aws-chunked" is a
 * transfer detail of the upload, not of the object: S3 drops it from Content-Encoding.
 */
export function contentHeadersFrom(headers: RequestHeaders): ContentHeaders {
  const result: ContentHeaders = {};
  for (const [field, name] of CONTENT_HEADERS) {
    const value = headerValue(headers, name);
    if (value !== undefined) result[field] = value;
  }
  if (result.contentEncoding !== undefined) {
    const kept = withoutAwsChunked(result.contentEncoding);
    if (kept === undefined) delete result.contentEncoding;
    else result.contentEncoding = kept;
  }
  return result;
}

/** What S3 answers as Content-Type for an object stored without one. */
export const DEFAULT_CONTENT_TYPE = "binary/octet-stream";

export interface ObjectHeaderOptions {
  /** GET/HEAD asked for ?partNumber: S3 then adds x-amz-mp-parts-count for multipart objects. */
  partNumber?: number;
  /** x-amz-checksum-mode: ENABLED on a whole-object read: add the stored checksum. */
  checksum?: boolean;
}

/**
 * The headers S3 sends with an object on GET/HEAD (without Content-Length /
 * Content-Range, which depend on the range served).
 */
export function objectResponseHeaders(info: S3Object, options: ObjectHeaderOptions = {}): Record<string, string> {
  const headers: Record<string, string> = {
    etag: `"${info.etag}"`,
    "last-modified": info.lastModified.toUTCString(),
    "content-type": info.headers.contentType ?? DEFAULT_CONTENT_TYPE,
    "accept-ranges": "bytes",
  };
  for (const [field, name] of CONTENT_HEADERS) {
    const value = info.headers[field];
    if (value !== undefined) headers[name] = value;
  }
  for (const [name, value] of Object.entries(info.userMetadata)) headers[META_PREFIX + name] = value;
  if (options.partNumber !== undefined && info.partSizes !== undefined) {
    headers["x-amz-mp-parts-count"] = String(info.partSizes.length);
  }
  if (options.checksum && info.checksum !== undefined) Object.assign(headers, checksumHeaders(info.checksum));
  return headers;
}

/** x-amz-checksum-<algorithm> and x-amz-checksum-type for a stored checksum. */
export function checksumHeaders(checksum: Checksum): Record<string, string> {
  return {
    [`x-amz-checksum-${checksum.algorithm.toLowerCase()}`]: checksum.value,
    "x-amz-checksum-type": checksum.type,
  };
}

/** GET's response-* query parameters and the header each one overrides. */
const RESPONSE_OVERRIDES: [param: string, header: string][] = [
  ["response-content-type", "content-type"],
  ["response-content-language", "content-language"],
  ["response-expires", "expires"],
  ["response-cache-control", "cache-control"],
  ["response-content-disposition", "content-disposition"],
  ["response-content-encoding", "content-encoding"],
];

/**
 * Applies GET's response-content-type & co. to headers built by objectResponseHeaders
 * (in place). Query values are Unicode; header values go out as their UTF-8 bytes.
 */
export function applyResponseOverrides(headers: Record<string, string>, query: URLSearchParams): void {
  for (const [param, header] of RESPONSE_OVERRIDES) {
    const value = query.get(param);
    if (value !== null) headers[header] = Buffer.from(value, "utf8").toString("latin1");
  }
}
