// Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts, ListMultipartUploads.
import { createHash, type Hash } from "node:crypto";
import { pipeline, Transform } from "node:stream";
import { checkCopySourceConditions } from "../../s3/conditional.js";
import { S3Error } from "../../s3/errors.js";
import { checksumHeaderName, compositeChecksum, parseChecksumAlgorithm } from "../../s3/checksums.js";
import { checksumHeaders, contentHeadersFrom, parseUserMetadata } from "../../s3/headers.js";
import { validateKey } from "../../s3/names.js";
import { parseCopySource, parsePartNumber } from "../../s3/route.js";
import { decodePayload, planPayload } from "../../s3/payload.js";
import {
  completeMultipartUploadXml, copyPartResultXml, initiateMultipartUploadXml, listMultipartUploadsXml, listPartsXml,
  parseCompleteMultipartUpload,
} from "../../s3/xml.js";
import type { Checksum } from "../../store/types.js";
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
  const algorithmHeader = header(context, "x-amz-checksum-algorithm");
  const checksumAlgorithm = algorithmHeader ? parseChecksumAlgorithm(algorithmHeader) : undefined;
  const upload = await context.engine.createUpload(bucket, key, {
    headers: contentHeadersFrom(context.headers),
    userMetadata: parseUserMetadata(context.headers),
    checksumAlgorithm,
  });
  const headers: Record<string, string> = checksumAlgorithm ? { "x-amz-checksum-algorithm": checksumAlgorithm } : {};
  return xmlResponse(initiateMultipartUploadXml(bucket, key, upload.uploadId), 200, headers);
};

export const uploadPart: Handler = async (context) => {
  const plan = planPayload(payloadHeaders(context), context.auth);
  await context.engine.requireRoom(plan.decodedLength);
  const payload = decodePayload(context.req, plan);
  const part = await context.engine.uploadPart(bucketOf(context), keyOf(context), uploadIdOf(context), partNumberOf(context), payload.data, () => {
    const digests = payload.digests();
    return {
      etag: digests.md5.toString("hex"),
      checksum: digests.checksum && { ...digests.checksum, type: "FULL_OBJECT" as const },
    };
  }, plan.decodedLength);
  return { headers: { etag: `"${part.etag}"`, ...(part.checksum ? { [checksumHeaderName(part.checksum.algorithm)]: part.checksum.value } : {}) } };
};

export const uploadPartCopy: Handler = async (context) => {
  const source = parseCopySource(header(context, "x-amz-copy-source") ?? "");
  const found = await context.engine.getObject(source.bucket, source.key);
  const info = found.info;
  checkCopySourceConditions(context.headers, { etag: info.etag, lastModified: info.lastModified });
  const range = parseCopySourceRange(header(context, "x-amz-copy-source-range"), info.size);
  const md5 = createHash("md5");
  const data = md5Tap(md5);
  // pipeline, not pipe: a failing source must fail the part, not leave it waiting
  pipeline((await found.open(range)).body, data, () => undefined);
  const part = await context.engine.uploadPart(bucketOf(context), keyOf(context), uploadIdOf(context), partNumberOf(context), data, () => ({
    etag: md5.digest("hex"),
  }), range ? range.end - range.start + 1 : info.size);
  return xmlResponse(copyPartResultXml(part.etag, part.lastModified));
};

/** A pass-through that feeds every chunk to a hash on its way. */
function md5Tap(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

export const completeMultipartUpload: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  const requested = parseCompleteMultipartUpload(await readSmallBody(context, MAX_COMPLETE_BODY));
  const info = await context.engine.completeUpload(bucket, key, uploadIdOf(context), requested, ({ etag, partSizes, upload, parts }) => ({
    etag,
    headers: upload.headers,
    userMetadata: upload.userMetadata,
    partSizes,
    checksum: multipartChecksum(upload.checksumAlgorithm, parts.map((part) => part.checksum)),
    origin: "local",
  }), writePrecondition(context));
  const location = `/${bucket}/${encodeURIComponent(key)}`;
  return xmlResponse(completeMultipartUploadXml(location, bucket, key, info.etag, info.checksum), 200, info.checksum ? checksumHeaders(info.checksum) : {});
};

/** The COMPOSITE checksum of a multipart object, when the upload asked for one and every part has it. */
function multipartChecksum(algorithm: Checksum["algorithm"] | undefined, parts: (Checksum | undefined)[]): Checksum | undefined {
  if (!algorithm || parts.some((part) => part?.algorithm !== algorithm)) return undefined;
  const digests = parts.map((part) => Buffer.from(part!.value, "base64"));
  return { algorithm, value: compositeChecksum(algorithm, digests), type: "COMPOSITE" };
}

export const abortMultipartUpload: Handler = async (context) => {
  await context.engine.abortUpload(bucketOf(context), keyOf(context), uploadIdOf(context));
  return { status: 204 };
};

export const listParts: Handler = async (context) => {
  const bucket = bucketOf(context);
  const key = keyOf(context);
  const maxParts = intParam(context, "max-parts", 1000, 0, 1000);
  const marker = intParam(context, "part-number-marker", 0, 0, 10_000);
  const { upload, parts } = await context.engine.listParts(bucket, key, uploadIdOf(context));
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
  const found = await context.engine.listUploads(bucket, { prefix, keyMarker, uploadIdMarker, limit: maxUploads + 1 });
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
