// AWS Signature Version 4 verification, the way S3 does it: header auth and
// presigned URLs; SigV2 requests are handed to sigv2.ts. Pure: it sees the request
// line and headers, never the body (payload.ts verifies the body against what this returns).
import { createHmac, createSecretKey, hash, timingSafeEqual, type KeyObject } from "node:crypto";
import { S3Error } from "./errors.js";
import { signableBytes } from "./headers.js";
import { isSigV2Query, verifySigV2Header, verifySigV2Query } from "./sigv2.js";

export interface AuthRequest {
  method: string;
  /** path exactly as sent, still percent-encoded, e.g. "/bucket/a%20b/c" */
  rawPath: string;
  /** query string exactly as sent, without "?", may be "" */
  rawQuery: string;
  /** node IncomingHttpHeaders (lower-case names) */
  headers: Record<string, string | string[] | undefined>;
  /** the bucket, when the Host header named it (virtual-hosted style; SigV2 signs it in the path) */
  virtualHostBucket?: string;
}

/** accessKeyId -> secret key, or undefined when the key is unknown */
export type CredentialLookup = (accessKeyId: string) => string | undefined;

export type PayloadMode = "signed" | "unsigned" | "streaming-signed" | "streaming-signed-trailer" | "streaming-unsigned-trailer";

export interface StreamingContext {
  signingKey: KeyObject;
  seedSignature: string;
  amzDate: string;
  scope: string;
}

export interface AuthResult {
  accessKeyId: string;
  /** from the credential scope */
  region: string;
  /** sha256 = the declared hex hash when mode is "signed" */
  payload: { mode: PayloadMode; sha256?: string };
  /** set for streaming-signed modes: what the chunk-signature chain needs */
  streaming?: StreamingContext;
}

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_EXPIRES = 604800;

const PAYLOAD_MODES: Record<string, PayloadMode> = {
  "UNSIGNED-PAYLOAD": "unsigned",
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": "streaming-signed",
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": "streaming-signed-trailer",
  "STREAMING-UNSIGNED-PAYLOAD-TRAILER": "streaming-unsigned-trailer",
};

/** Verifies the request's SigV4 signature (header or presigned); throws S3Error when it is not acceptable. */
export function verifyRequest(req: AuthRequest, lookup: CredentialLookup, now: Date = new Date()): AuthResult {
  const query = parseQuery(req.rawQuery);
  const authorization = headerValue(req.headers, "authorization");
  const presigned = query.some(([name]) => name === "X-Amz-Algorithm" || name === "X-Amz-Credential" || name === "X-Amz-Signature");
  if (authorization !== undefined && (presigned || isSigV2Query(query))) {
    throw new S3Error(
      "InvalidArgument",
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
      { ArgumentName: "Authorization", ArgumentValue: authorization },
    );
  }
  if (authorization?.startsWith("AWS ")) return verifySigV2Header(req, query, authorization, lookup, now);
  if (authorization !== undefined) return verifyHeaderAuth(req, query, authorization, lookup, now);
  if (presigned) return verifyPresigned(req, query, lookup, now);
  if (isSigV2Query(query)) return verifySigV2Query(req, query, lookup, now);
  throw new S3Error("AccessDenied", "Access Denied");
}

interface ParsedAuth {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
}

