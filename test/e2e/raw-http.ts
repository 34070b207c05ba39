// Raw HTTP for e2e tests that need what an SDK will not send: hand-built paths,
// tampered signatures, odd Host headers, aborted bodies. Requests are signed with
// @smithy/signature-v4 (the SDK's own signer) over node:crypto's sha256.
import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import http, { type IncomingHttpHeaders } from "node:http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { HttpRequest, SourceData } from "@smithy/types";
import { XMLParser } from "fast-xml-parser";
import { expect } from "vitest";
import { ACCESS_KEY, SECRET_KEY } from "./harness.js";

export const EMPTY_SHA256 = createHash("sha256").digest("hex");

export function sha256Hex(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export function md5Base64(data: Buffer | string): string {
  return createHash("md5").update(data).digest("base64");
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** The Checksum constructor SignatureV4 wants: sha256, or HMAC-sha256 when given a secret. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBuffer(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RawRequest {
  method: string;
  /** the path as it goes on the wire (already percent-encoded) */
  path: string;
  /** decoded query parameters; "" for valueless ones like ?acl */
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export interface SignOptions {
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  /** the signing time (defaults to now) */
  date?: Date;
  /** x-amz-content-sha256 (defaults to the sha256 of the body) */
  payloadHash?: string;
  /** the path to sign when it differs from the wire path (e.g. "%2e%2e" sent, ".." signed) */
  signPath?: string;
  /** Host header (defaults to the endpoint's host:port) */
  host?: string;
}

/** RFC 3986 encoding, the one SigV4 uses for query names and values. */
export function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function queryString(query: Record<string, string> | undefined): string {
  if (query === undefined) return "";
  const parts = Object.entries(query).map(([name, value]) => `${uriEscape(name)}=${uriEscape(value)}`);
  return parts.length === 0 ? "" : `?${parts.join("&")}`;
}

/** Signs `request` for `endpoint`; returns the headers to send (Host, x-amz-date, Authorization, ...). */
export async function signHeaders(endpoint: string, request: RawRequest, options: SignOptions = {}): Promise<Record<string, string>> {
  const url = new URL(endpoint);
  const body = request.body ?? "";
  const signer = new SignatureV4({
    service: "s3",
    region: options.region ?? "us-east-1",
    credentials: { accessKeyId: options.accessKeyId ?? ACCESS_KEY, secretAccessKey: options.secretAccessKey ?? SECRET_KEY },
    sha256: NodeSha256,
    // S3 signs the path as sent: no normalization, no double encoding
    uriEscapePath: false,
  });
  const toSign: HttpRequest = {
    method: request.method,
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    path: options.signPath ?? request.path,
    query: request.query ?? {},
    headers: {
      host: options.host ?? url.host,
      "x-amz-content-sha256": options.payloadHash ?? sha256Hex(body),
      ...request.headers,
    },
  };
  const signed = await signer.sign(toSign, { signingDate: options.date ?? new Date() });
  return signed.headers;
}

/** Sends a request exactly as given (no signing). */
export function send(endpoint: string, request: RawRequest): Promise<RawResponse> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path + queryString(request.query),
        headers: request.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(request.body);
  });
}

/** Signs (SigV4 header auth) and sends. */
export async function signedSend(endpoint: string, request: RawRequest, options: SignOptions = {}): Promise<RawResponse> {
  const headers = await signHeaders(endpoint, request, options);
  return send(endpoint, { ...request, headers });
}

const xmlParser = new XMLParser({ parseTagValue: false, ignoreAttributes: true });

export function parseXml(body: Buffer | string): Record<string, unknown> {
  return xmlParser.parse(body.toString()) as Record<string, unknown>;
}

export interface S3ErrorBody {
  Code: string;
  Message: string;
  Resource: string;
  RequestId: string;
  [detail: string]: string;
}

/**
 * Asserts an S3 error answer: the status, an x-amz-request-id header, and (except
 * for HEAD, which has no body) error XML with Code, Message, Resource and the same RequestId.
 */
export function expectS3Error(response: RawResponse, status: number, code: string, method = "GET"): S3ErrorBody | undefined {
  const context = `${response.status} ${response.body.toString().slice(0, 400)}`;
  expect(response.status, context).toBe(status);
  const requestId = response.headers["x-amz-request-id"];
  expect(requestId, "x-amz-request-id header").toBeTruthy();
  if (method === "HEAD") return undefined;
  expect(String(response.headers["content-type"]), context).toMatch(/xml/);
  const error = parseXml(response.body).Error as S3ErrorBody | undefined;
  expect(error, context).toBeDefined();
  expect(error!.Code, context).toBe(code);
  expect(error!.Message, context).toBeTruthy();
  expect(error!.Resource, context).toMatch(/^\//);
  expect(error!.RequestId).toBe(requestId);
  return error;
}
