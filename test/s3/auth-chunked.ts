// Test helper: builds aws-chunked bodies, signing chunks with @smithy/signature-v4's
// own key derivation and HMAC (signString), so the decoder is checked against it.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";

const EMPTY_SHA256 = createHash("sha256").digest("hex");

export interface ChunkSigning {
  signer: SignatureV4;
  date: Date;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export function smithySigner(accessKeyId: string, secretAccessKey: string, region = "us-east-1"): SignatureV4 {
  return new SignatureV4({ service: "s3", region, sha256: Sha256, uriEscapePath: false, credentials: { accessKeyId, secretAccessKey } });
}

/** Signs a PUT whose body is aws-chunked, returning what verifyRequest/planPayload need. */
export async function signStreamingPut(options: {
  signer: SignatureV4;
  date: Date;
  contentSha256: string;
  decodedLength: number;
  contentLength?: number;
  extraHeaders?: Record<string, string>;
  region?: string;
}): Promise<{ headers: Record<string, string>; signing: ChunkSigning }> {
  const headers: Record<string, string> = {
    host: "localhost:9000",
    "content-encoding": "aws-chunked",
    "x-amz-content-sha256": options.contentSha256,
    "x-amz-decoded-content-length": String(options.decodedLength),
    ...(options.contentLength !== undefined ? { "content-length": String(options.contentLength) } : {}),
    ...options.extraHeaders,
  };
  const signed = await options.signer.sign(
    { method: "PUT", protocol: "http:", hostname: "localhost", port: 9000, path: "/bucket/key", query: {}, headers },
    { signingDate: options.date },
  );
  const lower = Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name.toLowerCase(), value]));
  const amzDate = lower["x-amz-date"];
  const region = options.region ?? "us-east-1";
  return {
    headers: lower,
    signing: {
      signer: options.signer,
      date: options.date,
      amzDate,
      scope: `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`,
      seedSignature: /Signature=([0-9a-f]{64})/.exec(lower.authorization)![1],
    },
  };
}

/**
 * Encodes `data` as aws-chunked with chunks of `chunkSize` (the last may be shorter),
 * chunk-signed when `signing` is given, with optional trailer lines (signed when asked).
 */
export async function encodeChunked(
  data: Buffer,
  chunkSize: number,
  options: { signing?: ChunkSigning; trailers?: Record<string, string>; signTrailer?: boolean } = {},
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let previous = options.signing?.seedSignature ?? "";
  const sign = async (stringToSign: string) =>
    options.signing!.signer.sign(stringToSign, { signingDate: options.signing!.date });
  for (let offset = 0; ; offset += chunkSize) {
    const chunk = data.subarray(offset, Math.min(offset + chunkSize, data.length));
    let extension = "";
    if (options.signing !== undefined) {
      const { amzDate, scope } = options.signing;
      const hash = createHash("sha256").update(chunk).digest("hex");
      previous = await sign(`AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${previous}\n${EMPTY_SHA256}\n${hash}`);
      extension = `;chunk-signature=${previous}`;
    }
    parts.push(Buffer.from(`${chunk.length.toString(16)}${extension}\r\n`));
    if (chunk.length === 0) break;
    parts.push(chunk, Buffer.from("\r\n"));
  }
  const trailers = options.trailers ?? {};
  for (const [name, value] of Object.entries(trailers)) parts.push(Buffer.from(`${name}:${value}\r\n`));
  if (options.signTrailer && options.signing !== undefined) {
    const { amzDate, scope } = options.signing;
    const canonical = Object.keys(trailers)
      .sort()
      .map((name) => `${name}:${trailers[name]}\n`)
      .join("");
    const hash = createHash("sha256").update(canonical).digest("hex");
    const signature = await sign(`AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${previous}\n${hash}`);
    parts.push(Buffer.from(`x-amz-trailer-signature:${signature}\r\n`));
  }
  parts.push(Buffer.from("\r\n"));
  return Buffer.concat(parts);
}

/** A Readable that delivers `body` in the given pieces (to exercise split framing). */
export function readableOf(pieces: Buffer[]): Readable {
  return Readable.from(pieces, { objectMode: false });
}

/** Collects a decoded stream; resolves with the bytes or rejects with the stream's error. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
