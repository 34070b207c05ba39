// Conditional requests (RFC 7232 as S3 applies them): GET/HEAD, the source of a
// copy, and conditional writes (If-None-Match: * / If-Match on PUT and Complete).
import { S3Error, errors } from "./errors.js";
import { headerValue, type RequestHeaders } from "./headers.js";

/** What a condition is checked against. `etag` without quotes, as stored. */
export interface Validators {
  etag: string;
  lastModified: Date;
}

interface Conditions {
  ifMatch?: string;
  ifUnmodifiedSince?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
}

/**
 * The first condition that does not hold, in RFC 7232 order: If-Match, else
 * If-Unmodified-Since; then If-None-Match, else If-Modified-Since. This gives
 * S3's documented pairs: If-Match true + If-Unmodified-Since false -> 200, and
 * If-None-Match false + If-Modified-Since true -> 304. Invalid dates are ignored.
 */
function firstFailing(conditions: Conditions, object: Validators): keyof Conditions | undefined {
  const modified = Math.floor(object.lastModified.getTime() / 1000) * 1000; // HTTP dates have whole seconds
  if (conditions.ifMatch !== undefined) {
    if (!etagListMatches(conditions.ifMatch, object.etag)) return "ifMatch";
  } else if (conditions.ifUnmodifiedSince !== undefined) {
    const since = parseHttpDate(conditions.ifUnmodifiedSince);
    if (since !== undefined && modified > since) return "ifUnmodifiedSince";
  }
  if (conditions.ifNoneMatch !== undefined) {
    if (etagListMatches(conditions.ifNoneMatch, object.etag)) return "ifNoneMatch";
  } else if (conditions.ifModifiedSince !== undefined) {
    const since = parseHttpDate(conditions.ifModifiedSince);
    if (since !== undefined && modified <= since) return "ifModifiedSince";
  }
  return undefined;
}

const READ_HEADERS: Record<keyof Conditions, string> = {
  ifMatch: "If-Match",
  ifUnmodifiedSince: "If-Unmodified-Since",
  ifNoneMatch: "If-None-Match",
  ifModifiedSince: "If-Modified-Since",
};

/**
 * GET/HEAD conditionals. Returns when the object should be served; throws
 * PreconditionFailed (412) or NotModified (304, carrying ETag and Last-Modified
 * in S3Error.headers; the response must have no body).
 */
export function checkReadConditions(headers: RequestHeaders, object: Validators): void {
  const failing = firstFailing(conditionsFrom(headers, READ_HEADERS), object);
  if (failing === undefined) return;
  if (failing === "ifMatch" || failing === "ifUnmodifiedSince") throw errors.preconditionFailed(READ_HEADERS[failing]);
  throw new S3Error("NotModified", "Not Modified", {}, {
    etag: `"${object.etag}"`,
    "last-modified": object.lastModified.toUTCString(),
  });
}

const COPY_SOURCE_HEADERS: Record<keyof Conditions, string> = {
  ifMatch: "x-amz-copy-source-If-Match",
  ifUnmodifiedSince: "x-amz-copy-source-If-Unmodified-Since",
  ifNoneMatch: "x-amz-copy-source-If-None-Match",
  ifModifiedSince: "x-amz-copy-source-If-Modified-Since",
};

/** CopyObject / UploadPartCopy conditions on the source (x-amz-copy-source-if-*): any failure is 412. */
export function checkCopySourceConditions(headers: RequestHeaders, source: Validators): void {
  const failing = firstFailing(conditionsFrom(headers, COPY_SOURCE_HEADERS), source);
  if (failing !== undefined) throw errors.preconditionFailed(COPY_SOURCE_HEADERS[failing]);
}

function conditionsFrom(headers: RequestHeaders, names: Record<keyof Conditions, string>): Conditions {
  return {
    ifMatch: headerValue(headers, names.ifMatch.toLowerCase()),
    ifUnmodifiedSince: headerValue(headers, names.ifUnmodifiedSince.toLowerCase()),
    ifNoneMatch: headerValue(headers, names.ifNoneMatch.toLowerCase()),
    ifModifiedSince: headerValue(headers, names.ifModifiedSince.toLowerCase()),
  };
}

