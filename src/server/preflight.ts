// OPTIONS: a browser's CORS preflight, which S3 answers without authentication.
// Buckets here never carry a CORS configuration, so no preflight is ever allowed;
// what remains is saying why as S3 does.
import { S3Error } from "../s3/errors.js";
import type { IncomingHttpHeaders } from "node:http";

export function isPreflight(method: string): boolean {
  return method === "OPTIONS";
}

/** The error S3 answers an OPTIONS request on a bucket without CORS rules. */
export function preflightError(headers: IncomingHttpHeaders, onObject: boolean): S3Error {
  if (headers.origin === undefined) {
    return new S3Error("BadRequest", "Insufficient information. Origin request header needed.");
  }
  return new S3Error(
    "AccessForbidden",
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    { Method: String(headers["access-control-request-method"] ?? ""), ResourceType: onObject ? "OBJECT" : "BUCKET" },
  );
}
