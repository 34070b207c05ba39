// Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts, ListMultipartUploads.
import { createHash, type Hash } from "node:crypto";
import { pipeline, Transform } from "node:stream";
import { checkCopySourceConditions } from "../../s3/conditional.js";
import { S3Error } from "../../s3/errors.js";
import { algorithmOfHeader, checksumHeaderName, createChecksum, parseChecksumAlgorithm, type IncrementalChecksum } from "../../s3/checksums.js";
import { completedChecksum, uploadChecksumMode, type StatedChecksums } from "../../s3/multipart-checksum.js";
import { checksumHeaders, contentHeadersFrom, parseUserMetadata } from "../../s3/headers.js";
import { validateKey } from "../../s3/names.js";
import { parseCopySource, parsePartNumber } from "../../s3/route.js";
import { decodePayload, planPayload } from "../../s3/payload.js";
import {
  completeMultipartUploadXml, copyPartResultXml, initiateMultipartUploadXml, listMultipartUploadsXml, listPartsXml,
  parseCompleteMultipartUpload,
} from "../../s3/xml.js";
import { bucketOf, header, intParam, keyOf, queryParam, type Handler, type S3Context } from "../context.js";
import { xmlResponse } from "../respond.js";
import { payloadHeaders, readSmallBody } from "./body.js";
import { parseCopySourceRange } from "./copy-range.js";
import { refuseTagging, writePrecondition } from "./objects.js";
import { OWNER } from "./buckets.js";

/** 10,000 parts of ~100 bytes of XML each */
const MAX_COMPLETE_BODY = 2 * 1024 * 1024;

function uploadIdOf(context: S3Context): string {
  const uploadId = queryParam(context, "uploadId");
  if (!uploadId) throw new S3Error("InvalidArgument", "This operation requires an uploadId", { ArgumentName: "uploadId" });
  return uploadId;
}

function partNumberOf(context: S3Context): number {
  return parsePartNumber(queryParam(context, "partNumber") ?? "");
}

export const createMultipartUpload: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  validateKey(key);
  refuseTagging(context);
  const mode = uploadChecksumMode(parseChecksumAlgorithm(header(context, "x-amz-checksum-algorithm")), header(context, "x-amz-checksum-type"));
  const upload = await context.engine.multipart.create(bucket, key, {
    headers: contentHeadersFrom(context.headers),
    userMetadata: parseUserMetadata(context.headers),
    ...mode,
  });
  const headers: Record<string, string> = mode ? { "x-amz-checksum-algorithm": mode.checksumAlgorithm, "x-amz-checksum-type": mode.checksumType } : {};
  return xmlResponse(initiateMultipartUploadXml(bucket, key, upload.uploadId), 200, headers);
};

export const uploadPart: Handler = async (context) => {
  const plan = planPayload(payloadHeaders(context), context.auth);
  await context.engine.requireRoom(plan.decodedLength);
  const payload = decodePayload(context.req, plan);
  const part = await context.engine.multipart.uploadPart(bucketOf(context), keyOf(context), uploadIdOf(context), partNumberOf(context), payload.data, () => {
    const digests = payload.digests();
    return {
      etag: digests.md5.toString("hex"),
      checksum: digests.checksum && { ...digests.checksum, type: "FULL_OBJECT" as const },
    };
  }, { size: plan.decodedLength, checksumAlgorithm: plan.checksum?.algorithm });
  return { headers: { etag: `"${part.etag}"`, ...(part.checksum ? { [checksumHeaderName(part.checksum.algorithm)]: part.checksum.value } : {}) } };
};

export const uploadPartCopy: Handler = async (context) => {
  const source = parseCopySource(header(context, "x-amz-copy-source") ?? "");
  const found = await context.engine.getObject(source.bucket, source.key);
  const info = found.info;
  checkCopySourceConditions(context.headers, { etag: info.etag, lastModified: info.lastModified });
  const range = parseCopySourceRange(header(context, "x-amz-copy-source-range"), info.size);
  // the part gets the checksum its upload asks for, computed on the way as S3 does
  const { checksumAlgorithm } = await context.engine.multipart.require(bucketOf(context), keyOf(context), uploadIdOf(context));
  const md5 = createHash("md5");
  const checksum = checksumAlgorithm && createChecksum(checksumAlgorithm);
  const data = digestTap(md5, checksum);
  // pipeline, not pipe: a failing source must fail the part, not leave it waiting
  pipeline((await found.open(range)).body, data, () => undefined);
  const part = await context.engine.multipart.uploadPart(bucketOf(context), keyOf(context), uploadIdOf(context), partNumberOf(context), data, () => ({
    etag: md5.digest("hex"),
    ...(checksum && checksumAlgorithm && { checksum: { algorithm: checksumAlgorithm, value: checksum.digest().toString("base64"), type: "FULL_OBJECT" as const } }),
  }), { size: range ? range.end - range.start + 1 : info.size, checksumAlgorithm });
  return xmlResponse(copyPartResultXml(part.etag, part.lastModified, part.checksum));
};