/**
 * Conditional writes (PutObject, CompleteMultipartUpload, CopyObject target):
 * If-None-Match: * fails (412) when `existing` is there; If-Match needs the
 * object (NoSuchKey otherwise) with a matching ETag (412 otherwise). S3 supports
 * If-None-Match only with "*" and answers NotImplemented for anything else.
 */
export function checkWriteConditions(headers: RequestHeaders, existing: { etag: string } | undefined, key: string): void {
  checkWriteConditionHeaders(headers);
  const ifNoneMatch = headerValue(headers, "if-none-match");
  if (ifNoneMatch !== undefined && existing !== undefined) throw errors.preconditionFailed("If-None-Match");
  const ifMatch = headerValue(headers, "if-match");
  if (ifMatch !== undefined) {
    if (existing === undefined) throw errors.noSuchKey(key);
    if (!etagListMatches(ifMatch, existing.etag)) throw errors.preconditionFailed("If-Match");
  }
}

/**
 * The part of the write conditions that needs no object, checked before any body
 * byte is read: S3 answers If-None-Match with an ETag (anything but "*") 501, as
 * measured against S3 (aws-sdk-ruby#3144), with this Header and additionalMessage.
 */
export function checkWriteConditionHeaders(headers: RequestHeaders): void {
  const ifNoneMatch = headerValue(headers, "if-none-match");
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== "*") {
    throw new S3Error("NotImplemented", "A header you provided implies functionality that is not implemented", {
      Header: "If-None-Match",
      additionalMessage: "We don't accept the provided value of If-None-Match header for this API",
    });
  }
}

/** Does an If-Match / If-None-Match list ("*", or ETags quoted, unquoted or W/) name `etag`? */
function etagListMatches(list: string, etag: string): boolean {
  for (const item of list.split(",")) {
    const tag = item.trim();
    if (tag === "*") return true;
    if (unquote(tag.startsWith("W/") ? tag.slice(2) : tag) === etag) return true;
  }
  return false;
}

function unquote(tag: string): string {
  return tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"') ? tag.slice(1, -1) : tag;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
/** IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
const IMF_FIXDATE = /^[a-z]{3}, (\d{1,2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
const RFC850_DATE = /^[a-z]+, (\d{1,2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** obsolete asctime: "Sun Nov  6 08:49:37 1994" (always UTC) */
const ASCTIME_DATE = /^[a-z]{3} ([a-z]{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

/** An HTTP-date (RFC 7231 §7.1.1.1, all three forms) in ms since the epoch, or undefined if it is not one. */
export function parseHttpDate(value: string): number | undefined {
  const text = value.trim();
  let m: RegExpExecArray | null;
  if ((m = IMF_FIXDATE.exec(text))) return utc(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  if ((m = RFC850_DATE.exec(text))) {
    // RFC 7231: a two-digit year more than 50 years ahead means the previous century
    let year = 2000 + Number(m[3]);
    if (year > new Date().getUTCFullYear() + 50) year -= 100;
    return utc(year, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  if ((m = ASCTIME_DATE.exec(text))) return utc(Number(m[6]), m[1]!, m[2]!, m[3]!, m[4]!, m[5]!);
  return undefined;
}

function utc(year: number, monthName: string, day: string, hour: string, minute: string, second: string): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  if (month === -1) return undefined;
  const time = Date.UTC(year, month, Number(day), Number(hour), Number(minute), Number(second));
  // Date.UTC rolls "Feb 30" or "25:00" over into a different date: not a real date.
  const date = new Date(time);
  const valid =
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month &&
    date.getUTCDate() === Number(day) &&
    date.getUTCHours() === Number(hour) &&
    date.getUTCMinutes() === Number(minute) &&
    date.getUTCSeconds() === Number(second);
  return valid ? time : undefined;
}
