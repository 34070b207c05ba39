// Shared helpers for the SDK end-to-end suites: unique names, error assertions,
// request/response capture through the client's middleware stack, seeded data.
import { createCipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { expect } from "vitest";
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { ACCESS_KEY, SECRET_KEY, startServer, type RunningServer } from "./harness.js";

let counter = 0;

/** The usual start of an SDK suite: a server of its own, a client of it and a fresh bucket named after `tag`. */
export async function startWithBucket(tag: string): Promise<{ server: RunningServer; s3: S3Client; bucket: string }> {
  const server = await startServer();
  const s3 = server.client();
  const bucket = uniqueBucket(tag);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return { server, s3, bucket };
}

/** Its end: the client, then the server (either may be missing when the start failed). */
export async function stopWithClient(server: RunningServer | undefined, s3: S3Client | undefined): Promise<void> {
  s3?.destroy();
  await server?.destroy();
}

/** A bucket name no other test (or earlier run on the same data dir) uses. */
export function uniqueBucket(tag: string): string {
  counter += 1;
  return `${tag}-${counter}-${randomBytes(4).toString("hex")}`.toLowerCase().slice(0, 63);
}

export interface CapturedError {
  name: string;
  status: number | undefined;
  requestId: string | undefined;
  /** response headers as the SDK received them (lower-case names) */
  headers: Record<string, string>;
  error: Error & Record<string, unknown>;
}

/**
 * Awaits a promise that must reject with an S3 error: checks the HTTP status (one of `status`),
 * the error code (the SDK's `name`, taken from the XML <Code>) when given, and
 * that the response carried x-amz-request-id.
 */
export async function expectS3Error(promise: Promise<unknown>, status: number | number[], code?: string): Promise<CapturedError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  if (caught === undefined) throw new Error(`expected an S3 error ${status}${code ? " " + code : ""}, but the request succeeded`);
  const error = caught as Error & Record<string, any>;
  const captured: CapturedError = {
    name: error.name,
    status: error.$metadata?.httpStatusCode,
    requestId: error.$metadata?.requestId,
    headers: error.$response?.headers ?? {},
    error,
  };
  const statuses = Array.isArray(status) ? status : [status];
  const actualStatus = captured.status !== undefined && statuses.includes(captured.status) ? statuses[0] : captured.status;
  expect({ status: actualStatus, name: code === undefined ? undefined : captured.name }, `${error.name}: ${error.message}`).toEqual({
    status: statuses[0],
    name: code,
  });
  expect(captured.headers["x-amz-request-id"], "x-amz-request-id on the error response").toBeTruthy();
  return captured;
}

export interface CapturedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
}

/**
 * Records every request the client sends, as signed (after the checksum
 * middleware has added its x-amz-checksum-* header). Returns the live list.
 */
export function captureRequests(client: S3Client): CapturedRequest[] {
  const requests: CapturedRequest[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as any;
      requests.push({ method: request.method, path: request.path, query: { ...request.query }, headers: { ...request.headers } });
      return next(args);
    },
    { step: "finalizeRequest", priority: "low", name: "captureRequests" },
  );
  return requests;
}

/** The value of a header the client sent on the last request of `requests`. */
export function lastHeader(requests: CapturedRequest[], name: string): string | undefined {
  const last = requests.at(-1);
  if (!last) return undefined;
  const found = Object.entries(last.headers).find(([key]) => key.toLowerCase() === name.toLowerCase());
  return found?.[1];
}

/** A GetObject body (SDK stream) read to one Buffer; for small objects only. */
export async function bodyBytes(body: unknown): Promise<Buffer> {
  const stream = body as { transformToByteArray(): Promise<Uint8Array> };
  return Buffer.from(await stream.transformToByteArray());
}

/** MD5 of a stream without holding it in memory; also counts bytes. */
export async function streamMd5(body: unknown): Promise<{ md5: string; size: number }> {
  const hash = createHash("md5");
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { md5: hash.digest("hex"), size };
}

export const md5Hex = (data: Buffer | string): string => createHash("md5").update(data).digest("hex");
export const md5Base64 = (data: Buffer | string): string => createHash("md5").update(data).digest("base64");
export const quotedMd5 = (data: Buffer | string): string => `"${md5Hex(data)}"`;

/** A deterministic pseudo-random byte source: AES-256-CTR keystream keyed by `seed` (native speed). */
function keystream(seed: string): (length: number) => Buffer {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  return (length) => cipher.update(Buffer.alloc(length));
}

/** `length` deterministic pseudo-random bytes derived from `seed`. */
export function seededBytes(seed: string, length: number): Buffer {
  return keystream(seed)(length);
}

/**
 * A deterministic stream of `size` bytes (the same bytes as seededBytes(seed, size)),
 * produced in 1 MiB chunks; `onChunk` sees every chunk, e.g. to hash what was sent.
 */
export function seededStream(seed: string, size: number, onChunk?: (chunk: Buffer) => void): Readable {
  const next = keystream(seed);
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = next(Math.min(1 << 20, size - produced));
      produced += chunk.length;
      onChunk?.(chunk);
      this.push(chunk);
    },
  });
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function inParallel<T>(items: T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await task(item);
    }
  });
  await Promise.all(workers);
}

/** UTF-8 byte order, the order S3 lists keys in. */
export const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/** The hash class @smithy/signature-v4 wants, backed by node:crypto (HMAC when given a secret). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const toBytes = (data: SourceData): string | Uint8Array =>
  typeof data === "string" ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);

class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * A SigV4-signed request with plain fetch, for what the SDK hides (raw error XML,
 * headers of 304s). `path` is sent as given (already percent-encoded).
 */
export async function signedFetch(
  endpoint: string,
  method: string,
  path: string,
  options: { query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<RawResponse> {
  const url = new URL(endpoint);
  const body = options.body ?? "";
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    region: "us-east-1",
    service: "s3",
    sha256: NodeSha256,
    uriEscapePath: false,
  });
  const signed = await signer.sign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: options.query ?? {},
      headers: {
        host: url.host,
        "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"),
        ...options.headers,
      },
      body,
    },
  );
  const query = Object.entries(options.query ?? {})
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
  const { host: _host, ...headers } = signed.headers;
  const response = await fetch(`${endpoint}${path}${query ? "?" + query : ""}`, {
    method,
    headers,
    body: method === "GET" || method === "HEAD" ? undefined : typeof body === "string" ? body : new Uint8Array(body),
  });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

/** The text of one element of an XML document (first occurrence), or undefined. */
export function xmlElement(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1];
}

/** Asserts an S3 error XML body: Code, Message, Resource, RequestId, and the x-amz-request-id header. */
export function expectErrorXml(response: RawResponse, status: number, code: string): void {
  expect({ status: response.status, code: xmlElement(response.body, "Code") }, response.body).toEqual({ status, code });
  expect(xmlElement(response.body, "Message")).toBeTruthy();
  expect(xmlElement(response.body, "Resource")).toBeDefined();
  const requestId = xmlElement(response.body, "RequestId");
  expect(requestId).toBeTruthy();
  expect(response.headers.get("x-amz-request-id")).toBe(requestId);
}