/** A pass-through that feeds every chunk to the digests on its way. */
function digestTap(hash: Hash, checksum: IncrementalChecksum | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      checksum?.update(chunk);
      callback(null, chunk);
    },
  });
}

export const completeMultipartUpload: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  // the x-amz-checksum-* headers of a Complete are the whole object's, not its XML body's
  const { bodyHeaders, stated } = statedObjectChecksum(payloadHeaders(context));
  const requested = parseCompleteMultipartUpload(await readSmallBody(context, MAX_COMPLETE_BODY, bodyHeaders));
  const info = await context.engine.multipart.complete(bucket, key, uploadIdOf(context), requested, ({ etag, partSizes, upload, parts }) => ({
    etag,
    headers: upload.headers,
    userMetadata: upload.userMetadata,
    partSizes,
    checksum: completedChecksum(upload, parts, { ...stated, parts: requested }),
    origin: "local",
  }), writePrecondition(context));
  const location = `/${bucket}/${encodeURIComponent(key)}`;
  return xmlResponse(completeMultipartUploadXml(location, bucket, key, info.etag, info.checksum), 200, info.checksum ? checksumHeaders(info.checksum) : {});
};

/** A Complete's whole-object checksum and type headers, and the headers left to describe its body. */
function statedObjectChecksum(headers: S3Context["headers"]): { bodyHeaders: S3Context["headers"]; stated: Omit<StatedChecksums, "parts"> } {
  const bodyHeaders: S3Context["headers"] = {};
  const stated: Omit<StatedChecksums, "parts"> = {};
  for (const [name, value] of Object.entries(headers)) {
    const algorithm = algorithmOfHeader(name);
    if (name === "x-amz-checksum-type") stated.type = String(value);
    else if (algorithm !== undefined) stated.object = { algorithm, value: String(value).trim() };
    else if (name !== "x-amz-sdk-checksum-algorithm") bodyHeaders[name] = value;
  }
  return { bodyHeaders, stated };
}

export const abortMultipartUpload: Handler = async (context) => {
  await context.engine.multipart.abort(bucketOf(context), keyOf(context), uploadIdOf(context));
  return { status: 204 };
};

export const listParts: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  const maxParts = intParam(context, "max-parts", 1000, 0, 1000);
  const marker = intParam(context, "part-number-marker", 0, 0, 10_000);
  const { upload, parts } = await context.engine.multipart.listParts(bucket, key, uploadIdOf(context));
  const after = parts.filter((part) => part.partNumber > marker);
  const page = after.slice(0, maxParts);
  const isTruncated = after.length > page.length;
  return xmlResponse(listPartsXml(upload, { partNumberMarker: marker, maxParts }, {
    parts: page,
    isTruncated,
    nextPartNumberMarker: page.length > 0 ? page[page.length - 1]!.partNumber : undefined,
  }, OWNER));
};

export const listMultipartUploads: Handler = async (context) => {
  const bucket = bucketOf(context);
  const maxUploads = intParam(context, "max-uploads", 1000, 0, 1000);
  const prefix = queryParam(context, "prefix") ?? "";
  const keyMarker = queryParam(context, "key-marker") ?? "";
  const uploadIdMarker = queryParam(context, "upload-id-marker") ?? "";
  const found = await context.engine.multipart.list(bucket, { prefix, keyMarker, uploadIdMarker, limit: maxUploads + 1 });
  const uploads = found.slice(0, maxUploads);
  const last = uploads[uploads.length - 1];
  const isTruncated = found.length > uploads.length;
  return xmlResponse(listMultipartUploadsXml({ bucket, prefix, keyMarker, uploadIdMarker, maxUploads }, {
    uploads,
    commonPrefixes: [],
    isTruncated,
    nextKeyMarker: isTruncated ? last?.key : undefined,
    nextUploadIdMarker: isTruncated ? last?.uploadId : undefined,
  }, OWNER));
};
