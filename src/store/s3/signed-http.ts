// Signed plain HTTP to the S3 local tier (undici + @smithy/signature-v4): the
// data path (GET/PUT/UploadPart) streams through this, the SDK handles control calls.
import { createHash, createHmac } from "node:crypto";
import type { Readable } from "node:stream";
import { SignatureV4 } from "@smithy/signature-v4";
import { Agent, request, type Dispatcher } from "undici";
import { S3Error } from "../../s3/errors.js";

export interface TierCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface TierRequest {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  bucket: string;
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** a body of known length: RGW refuses aws-chunked bodies without one */
  body?: Readable | Buffer;
  contentLength?: number;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBytes(data: SourceData): string | Uint8Array {
  if (typeof data === "string") return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** node:crypto behind the hash interface @smithy/signature-v4 expects. */
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

/** Percent-encode a key for a URL path: everything but unreserved characters and "/". */
export function encodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, "/").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The error a store call throws when the tier cannot be reached: the server answers 503. */
export function tierUnavailable(host: string, why: string): S3Error {
  return new S3Error("ServiceUnavailable", `the S3 local tier at ${host} ${why}`);
}

export class SignedHttp {
  readonly host: string;
  private readonly base: URL;
  private readonly signer: SignatureV4;
  private readonly agent: Agent;

  constructor(endpoint: string, region: string, credentials: TierCredentials) {
    this.base = new URL(endpoint);
    this.host = this.base.host;
    this.signer = new SignatureV4({ credentials, region, service: "s3", sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
    this.agent = new Agent({ connections: 64, keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 60_000 });
  }

  /** One signed path-style request with an unsigned payload. Network failures throw ServiceUnavailable. */
  async send(req: TierRequest): Promise<Dispatcher.ResponseData> {
    const basePath = this.base.pathname.replace(/\/$/, "");
    const path = `${basePath}/${req.bucket}${req.key === undefined ? "" : `/${encodeKey(req.key)}`}`;
    const headers: Record<string, string> = { host: this.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...req.headers };
    if (req.contentLength !== undefined) headers["content-length"] = String(req.contentLength);
    const signed = await this.signer.sign({
      method: req.method,
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port ? Number(this.base.port) : undefined,
      path,
      query: req.query ?? {},
      headers,
    });
    const url = new URL(this.base.href);
    url.pathname = path;
    for (const [name, value] of Object.entries(req.query ?? {})) url.searchParams.set(name, value);
    try {
      return await request(url, { method: req.method, headers: signed.headers, body: req.body, dispatcher: this.agent });
    } catch (error) {
      if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
      if (error instanceof S3Error) throw error;
      throw tierUnavailable(this.host, `is unreachable (${networkErrorName(error)})`);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export function networkErrorName(error: unknown): string {
  const err = error as { code?: string; cause?: { code?: string }; name?: string };
  return err.code ?? err.cause?.code ?? err.name ?? "network error";
}

/** The tier's error for a non-2xx answer: its S3 code when it names one we know, else ServiceUnavailable for 5xx. */
export async function errorFrom(response: Dispatcher.ResponseData, host: string, what: string): Promise<S3Error> {
  const text = await response.body.text().catch(() => "");
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  if (response.statusCode >= 500) return tierUnavailable(host, `answered ${code ?? `HTTP ${response.statusCode}`} to ${what}`);
  if (response.statusCode === 403) return new S3Error("AccessDenied", `the S3 local tier at ${host} denied ${what} (${code ?? "403"}): check the local tier credentials`);
  return new S3Error(code ?? `HTTP${response.statusCode}`, `the S3 local tier at ${host} answered ${code ?? `HTTP ${response.statusCode}`} to ${what}`);
}
