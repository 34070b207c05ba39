// The plan of a request body, made from its headers before any byte is read: its length,
// framing (aws-chunked, trailers), declared digests and the stored Content-Encoding.
import type { ChecksumAlgorithm } from "./model.js";
import { algorithmOfHeader, checksumHeaderName, DIGEST_LENGTH, parseChecksumAlgorithm } from "./checksums.js";
import { S3Error } from "./errors.js";
import { withoutAwsChunked } from "./headers.js";
import { headerValue, type AuthResult, type StreamingContext } from "./sigv4.js";

type Headers = Record<string, string | string[] | undefined>;

export interface PayloadPlan {
  /** bytes of object data the body must decode to; undefined for a Transfer-Encoding: chunked body (any length) */
  decodedLength: number | undefined;
  /** aws-chunked framing; undefined for a plain body */
  chunked?: {
    /** set when every chunk carries a chunk-signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) */
    signing?: StreamingContext;
    /** the trailer carries x-amz-trailer-signature */
    trailerSigned: boolean;
    /** lower-case header names announced in x-amz-trailer; each must arrive in the trailer */
    trailers: string[];
  };
  /** declared hex sha256 of the body (x-amz-content-sha256 in "signed" mode) */
  sha256?: string;
  /** decoded Content-MD5 */
  md5?: Buffer;
  /** the flexible checksum to compute; `expected` is the base64 value when it came in a header */
  checksum?: { algorithm: ChecksumAlgorithm; expected?: string };
  /** Content-Encoding to store with the object: what was sent, minus "aws-chunked" */
  contentEncoding?: string;
}

/** Validate the body-related headers up front (throws S3Error before any byte is read). */
export function planPayload(headers: Headers, auth: AuthResult): PayloadPlan {
  const mode = auth.payload.mode;
  const encodings = (headerValue(headers, "content-encoding") ?? "")
    .split(",")
    .map((encoding) => encoding.trim())
    .filter((encoding) => encoding !== "");
  const awsChunked = encodings.some((encoding) => encoding.toLowerCase() === "aws-chunked");
  const isChunked = mode.startsWith("streaming-") || awsChunked;
  if (isChunked && mode === "signed") {
    throw new S3Error("InvalidArgument", "aws-chunked bodies need a STREAMING-* or UNSIGNED-PAYLOAD x-amz-content-sha256", {
      ArgumentName: "x-amz-content-sha256",
      ArgumentValue: auth.payload.sha256 ?? "",
    });
  }

  const contentLength = parseLength(headers, "content-length");
  // S3 itself refuses a body of unknown length; here Transfer-Encoding: chunked streams in
  // (Node removes the framing) and the object is as long as what arrives
  const streamedChunked = contentLength === undefined && isTransferChunked(headers) && !isChunked;
  if (contentLength === undefined && headers["transfer-encoding"] !== undefined && !isChunked && !streamedChunked) throw missingContentLength();
  let decodedLength = streamedChunked ? undefined : contentLength ?? 0;
  if (isChunked) {
    const decoded = parseLength(headers, "x-amz-decoded-content-length");
    if (decoded === undefined) throw missingContentLength();
    decodedLength = decoded;
  }

  const trailers = (headerValue(headers, "x-amz-trailer") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  if (trailers.length > 0 && (!isChunked || mode === "streaming-signed")) {
    throw new S3Error("InvalidRequest", "The value specified in the x-amz-trailer header is not supported");
  }

  const plan: PayloadPlan = {
    decodedLength,
    chunked: isChunked ? { signing: signingFor(mode, auth), trailerSigned: mode === "streaming-signed-trailer", trailers } : undefined,
    sha256: mode === "signed" ? auth.payload.sha256 : undefined,
    md5: parseContentMd5(headerValue(headers, "content-md5")),
    checksum: planChecksum(headers, trailers),
    contentEncoding: withoutAwsChunked(headerValue(headers, "content-encoding") ?? ""),
  };
  return plan;
}

/** Transfer-Encoding ends in "chunked" (the only framing HTTP/1.1 allows last). */
function isTransferChunked(headers: Headers): boolean {
  const codings = (headerValue(headers, "transfer-encoding") ?? "").split(",").map((coding) => coding.trim().toLowerCase());
  return codings[codings.length - 1] === "chunked";
}

function signingFor(mode: AuthResult["payload"]["mode"], auth: AuthResult): StreamingContext | undefined {
  if (mode !== "streaming-signed" && mode !== "streaming-signed-trailer") return undefined;
  if (auth.streaming === undefined) throw new Error("a streaming-signed AuthResult must carry its streaming context");
  return auth.streaming;
}

function parseLength(headers: Headers, name: string): number | undefined {
  const value = headerValue(headers, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) throw new S3Error("InvalidArgument", `Invalid ${name}`, { ArgumentName: name, ArgumentValue: value });
  return Number(value);
}

function missingContentLength(): S3Error {
  return new S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.");
}

function parseContentMd5(value: string | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const digest = decodeBase64Digest(value.trim(), 16);
  if (digest === undefined) throw new S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.");
  return digest;
}

/** base64 -> exactly `length` bytes, or undefined when it is not canonical base64 of that length */
export function decodeBase64Digest(value: string, length: number): Buffer | undefined {
  const bytes = Buffer.from(value, "base64");
  return bytes.length === length && bytes.toString("base64") === value ? bytes : undefined;
}

function planChecksum(headers: Headers, trailers: string[]): PayloadPlan["checksum"] {
  const inHeaders = Object.keys(headers).filter((name) => headers[name] !== undefined && algorithmOfHeader(name) !== undefined);
  const inTrailer = trailers.filter((name) => algorithmOfHeader(name) !== undefined);
  if (trailers.length > inTrailer.length) throw new S3Error("InvalidRequest", "The value specified in the x-amz-trailer header is not supported");
  const named = [...inHeaders, ...inTrailer];
  if (named.length > 1) throw new S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.");

  const sdkAlgorithm = parseChecksumAlgorithm(headerValue(headers, "x-amz-sdk-checksum-algorithm"));
  if (named.length === 0) {
    if (sdkAlgorithm !== undefined) {
      throw new S3Error("InvalidRequest", "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.");
    }
    return undefined;
  }
  const algorithm = algorithmOfHeader(named[0])!;
  if (sdkAlgorithm !== undefined && sdkAlgorithm !== algorithm) {
    throw new S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.");
  }
  if (inTrailer.length > 0) return { algorithm };
  const expected = headerValue(headers, named[0])!.trim();
  if (decodeBase64Digest(expected, DIGEST_LENGTH[algorithm]) === undefined) {
    throw new S3Error("InvalidRequest", `Value for ${checksumHeaderName(algorithm)} header is invalid.`);
  }
  return { algorithm, expected };
}

/**
 * A Readable of the decoded object bytes. Verification happens before it ends:
 * if anything does not match, the stream is destroyed with an S3Error instead of ending,
 * so a consumer that sees 'end' knows the bytes are complete and verified.
 * digests() is available once the stream has ended.
 */