function verifyHeaderAuth(req: AuthRequest, query: QueryPair[], authorization: string, lookup: CredentialLookup, now: Date): AuthResult {
  const malformed = (why: string) => new S3Error("AuthorizationHeaderMalformed", `The authorization header is malformed; ${why}`);
  const auth = parseAuthorizationHeader(authorization, malformed);
  const secret = lookupSecret(lookup, auth.accessKeyId);

  const amzDate = headerValue(req.headers, "x-amz-date");
  const dateHeader = headerValue(req.headers, "date");
  const requestTime = amzDate !== undefined ? parseAmzDate(amzDate) : dateHeader !== undefined ? parseHttpDate(dateHeader) : undefined;
  if (requestTime === undefined) throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  const timestamp = formatAmzDate(requestTime);
  checkScope(auth, timestamp, malformed);
  if (!auth.signedHeaders.includes("host")) throw malformed("the SignedHeaders must include host.");
  checkAllAmzHeadersSigned(req.headers, auth.signedHeaders);
  if (Math.abs(requestTime.getTime() - now.getTime()) > MAX_SKEW_MS) {
    throw new S3Error("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
      RequestTime: amzDate ?? dateHeader ?? "",
      ServerTime: now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }

  const contentSha256 = headerValue(req.headers, "x-amz-content-sha256");
  if (contentSha256 === undefined) throw new S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  const payload = parsePayloadHash(contentSha256);

  const canonicalQuery = canonicalQueryString(query, false);
  const signature = checkSignature(req, auth, secret, timestamp, canonicalQuery, contentSha256);
  return {
    accessKeyId: auth.accessKeyId,
    region: auth.region,
    payload,
    streaming: payload.mode.startsWith("streaming-signed") ? signature : undefined,
  };
}

function verifyPresigned(req: AuthRequest, query: QueryPair[], lookup: CredentialLookup, now: Date): AuthResult {
  const queryError = (message: string) => new S3Error("AuthorizationQueryParametersError", message);
  const param = (name: string) => query.find(([key]) => key === name)?.[1];
  const algorithm = param("X-Amz-Algorithm");
  const credential = param("X-Amz-Credential");
  const signature = param("X-Amz-Signature");
  const amzDate = param("X-Amz-Date");
  const signedHeaders = param("X-Amz-SignedHeaders");
  const expires = param("X-Amz-Expires");
  if (algorithm === undefined || credential === undefined || signature === undefined || amzDate === undefined || signedHeaders === undefined || expires === undefined) {
    throw queryError(
      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
    );
  }
  if (algorithm !== ALGORITHM) throw queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const auth = parseCredential(credential, signedHeaders, signature, (why) => queryError(`Error parsing the X-Amz-Credential parameter; ${why}`));
  const requestTime = parseAmzDate(amzDate);
  if (requestTime === undefined) throw queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  if (!/^-?\d+$/.test(expires)) throw queryError("X-Amz-Expires should be a number");
  const expiresSeconds = Number(expires);
  // S3 answers these two as 403, though the code is 400 for malformed parameters; 0 is valid and expires at once
  if (expiresSeconds < 0) throw new S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", {}, {}, 403);
  if (expiresSeconds > MAX_PRESIGN_EXPIRES) {
    throw new S3Error(
      "AuthorizationQueryParametersError",
      "X-Amz-Expires must be less than a week (in seconds) that is; the given X-Amz-Expires must be less than 604800 seconds",
      {}, {}, 403,
    );
  }
  checkScope(auth, amzDate, queryError);
  if (!auth.signedHeaders.includes("host")) throw queryError("X-Amz-SignedHeaders must include host.");

  const secret = lookupSecret(lookup, auth.accessKeyId);
  checkAllAmzHeadersSigned(req.headers, auth.signedHeaders);
  if (requestTime.getTime() - now.getTime() > MAX_SKEW_MS) throw new S3Error("AccessDenied", "Request is not valid yet");
  if (now.getTime() > requestTime.getTime() + expiresSeconds * 1000) {
    throw new S3Error("AccessDenied", "Request has expired", {
      "X-Amz-Expires": expires,
      Expires: new Date(requestTime.getTime() + expiresSeconds * 1000).toISOString(),
      ServerTime: now.toISOString(),
    });
  }

  // The payload is unsigned unless the URL (or a signed header) declares a hash.
  const declared =
    param("X-Amz-Content-Sha256") ??
    (auth.signedHeaders.includes("x-amz-content-sha256") ? headerValue(req.headers, "x-amz-content-sha256") : undefined) ??
    "UNSIGNED-PAYLOAD";
  const payload = parsePayloadHash(declared);
  const canonicalQuery = canonicalQueryString(query, true);
  const streaming = checkSignature(req, auth, secret, amzDate, canonicalQuery, declared);
  return {
    accessKeyId: auth.accessKeyId,
    region: auth.region,
    payload,
    streaming: payload.mode.startsWith("streaming-signed") ? streaming : undefined,
  };
}

/** Builds the canonical request, signs it with the secret and compares in constant time. */
function checkSignature(req: AuthRequest, auth: ParsedAuth, secret: string, timestamp: string, canonicalQuery: string, payloadHash: string): StreamingContext {
  const canonicalHeaders = auth.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req.headers[name])}\n`).join("");
  const canonicalRequest = [
    req.method,
    canonicalUri(req.rawPath),
    canonicalQuery,
    canonicalHeaders,
    auth.signedHeaders.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${auth.scopeDate}/${auth.region}/${auth.service}/${auth.terminator}`;
  const signingKey = deriveSigningKey(secret, auth.scopeDate, auth.region, auth.service);
  const stringsToSign = signableBytes(canonicalRequest).map((bytes) => `${ALGORITHM}\n${timestamp}\n${scope}\n${hash("sha256", bytes)}`);
  for (const stringToSign of stringsToSign) {
    const expected = hmacHex(signingKey, stringToSign);
    if (signaturesEqual(expected, auth.signature)) return { signingKey, seedSignature: expected, amzDate: timestamp, scope };
  }
  throw new S3Error(
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    { AWSAccessKeyId: auth.accessKeyId, StringToSign: stringsToSign[0]!, SignatureProvided: auth.signature, CanonicalRequest: canonicalRequest },
  );
}

