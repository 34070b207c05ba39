// Reading the small XML bodies of control requests (DeleteObjects, CompleteMultipartUpload, CreateBucket).
import { S3Error } from "../../s3/errors.js";
import { decodePayload, planPayload } from "../../s3/payload.js";
import type { S3Context } from "../context.js";

/** The whole decoded and verified body as text; MaxMessageLengthExceeded past `limit` bytes. */
export async function readSmallBody(context: S3Context, limit: number): Promise<string> {
  const payload = decodePayload(context.req, planPayload(context.headers, context.auth));
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
