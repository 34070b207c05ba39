// Test helper: a throwaway HTTP server that records exactly what a real client
// sends (request line, headers, raw body bytes) and answers 500, so the AWS SDK
// and presigned URLs can be used as oracles for sigv4.ts and payload.ts.
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { S3Client } from "@aws-sdk/client-s3";
import type { AuthRequest } from "../../src/s3/sigv4.js";

export interface CapturedRequest extends AuthRequest {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export const ACCESS_KEY = "AKIDCAPTURE";
export const SECRET_KEY = "capture/secret+key";
export const lookup = (accessKeyId: string) => (accessKeyId === ACCESS_KEY ? SECRET_KEY : undefined);

export class CaptureServer {
  private server: Server | undefined;
  private captured: CapturedRequest[] = [];
  endpoint = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = req.url ?? "/";
        const question = url.indexOf("?");
        this.captured.push({
          method: req.method ?? "GET",
          rawPath: question < 0 ? url : url.slice(0, question),
          rawQuery: question < 0 ? "" : url.slice(question + 1),
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        res.writeHead(500, { "content-type": "application/xml" });
        res.end("<Error><Code>InternalError</Code><Message>captured</Message></Error>");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.endpoint = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  client(options: { sessionToken?: string; region?: string } = {}): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: options.region ?? "us-east-1",
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, sessionToken: options.sessionToken },
    });
  }

  /** Runs the SDK call (which fails on the 500) and returns what reached the server. */
  async capture(call: () => Promise<unknown>): Promise<CapturedRequest> {
    const before = this.captured.length;
    await call().catch(() => undefined);
    if (this.captured.length !== before + 1) throw new Error(`expected one request, got ${this.captured.length - before}`);
    return this.captured[before];
  }

  /**
   * Sends a presigned URL to the server and returns what arrived. The path goes out
   * byte for byte (like curl --path-as-is): WHATWG URL parsing would resolve "/../".
   */
  async captureUrl(url: string, method = "GET", body?: string): Promise<CapturedRequest> {
    if (!url.startsWith(this.endpoint)) throw new Error(`not our endpoint: ${url}`);
    const send = () =>
      new Promise<void>((resolve, reject) => {
        const req = request(this.endpoint, { method, path: url.slice(this.endpoint.length) }, (res) => {
          res.resume().on("end", resolve);
        });
        req.on("error", reject).end(body);
      });
    return this.capture(send);
  }
}
