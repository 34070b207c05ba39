// AWS Signature Version 2 verification, for the clients that still use it (boto3 with
// signature_version "s3" and its presigned URLs, s3cmd, older tools): header auth
// (`Authorization: AWS AKID:signature`) and query auth (AWSAccessKeyId, Signature,
// Expires). HMAC-SHA1 over the string to sign of the AWS SigV2 documentation. Pure.
import { createHmac, timingSafeEqual } from "node:crypto";
import { S3Error } from "./errors.js";
import { signableBytes } from "./headers.js";
import type { AuthRequest, AuthResult, CredentialLookup } from "./sigv4.js";

type QueryPair = [name: string, value: string];

const MAX_SKEW_MS = 15 * 60 * 1000;

/**
 * The subresources the canonical resource keeps (the documentation's list, plus the
 * ones S3 added later that the SDKs sign too); every other query parameter is left out.
 */
const SUBRESOURCES = new Set([
  "accelerate", "acl", "analytics", "cors", "delete", "inventory", "lifecycle", "location", "logging", "metrics",
  "notification", "object-lock", "partNumber", "policy", "replication", "requestPayment", "restore", "select",
  "select-type", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
  "response-content-type", "response-content-language", "response-expires", "response-cache-control",
  "response-content-disposition", "response-content-encoding",
]);

const BOTOCORE_SIGNED = new Set([...SUBRESOURCES, "list-type"]);

/** True when the query carries SigV2 query auth (and no SigV4 parameters). */
export function isSigV2Query(query: QueryPair[]): boolean {
  return query.some(([name]) => name === "AWSAccessKeyId" || name === "Signature");
}

