// Object operations: GetObject, HeadObject, PutObject, CopyObject, DeleteObject, DeleteObjects.
import { S3Error, errors } from "../../s3/errors.js";
import { checkCopySourceConditions, checkReadConditions, checkWriteConditionHeaders, checkWriteConditions } from "../../s3/conditional.js";
import { applyResponseOverrides, checksumHeaders, contentHeadersFrom, objectResponseHeaders, parseUserMetadata } from "../../s3/headers.js";
import { validateKey } from "../../s3/names.js";
import { decodePayload, planPayload } from "../../s3/payload.js";
import { contentRange, parseRange, partRange } from "../../s3/range.js";
import { copyObjectResultXml, deleteResultXml, emptyTaggingXml, parseDeleteObjects } from "../../s3/xml.js";
import type { Precondition } from "../../engine/engine.js";
import { parseCopySource, parsePartNumber } from "../../s3/route.js";
import type { ObjectInfo } from "../../store/types.js";
import { bucketOf, header, keyOf, queryParam, type Handler, type S3Context } from "../context.js";
import { xmlResponse, type S3Response } from "../respond.js";
import { payloadHeaders, readSmallBody } from "./body.js";

export const getObject: Handler = (context) => readObject(context, true);
export const headObject: Handler = (context) => readObject(context, false);

/**
 * GET and HEAD. A GET is two steps: engine.getObject finds the object (a miss
 * starts streaming from the remote), the range is decided here once its size is
 * known (after the conditions), then open(range) opens just that range and says
 * hit or miss. A HEAD only needs metadata and never downloads a body.
 */
async function readObject(context: S3Context, isGet: boolean): Promise<S3Response> {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  const partParam = queryParam(context, "partNumber");
  const partNumber = partParam === undefined ? undefined : parsePartNumber(partParam);
  const rangeHeader = header(context, "range");
  const found = isGet
    ? await context.engine.getObject(bucket, key, { ranged: partNumber !== undefined || rangeHeader !== undefined })
    : await context.engine.statObject(bucket, key);
  const info = found.info;
  checkReadConditions(context.headers, { etag: info.etag, lastModified: info.lastModified });
  const range = partNumber !== undefined ? partRange(info.partSizes, partNumber, info.size) : parseRange(rangeHeader, info.size);
  const wholeObject = range === undefined || (partNumber !== undefined && !info.partSizes);
  const headers = objectResponseHeaders(info, {
    partNumber,
    checksum: wholeObject && header(context, "x-amz-checksum-mode")?.toUpperCase() === "ENABLED",
  });
  applyResponseOverrides(headers, context.target.query);
  let status = 200;
  if (range) {
    status = 206;
    headers["content-range"] = contentRange(range, info.size);
  }
  const length = range ? range.end - range.start + 1 : info.size;
  headers["content-length"] = String(length);
  const opened = "open" in found ? await found.open(range) : { cache: found.cache, body: undefined };
  if (opened.cache) headers["x-cache"] = opened.cache;
  if (length === 0) opened.body?.destroy();
  return { status, headers, body: length === 0 ? undefined : opened.body };
}

/** Tags are not stored: every object has an empty tag set (and tagging on upload is refused, not dropped). */
export const getObjectTagging: Handler = async (context) => {
  await context.engine.statObject(bucketOf(context), keyOf(context));
  return xmlResponse(emptyTaggingXml());
};

export const putObject: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  validateKey(key);
  refuseTagging(context);
  const plan = planPayload(payloadHeaders(context), context.auth);
  const contentHeaders = contentHeadersFrom(context.headers);
  const userMetadata = parseUserMetadata(context.headers);
  const precondition = writePrecondition(context);
  await context.engine.requireRoom(plan.decodedLength);
  const payload = decodePayload(context.req, plan);
  const info = await context.engine.putObject(bucket, key, payload.data, () => {
    const digests = payload.digests();
    return {
      etag: digests.md5.toString("hex"),
      headers: contentHeaders,
      userMetadata,
      checksum: digests.checksum && { ...digests.checksum, type: "FULL_OBJECT" },
      origin: "local",
    };
  }, precondition, plan.decodedLength);
  return { headers: { etag: `"${info.etag}"`, ...(info.checksum ? checksumHeaders(info.checksum) : {}) } };
};

export const copyObject: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  validateKey(key);
  const source = parseCopySource(header(context, "x-amz-copy-source") ?? "");
  const found = await context.engine.getObject(source.bucket, source.key);
  const info = found.info;
  checkCopySourceConditions(context.headers, { etag: info.etag, lastModified: info.lastModified });

  const directive = (header(context, "x-amz-metadata-directive") ?? "COPY").toUpperCase();
  if (directive !== "COPY" && directive !== "REPLACE") {
    throw errors.invalidArgument("Unknown metadata directive.", "x-amz-metadata-directive", directive);
  }
  if (source.bucket === bucket && source.key === key && directive === "COPY") {
    throw new S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const replace = directive === "REPLACE";
  const copied = await context.engine.copyObject(found, bucket, key, {
    etag: info.etag,
    headers: replace ? contentHeadersFrom(context.headers) : info.headers,
    userMetadata: replace ? parseUserMetadata(context.headers) : info.userMetadata,
    checksum: info.checksum,
    partSizes: info.partSizes,
    origin: "local",
  }, writePrecondition(context));
  return xmlResponse(copyObjectResultXml(copied.etag, copied.lastModified, copied.checksum));
};

export const deleteObject: Handler = async (context) => {
  await context.engine.deleteObject(bucketOf(context), keyOf(context));
  return { status: 204 };
};

/** DeleteObjects bodies list up to 1000 keys of up to 1 KiB each. */
const MAX_DELETE_BODY = 2 * 1024 * 1024;

export const deleteObjects: Handler = async (context) => {
  const bucket = bucketOf(context);
  const request = parseDeleteObjects(await readSmallBody(context, MAX_DELETE_BODY));
  const outcomes = await context.engine.deleteObjects(bucket, request.objects.map((object) => object.key));
  const deleted = outcomes.filter((outcome) => !outcome.error).map((outcome) => ({ key: outcome.key }));
  const failed = outcomes.filter((outcome) => outcome.error).map((outcome) => ({ key: outcome.key, code: outcome.error!.code, message: outcome.error!.message }));
  return xmlResponse(deleteResultXml(deleted, failed, request.quiet));
};

export function refuseTagging(context: S3Context): void {
  if (header(context, "x-amz-tagging") !== undefined) throw errors.notImplemented("Object tagging (x-amz-tagging)");
}

/** If-Match / If-None-Match on a write, checked against the object current at commit time. */
export function writePrecondition(context: S3Context): Precondition | undefined {
  if (header(context, "if-match") === undefined && header(context, "if-none-match") === undefined) return undefined;
  checkWriteConditionHeaders(context.headers);
  return (current: ObjectInfo | undefined) => checkWriteConditions(context.headers, current && { etag: current.etag }, keyOf(context));
}
