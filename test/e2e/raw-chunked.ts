// A hand-made STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload (aws-chunked with a chunk
// signature chain), built from the AWS "Signature Calculations for the Authorization
// Header: Transferring Payload in Multiple Chunks" documentation.
import { createHmac } from "node:crypto";
import { SECRET_KEY } from "./harness.js";
import { EMPTY_SHA256, send, sha256Hex, signHeaders, type RawResponse } from "./raw-http.js";

const STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const SIGNATURE_LENGTH = 64;

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function signingKey(secret: string, date: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), "s3"), "aws4_request");
}

function splitChunks(data: Buffer, chunkSize: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += chunkSize) chunks.push(data.subarray(offset, offset + chunkSize));
  chunks.push(Buffer.alloc(0)); // the final, empty chunk closes the chain
  return chunks;
}

function encodedLength(chunks: Buffer[]): number {
  return chunks.reduce((total, chunk) => total + chunk.length.toString(16).length + ";chunk-signature=".length + SIGNATURE_LENGTH + 2 + chunk.length + 2, 0);
}

export interface StreamingPutOptions {
  /** bytes per chunk (S3 wants at least 8 KiB for all but the last) */
  chunkSize?: number;
  /** index of a chunk whose signature is replaced by a wrong one */
  tamperChunk?: number;
  region?: string;
}

/** PUTs `data` at `path` as a signed aws-chunked stream. */
export async function streamingSignedPut(endpoint: string, path: string, data: Buffer, options: StreamingPutOptions = {}): Promise<RawResponse> {
  const region = options.region ?? "us-east-1";
  const chunks = splitChunks(data, options.chunkSize ?? 64 * 1024);
  const date = new Date();
  const request = {
    method: "PUT",
    path,
    headers: {
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": String(data.length),
      "content-length": String(encodedLength(chunks)),
    },
  };
  const headers = await signHeaders(endpoint, request, { date, region, payloadHash: STREAMING });
  const seedSignature = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
  const amzDate = headers["x-amz-date"]!;
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const key = signingKey(SECRET_KEY, amzDate.slice(0, 8), region);

  const parts: Buffer[] = [];
  let previous = seedSignature;
  chunks.forEach((chunk, index) => {
    const stringToSign = ["AWS4-HMAC-SHA256-PAYLOAD", amzDate, scope, previous, EMPTY_SHA256, sha256Hex(chunk)].join("\n");
    let signature = hmac(key, stringToSign).toString("hex");
    previous = signature;
    if (index === options.tamperChunk) signature = signature.replace(/^./, (c) => (c === "0" ? "1" : "0"));
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`), chunk, Buffer.from("\r\n"));
  });
  return send(endpoint, { ...request, headers, body: Buffer.concat(parts) });
}

/**
 * PUTs `data` as STREAMING-UNSIGNED-PAYLOAD-TRAILER (what current SDKs send): one
 * aws-chunked chunk, then a trailer carrying `trailerValue` for header `trailerName`.
 */
export async function unsignedTrailerPut(endpoint: string, path: string, data: Buffer, trailerName: string, trailerValue: string): Promise<RawResponse> {
  const body = Buffer.concat([
    Buffer.from(`${data.length.toString(16)}\r\n`),
    data,
    Buffer.from(`\r\n0\r\n${trailerName}:${trailerValue}\r\n\r\n`),
  ]);
  const request = {
    method: "PUT",
    path,
    headers: {
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": String(data.length),
      "x-amz-trailer": trailerName,
      "content-length": String(body.length),
    },
  };
  const headers = await signHeaders(endpoint, request, { payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER" });
  return send(endpoint, { ...request, headers, body });
}