/** `Authorization: AWS AKID:signature`. */
export function verifySigV2Header(req: AuthRequest, query: QueryPair[], authorization: string, lookup: CredentialLookup, now: Date): AuthResult {
  const credentials = authorization.slice("AWS ".length);
  const colon = credentials.lastIndexOf(":");
  if (colon <= 0 || colon === credentials.length - 1) {
    throw new S3Error("InvalidArgument", "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature", {
      ArgumentName: "Authorization", ArgumentValue: authorization,
    });
  }
  const accessKeyId = credentials.slice(0, colon).trim();
  const secret = lookupSecret(lookup, accessKeyId);
  const amzDate = one(req.headers, "x-amz-date");
  const date = amzDate ?? one(req.headers, "date");
  const time = date === undefined ? NaN : Date.parse(date);
  if (Number.isNaN(time)) throw new S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  if (Math.abs(time - now.getTime()) > MAX_SKEW_MS) {
    throw new S3Error("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
      RequestTime: date!, ServerTime: now.toISOString(), MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }
  // with x-amz-date the Date line is empty: that header is signed among the x-amz-* ones
  checkSignature(req, query, secret, accessKeyId, amzDate === undefined ? date! : "", credentials.slice(colon + 1).trim(), () => undefined);
  return result(req, accessKeyId);
}

/** A presigned SigV2 URL: ?AWSAccessKeyId=…&Expires=<epoch seconds>&Signature=…. */
export function verifySigV2Query(req: AuthRequest, query: QueryPair[], lookup: CredentialLookup, now: Date): AuthResult {
  const param = (name: string) => query.find(([key]) => key === name)?.[1];
  const accessKeyId = param("AWSAccessKeyId");
  const expires = param("Expires");
  // "+" in an unescaped signature reads as a space; a base64 signature has none
  const signature = param("Signature")?.replace(/ /g, "+");
  if (accessKeyId === undefined || expires === undefined || signature === undefined) {
    throw new S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters");
  }
  if (!/^\d+$/.test(expires)) throw new S3Error("AccessDenied", `Invalid date (should be seconds since epoch): ${expires}`);
  const secret = lookupSecret(lookup, accessKeyId);
  const expiresAt = new Date(Number(expires) * 1000);
  if (now.getTime() > expiresAt.getTime()) {
    throw new S3Error("AccessDenied", "Request has expired", { Expires: expiresAt.toISOString(), ServerTime: now.toISOString() });
  }
  // boto3 moves Content-Type, Content-MD5 and x-amz-* headers into the query of a presigned URL
  checkSignature(req, query, secret, accessKeyId, expires, signature, (name) => param(name));
  return result(req, accessKeyId);
}

/** The payload is not signed by SigV2; a signed x-amz-content-sha256 (an x-amz-* header) is still checked. */
function result(req: AuthRequest, accessKeyId: string): AuthResult {
  const sha256 = one(req.headers, "x-amz-content-sha256");
  const signed = sha256 !== undefined && /^[0-9a-fA-F]{64}$/.test(sha256);
  return { accessKeyId, region: "", payload: signed ? { mode: "signed", sha256: sha256.toLowerCase() } : { mode: "unsigned" } };
}

function checkSignature(
  req: AuthRequest, query: QueryPair[], secret: string, accessKeyId: string, dateLine: string, provided: string,
  fromQuery: (name: string) => string | undefined,
): void {
  const header = (name: string) => one(req.headers, name) ?? fromQuery(name) ?? "";
  const head = [req.method, header("content-md5").trim(), header("content-type").trim(), dateLine, canonicalAmzHeaders(req.headers, query)].join("\n");
  const stringToSign = `${head}${canonicalResource(req, query, SUBRESOURCES)}`;
  // botocore signs a bucket's path with a trailing "/" (1.29 and 1.43, measured), and 1.29 also an
  // operation's fixed query (ListObjectsV2's list-type=2): those are tried after the documented form
  const bareBucket = req.virtualHostBucket === undefined && /^\/[^/]+$/.test(req.rawPath);
  const resources = [SUBRESOURCES, BOTOCORE_SIGNED].map((set) => canonicalResource(req, query, set));
  if (bareBucket) resources.push(...resources.map((resource) => resource.replace(/^([^?]*)/, "$1/")));
  const candidates = [...new Set(resources.map((resource) => `${head}${resource}`))];
  for (const bytes of candidates.flatMap(signableBytes)) {
    const expected = Buffer.from(createHmac("sha1", secret).update(bytes).digest("base64"));
    const given = Buffer.from(provided);
    if (expected.length === given.length && timingSafeEqual(expected, given)) return;
  }
  throw new S3Error(
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    { AWSAccessKeyId: accessKeyId, StringToSign: stringToSign, SignatureProvided: provided },
  );
}

/** x-amz-* headers (and, for a presigned URL, x-amz-* query parameters no header repeats), "name:value\n" sorted by name. */
function canonicalAmzHeaders(headers: AuthRequest["headers"], query: QueryPair[]): string {
  const amz = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith("x-amz-") || value === undefined) continue;
    amz.set(name, (Array.isArray(value) ? value : [value]).map(unfold));
  }
  for (const [name, value] of query) {
    const lower = name.toLowerCase();
    if (lower.startsWith("x-amz-") && headers[lower] === undefined) amz.set(lower, [...(amz.get(lower) ?? []), unfold(value)]);
  }
  return [...amz.keys()].sort().map((name) => `${name}:${amz.get(name)!.join(",")}\n`).join("");
}

/**
 * The path as sent, with the bucket in front when the Host named it (virtual-hosted
 * style signs /bucket/key too), then the subresources sorted by name, values decoded.
 */
function canonicalResource(req: AuthRequest, query: QueryPair[], subresources: Set<string>): string {
  const path = req.virtualHostBucket === undefined ? req.rawPath || "/" : `/${req.virtualHostBucket}${req.rawPath || "/"}`;
  const kept = query
    .filter(([name]) => subresources.has(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => (value === "" ? name : `${name}=${value}`));
  return kept.length === 0 ? path : `${path}?${kept.join("&")}`;
}

function unfold(value: string): string {
  return value.replace(/\s*\r?\n\s*/g, " ").trim();
}

function one(headers: AuthRequest["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

function lookupSecret(lookup: CredentialLookup, accessKeyId: string): string {
  const secret = lookup(accessKeyId);
  if (secret === undefined) {
    throw new S3Error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", { AWSAccessKeyId: accessKeyId });
  }
  return secret;
}
