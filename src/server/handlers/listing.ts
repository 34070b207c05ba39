// ListObjects (v1) and ListObjectsV2: request parameters in, one page of the engine's listing out.
import { S3Error } from "../../s3/errors.js";
import { listObjectsV1Xml, listObjectsV2Xml } from "../../s3/xml.js";
import { bucketOf, intParam, queryParam, type Handler, type S3Context } from "../context.js";
import { xmlResponse } from "../respond.js";
import { OWNER } from "./buckets.js";

const MAX_KEYS = 1000;

interface CommonParams {
  bucket: string;
  prefix: string;
  delimiter: string;
  maxKeys: number;
  encodingType?: "url";
}

function commonParams(context: S3Context): CommonParams {
  const encodingType = queryParam(context, "encoding-type");
  if (encodingType !== undefined && encodingType !== "url") {
    throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", { ArgumentName: "encoding-type", ArgumentValue: encodingType });
  }
  return {
    bucket: bucketOf(context),
    prefix: queryParam(context, "prefix") ?? "",
    delimiter: queryParam(context, "delimiter") ?? "",
    maxKeys: intParam(context, "max-keys", MAX_KEYS, 0, MAX_KEYS),
    encodingType: encodingType as "url" | undefined,
  };
}

export const listObjectsV1: Handler = async (context) => {
  const params = commonParams(context);
  const marker = queryParam(context, "marker") ?? "";
  const page = await context.engine.listObjects(params.bucket, { ...params, after: marker || undefined });
  return xmlResponse(listObjectsV1Xml({ ...params, marker }, {
    contents: page.contents.map((entry) => entry.value),
    commonPrefixes: page.commonPrefixes,
    isTruncated: page.isTruncated,
    // S3 returns NextMarker only with a delimiter; without one clients resume from the last key
    nextMarker: page.isTruncated && params.delimiter !== "" ? page.last : undefined,
  }, OWNER));
};

export const listObjectsV2: Handler = async (context) => {
  const params = commonParams(context);
  const token = queryParam(context, "continuation-token");
  const startAfter = queryParam(context, "start-after") ?? "";
  const after = token !== undefined ? decodeToken(token) : startAfter || undefined;
  const page = await context.engine.listObjects(params.bucket, { ...params, after });
  return xmlResponse(listObjectsV2Xml({
    ...params,
    startAfter: startAfter || undefined,
    continuationToken: token,
    fetchOwner: queryParam(context, "fetch-owner") === "true",
  }, {
    contents: page.contents.map((entry) => entry.value),
    commonPrefixes: page.commonPrefixes,
    isTruncated: page.isTruncated,
    nextContinuationToken: page.isTruncated && page.last !== undefined ? encodeToken(page.last) : undefined,
  }, OWNER));
};

// Continuation tokens are opaque to clients: the resume key, versioned so the format can change.
function encodeToken(after: string): string {
  return Buffer.from(`1\n${after}`, "utf8").toString("base64url");
}

function decodeToken(token: string): string {
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith("1\n") || encodeToken(text.slice(2)) !== token) {
    throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", { ArgumentName: "continuation-token", ArgumentValue: token });
  }
  return text.slice(2);
}
