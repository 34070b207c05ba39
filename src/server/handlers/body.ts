// Reading the small XML bodies of control requests (DeleteObjects, CompleteMultipartUpload, CreateBucket).
import { S3Error } from "../../s3/errors.js";
import { decodePayload, planPayload } from "../../s3/payload.js";
import type { S3Context } from "../context.js";

/**
 * The headers that describe the body: the request's, plus the x-amz-checksum-* and
 * x-amz-sdk-checksum-algorithm a presigned URL carries as signed query parameters
 * (the SDK's presigner puts them there), which S3 verifies as if they were headers.
 */
export function payloadHeaders(context: S3Context): S3Context["headers"] {
  const { query } = context.target;
  if (!query.has("X-Amz-Signature")) return context.headers;
  const headers = { ...context.headers };
  for (const [name, value] of query) {
    const lower = name.toLowerCase();
    if ((lower.startsWith("x-amz-checksum-") || lower === "x-amz-sdk-checksum-algorithm") && headers[lower] === undefined) headers[lower] = value;
  }
  return headers;
}

/**
 * The whole decoded and verified body as text; MaxMessageLengthExceeded past `limit` bytes.
 * `headers`: those that describe the body, when not all of them do (see payloadHeaders).
 */
export async function readSmallBody(context: S3Context, limit: number, headers = payloadHeaders(context)): Promise<string> {
  const payload = decodePayload(context.req, planPayload(headers, context.auth));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of payload.data as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      payload.data.destroy();
      throw new S3Error("MaxMessageLengthExceeded", "Your request was too big.");
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
