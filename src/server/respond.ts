// Turning handler results and errors into HTTP responses.
import { STATUS_CODES } from "node:http";
import { Readable } from "node:stream";
import { FastResponse } from "srvx";
import { S3Error, errors } from "../s3/errors.js";
import { errorXml } from "../s3/xml.js";
import type { PipedBody } from "./send-file.js";

export interface S3Response {
  status?: number;
  headers?: Record<string, string>;
  /** a Readable must come with a content-length header */
  body?: string | Buffer | Readable;
}

const XML = "application/xml";

export function xmlResponse(xml: string, status = 200, headers: Record<string, string> = {}): S3Response {
  return { status, headers: { "content-type": XML, ...headers }, body: xml };
}

export function toHttpResponse(result: S3Response | (Omit<S3Response, "body"> & { body: PipedBody }), requestId: string, method: string): Response {
  const headers: Record<string, string> = { "x-amz-request-id": requestId, server: "s3-overlay", ...result.headers };
  let body = result.body;
  if (typeof body === "string") body = Buffer.from(body);
  if (Buffer.isBuffer(body)) {
    headers["content-length"] ??= String(body.length);
    if (method === "HEAD") body = undefined;
  } else if (body === undefined) {
    headers["content-length"] ??= "0";
  }
  const status = result.status ?? 200;
  // with no reason phrase ("HTTP/1.1 507 ") botocore misreads an answer to Expect: 100-continue
  return new FastResponse((body ?? null) as never, { status, statusText: STATUS_CODES[status], headers });
}

export function errorResponse(error: unknown, requestId: string, method: string, resource: string, extraHeaders: Record<string, string> = {}): Response {
  const s3Error = error instanceof S3Error ? error : errors.internal();
  if (s3Error.status === 304) {
    return toHttpResponse({ status: 304, headers: s3Error.headers }, requestId, method);
  }
  const xml = errorXml({ code: s3Error.code, message: s3Error.message, resource, requestId, details: s3Error.details });
  return toHttpResponse(xmlResponse(xml, s3Error.status, { ...s3Error.headers, ...extraHeaders }), requestId, method);
}
