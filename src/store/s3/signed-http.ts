// Signed plain HTTP to the S3 local tier (undici + @smithy/signature-v4): the
// data path (GET/PUT/UploadPart) streams through this, the SDK handles control calls.
import { encodeKey, s3Signer } from "../../s3/signer.js";
import type { Readable } from "node:stream";
import { Agent, type Dispatcher } from "undici";
import { S3Error, isS3ErrorCode } from "../../s3/errors.js";
import { agentTimeouts, noAnswer } from "../../s3/timeouts.js";

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



/** The error a store call throws when the tier cannot be reached: the server answers 503. */
export function tierUnavailable(host: string, why: string): S3Error {
  return new S3Error("ServiceUnavailable", `the S3 local tier at ${host} ${why}`);
}

export class SignedHttp {
  readonly host: string;
  private readonly base: URL;
  private readonly signer: ReturnType<typeof s3Signer>;
  private readonly agent: Agent;

  /** timeoutMs: how long the tier may be silent (connect, headers, between body bytes) */
  constructor(endpoint: string, region: string, credentials: TierCredentials, readonly timeoutMs: number) {
    this.base = new URL(endpoint);
    this.host = this.base.host;
    this.signer = s3Signer(credentials, region);
    this.agent = new Agent({ connections: 64, keepAliveTimeout: 30_000, ...agentTimeouts(timeoutMs) });
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
    const query = Object.entries(req.query ?? {}).map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`).join("&");
    try {
      // origin + path, not a URL: a URL would resolve "." and ".." segments of keys
      return await this.agent.request({ origin: this.base.origin, path: query ? `${path}?${query}` : path, method: req.method, headers: signed.headers, body: req.body });
    } catch (error) {
      if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
      if (error instanceof S3Error) throw error;
      throw tierUnavailable(this.host, noAnswer(error, this.timeoutMs));
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** The tier's error for a non-2xx answer: its S3 code when it names one we know, else ServiceUnavailable for 5xx. */
export async function errorFrom(response: Dispatcher.ResponseData, host: string, what: string): Promise<S3Error> {
  const text = await response.body.text().catch(() => "");
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  if (response.statusCode >= 500) return tierUnavailable(host, `answered ${code ?? `HTTP ${response.statusCode}`} to ${what}`);
  if (response.statusCode === 403) return new S3Error("AccessDenied", `the S3 local tier at ${host} denied ${what} (${code ?? "403"}): check the local tier credentials`);
  return new S3Error(isS3ErrorCode(code) ? code : "InternalError", `the S3 local tier at ${host} answered ${code ?? `HTTP ${response.statusCode}`} to ${what}`);
}
