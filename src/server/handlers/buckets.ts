// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation.
import { S3Error } from "../../s3/errors.js";
import { validateBucketName } from "../../s3/names.js";
import { listBucketsXml, locationXml, parseCreateBucketConfiguration } from "../../s3/xml.js";
import { bucketOf, type Handler } from "../context.js";
import { xmlResponse } from "../respond.js";
import { readSmallBody } from "./body.js";

export const OWNER = { id: "s3-overlay", displayName: "s3-overlay" };

export const listBuckets: Handler = async (context) => {
  return xmlResponse(listBucketsXml(await context.engine.listBuckets(), OWNER));
};

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
