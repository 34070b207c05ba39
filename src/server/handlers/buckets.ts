// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.
import { S3Error } from "../../s3/errors.js";
import { validateBucketName } from "../../s3/names.js";
import { listBucketsXml, locationXml, parseCreateBucketConfiguration } from "../../s3/xml.js";
import { bucketOf, intParam, queryParam, type Handler } from "../context.js";
import { xmlResponse } from "../respond.js";
import { readSmallBody } from "./body.js";

export const OWNER = { id: "s3-overlay", displayName: "s3-overlay" };

const MAX_BUCKETS = 10_000;

/** ListBuckets with its optional paging (max-buckets, continuation-token) and filters (prefix, bucket-region). */
export const listBuckets: Handler = async (context) => {
  const prefix = queryParam(context, "prefix");
  const region = queryParam(context, "bucket-region");
  const token = queryParam(context, "continuation-token");
  const maxBuckets = intParam(context, "max-buckets", MAX_BUCKETS, 1, MAX_BUCKETS);
  const after = token === undefined ? undefined : decodeBucketToken(token);
  const matching = (await context.engine.listBuckets())
    .filter((bucket) => (prefix === undefined || bucket.name.startsWith(prefix)) && (region === undefined || bucket.region === region))
    .filter((bucket) => after === undefined || bucket.name > after)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const page = matching.slice(0, maxBuckets);
  const continuationToken = matching.length > page.length ? encodeBucketToken(page[page.length - 1]!.name) : undefined;
  return xmlResponse(listBucketsXml(page, OWNER, { continuationToken, prefix }));
};

// Opaque to clients, as S3's are: the last bucket name of the page, versioned.
function encodeBucketToken(name: string): string {
  return Buffer.from(`b1\n${name}`, "utf8").toString("base64url");
}

function decodeBucketToken(token: string): string {
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith("b1\n") || encodeBucketToken(text.slice(3)) !== token) {
    throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", { ArgumentName: "continuation-token", ArgumentValue: token });
  }
  return text.slice(3);
}

export const createBucket: Handler = async (context) => {
  const bucket = bucketOf(context);
  validateBucketName(bucket);
  const configuration = parseCreateBucketConfiguration(await readSmallBody(context, 64 * 1024));
  // this endpoint serves one region, so a constraint can only name that region
  const region = configuration.locationConstraint || context.config.region;
  if (region !== context.config.region) {
    throw new S3Error("IllegalLocationConstraintException", `The ${region} location constraint is incompatible for the region specific endpoint this request was sent to.`);
  }
  await context.engine.createBucket(bucket, region);
  return { headers: { location: `/${bucket}` } };
};

export const headBucket: Handler = async (context) => {
  const info = await context.engine.requireBucket(bucketOf(context));
  return { headers: { "x-amz-bucket-region": info.region } };
};

export const deleteBucket: Handler = async (context) => {
  await context.engine.deleteBucket(bucketOf(context));
  return { status: 204 };
};

export const getBucketLocation: Handler = async (context) => {
  const info = await context.engine.requireBucket(bucketOf(context));
  return xmlResponse(locationXml(info.region));
};
