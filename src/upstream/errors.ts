// One mapping from what an upstream S3 answered (a non-2xx response, or an SDK
// exception) to the S3 error our own client should see. Trouble on the other
// side (unreachable, 5xx, credentials refused) goes through the client's
// `failure`, so the remote can log an outage once; everything else keeps the
// upstream's code when the error table knows it.
import type { Dispatcher } from "undici";
import { S3Error, errors, isS3ErrorCode } from "../s3/errors.js";
import { noAnswer } from "../s3/timeouts.js";

export type Trouble = "ServiceUnavailable" | "AccessDenied";
export type Failure = (message: string, code: Trouble) => S3Error;

/** What the request was about, so NoSuchBucket/NoSuchKey/NoSuchUpload name our client's bucket, key or upload. */
export interface Where {
  bucket?: string;
  key?: string;
  uploadId?: string;
}

interface Upstream {
  readonly who: string;
  readonly failure: Failure;
  readonly settings: { credentialsName: string; timeoutMs: number };
}

/** The <Code> of an S3 error document. */
export function errorCodeIn(xml: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
}

/** The S3 error for a non-2xx answer; reads (and so consumes) its body. */
export async function errorFromAnswer(upstream: Upstream, response: Dispatcher.ResponseData, what: string, where: Where): Promise<S3Error> {
  const text = response.body.readableEnded ? "" : await response.body.text().catch(() => "");
  return errorFor(upstream, response.statusCode, errorCodeIn(text), what, where);
}

/** The S3 error for an SDK call that failed (no answer, or an error answer). */
export function errorFromSdk(upstream: Upstream, error: unknown, what: string, where: Where): S3Error {
  const err = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  if (status === undefined) return upstream.failure(`${upstream.who} ${noAnswer(error, upstream.settings.timeoutMs)} (${what})`, "ServiceUnavailable");
  const code = err.Code ?? err.name;
  return errorFor(upstream, status, code && !["Error", "Unknown", "UnknownError"].includes(code) ? code : undefined, what, where);
}

/** The mapping itself: status and code (if the answer named one) to an S3 error. */
export function errorFor(upstream: Upstream, status: number, code: string | undefined, what: string, where: Where): S3Error {
  const named = code ?? `HTTP ${status}`;
  if (status >= 500) return upstream.failure(`${upstream.who} answered ${named} to ${what}`, "ServiceUnavailable");
  if (status === 403) return upstream.failure(`${upstream.who} denied ${what} (${named}): check the ${upstream.settings.credentialsName} credentials`, "AccessDenied");
  if (status === 304) return new S3Error("NotModified", "Not Modified");
  if (status === 412) return errors.preconditionFailed("If-Match");
  if (status === 416) return new S3Error("InvalidRange", "The requested range is not satisfiable");
  if (code === "NoSuchBucket" && where.bucket !== undefined) return errors.noSuchBucket(where.bucket);
  if (code === "NoSuchKey" && where.key !== undefined) return errors.noSuchKey(where.key);
  if (code === "NoSuchUpload" && where.uploadId !== undefined) return errors.noSuchUpload(where.uploadId);
  if (code === "BucketNotEmpty") return new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: where.bucket ?? "" });
  return new S3Error(isS3ErrorCode(code) ? code : "InternalError", `${upstream.who} answered ${named} to ${what}`);
}