export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  const expected = Buffer.from(expectedHex);
  const provided = Buffer.from(providedHex);
  return expected.length === provided.length && timingSafeEqual(expected, provided);
}

/** A KeyObject, not a Buffer: node 24 spends ~60 µs per createHmac checking whether a Buffer key is a key object (7 µs with one, measured). */
export function hmacHex(key: KeyObject, data: string): string {
  return createHmac("sha256", key).update(data).digest("hex");
}

// Four HMACs per derivation; the key only changes per (secret, day, region), so keep
// the most recently used ones (an LRU: a hit moves to the end, the oldest goes first).
const signingKeyCache = new Map<string, KeyObject>();
const SIGNING_KEY_CACHE_LIMIT = 64;

function deriveSigningKey(secret: string, date: string, region: string, service: string): KeyObject {
  const cacheKey = `${date}\n${region}\n${service}\n${secret}`;
  const cached = signingKeyCache.get(cacheKey);
  if (cached !== undefined) {
    signingKeyCache.delete(cacheKey);
    signingKeyCache.set(cacheKey, cached);
    return cached;
  }
  let key = createHmac("sha256", `AWS4${secret}`).update(date).digest();
  for (const part of [region, service, "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const signingKey = createSecretKey(key);
  if (signingKeyCache.size >= SIGNING_KEY_CACHE_LIMIT) signingKeyCache.delete(signingKeyCache.keys().next().value!);
  signingKeyCache.set(cacheKey, signingKey);
  return signingKey;
}

function lookupSecret(lookup: CredentialLookup, accessKeyId: string): string {
  const secret = lookup(accessKeyId);
  if (secret === undefined) {
    throw new S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", { AWSAccessKeyId: accessKeyId });
  }
  return secret;
}

function parseAuthorizationHeader(value: string, malformed: (why: string) => S3Error): ParsedAuth {
  const space = value.indexOf(" ");
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new S3Error("InvalidArgument", "Unsupported Authorization Type", { ArgumentName: "Authorization", ArgumentValue: value });
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(space + 1).split(",")) {
    const equals = part.indexOf("=");
    if (equals > 0) fields.set(part.slice(0, equals).trim(), part.slice(equals + 1).trim());
  }
  const credential = fields.get("Credential");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (space < 0 || credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.");
  }
  return parseCredential(credential, signedHeaders, signature, malformed);
}

function parseCredential(credential: string, signedHeaders: string, signature: string, malformed: (why: string) => S3Error): ParsedAuth {
  const parts = credential.split("/");
  if (parts.length !== 5 || parts[0] === "" || !/^\d{8}$/.test(parts[1]) || parts[2] === "") {
    throw malformed('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  }
  const [accessKeyId, scopeDate, region, service, terminator] = parts;
  if (service !== "s3") throw malformed(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminator !== "aws4_request") throw malformed(`incorrect terminal "${terminator}". This endpoint uses "aws4_request".`);
  return { accessKeyId, scopeDate, region, service, terminator, signedHeaders: signedHeaders.split(";"), signature };
}

function checkScope(auth: ParsedAuth, timestamp: string, malformed: (why: string) => S3Error): void {
  if (auth.scopeDate !== timestamp.slice(0, 8)) {
    throw malformed(`Invalid credential date "${auth.scopeDate}". This date is not the same as X-Amz-Date: "${timestamp.slice(0, 8)}".`);
  }
}

/** S3 refuses x-amz-* headers that the signature does not cover (they would be forgeable). */
function checkAllAmzHeadersSigned(headers: AuthRequest["headers"], signedHeaders: string[]): void {
  const unsigned = Object.keys(headers).filter(
    (name) => name.startsWith("x-amz-") && name !== "x-amz-content-sha256" && headers[name] !== undefined && !signedHeaders.includes(name),
  );
  if (unsigned.length > 0) {
    throw new S3Error("AccessDenied", "There were headers present in the request which were not signed", { HeadersNotSigned: unsigned.join(", ") });
  }
}

function parsePayloadHash(value: string): AuthResult["payload"] {
  const mode = PAYLOAD_MODES[value];
  if (mode !== undefined) return { mode };
  if (/^[0-9a-fA-F]{64}$/.test(value)) return { mode: "signed", sha256: value.toLowerCase() };
  throw new S3Error(
    "InvalidArgument",
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
    { ArgumentName: "x-amz-content-sha256", ArgumentValue: value },
  );
}

// ---- dates ----

/** "20130524T000000Z" -> Date, or undefined when malformed */
function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return date.getUTCDate() === day && date.getUTCHours() === hour ? date : undefined;
}

function parseHttpDate(value: string): Date | undefined {
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}

function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

// ---- canonical forms ----

export function headerValue(headers: AuthRequest["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/** Trimmed, inner runs of whitespace collapsed to one space, multiple values joined with ",". */
function canonicalHeaderValue(value: string | string[] | undefined): string {
  if (value === undefined) return "";
  const values = Array.isArray(value) ? value : [value];
  return values.map((one) => one.replace(/[ \t\r\n]+/g, " ").trim()).join(",");
}

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;

/**
 * S3 signs the path as the client encoded it, once: each segment is decoded and
 * re-encoded with the RFC 3986 unreserved set, so "a b", "a%20b" and "a+b" vs "a%2Bb"
 * all land where the SDKs put them. Empty segments, "." and ".." are kept as sent.
 */
export function canonicalUri(rawPath: string): string {
  if (rawPath === "") return "/";
  return rawPath
    .split("/")
    .map((segment) => (UNRESERVED.test(segment) ? segment : uriEncode(percentDecode(segment, false))))
    .join("/");
}

type QueryPair = [name: string, value: string];

/** Decoded name/value pairs in order; "+" means a space, as in form encoding (S3 and MinIO agree). */
export function parseQuery(rawQuery: string): QueryPair[] {
  const pairs: QueryPair[] = [];
  if (rawQuery === "") return pairs;
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const equals = part.indexOf("=");
    const name = equals < 0 ? part : part.slice(0, equals);
    const value = equals < 0 ? "" : part.slice(equals + 1);
    pairs.push([decodeQueryPart(name), decodeQueryPart(value)]);
  }
  return pairs;
}

/** Most query parts need no decoding: strings only, no Buffer (a presigned URL has 7 parts, measured ~1/5 of its check). */
function decodeQueryPart(raw: string): string {
  if (!raw.includes("%") && !raw.includes("+")) return raw;
  const text = raw.replace(/\+/g, " ");
  try {
    return decodeURIComponent(text); // the same as percentDecode's bytes read as UTF-8, when they are valid
  } catch {
    return percentDecode(text, false).toString("utf8");
  }
}

const encodeQueryPart = (text: string) => (UNRESERVED.test(text) ? text : uriEncode(Buffer.from(text)));

function canonicalQueryString(query: QueryPair[], presigned: boolean): string {
  return query
    .filter(([name]) => !(presigned && name === "X-Amz-Signature"))
    .map(([name, value]) => [encodeQueryPart(name), encodeQueryPart(value)])
    .sort(([nameA, valueA], [nameB, valueB]) => (nameA < nameB ? -1 : nameA > nameB ? 1 : valueA < valueB ? -1 : valueA > valueB ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** Percent-decoding at the byte level, so invalid UTF-8 or stray "%" survive a round trip. */
function percentDecode(raw: string, plusIsSpace: boolean): Buffer {
  const text = plusIsSpace ? raw.replace(/\+/g, " ") : raw;
  if (!text.includes("%")) return Buffer.from(text);
  const pieces = text.split(/(%[0-9A-Fa-f]{2})/);
  return Buffer.concat(pieces.map((piece, index) => (index % 2 === 1 ? Buffer.from([parseInt(piece.slice(1), 16)]) : Buffer.from(piece))));
}

function uriEncode(bytes: Buffer): string {
  let out = "";
  for (const byte of bytes) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : `%${byte < 16 ? "0" : ""}${byte.toString(16).toUpperCase()}`;
  }
  return out;
}
