// Reads of bucket (and object) configuration this server never stores, answered as
// S3 answers them for a bucket nobody configured. Writes are refused in routing (501).
import { S3Error, type S3ErrorCode } from "../../s3/errors.js";
import type { BucketConfigurationRead } from "../../s3/route.js";
import { emptyVersioningXml, ownerAclXml } from "../../s3/xml.js";
import { bucketOf, keyOf, type Handler } from "../context.js";
import { xmlResponse } from "../respond.js";
import { OWNER } from "./buckets.js";

/** The error S3 answers when the configuration was never set, with its message. */
const NOT_CONFIGURED: Record<Exclude<BucketConfigurationRead, "GetBucketVersioning" | "GetBucketAcl">, [code: S3ErrorCode, message: string]> = {
  GetBucketPolicy: ["NoSuchBucketPolicy", "The bucket policy does not exist"],
  GetBucketCors: ["NoSuchCORSConfiguration", "The CORS configuration does not exist"],
  GetBucketLifecycleConfiguration: ["NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"],
  GetBucketTagging: ["NoSuchTagSet", "The TagSet does not exist"],
  GetBucketEncryption: ["ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found"],
  GetObjectLockConfiguration: ["ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket"],
  GetBucketOwnershipControls: ["OwnershipControlsNotFoundError", "The bucket ownership controls were not found"],
  GetPublicAccessBlock: ["NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"],
  GetBucketWebsite: ["NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration"],
  GetBucketReplication: ["ReplicationConfigurationNotFoundError", "The replication configuration was not found"],
};

/** A handler answering NoSuchBucket first, then the unconfigured answer of `operation`. */
function notConfigured(operation: keyof typeof NOT_CONFIGURED): Handler {
  const [code, message] = NOT_CONFIGURED[operation];
  return async (context) => {
    const bucket = bucketOf(context);
    await context.engine.requireBucket(bucket);
    throw new S3Error(code, message, { BucketName: bucket });
  };
}

export const getBucketVersioning: Handler = async (context) => {
  await context.engine.requireBucket(bucketOf(context));
  return xmlResponse(emptyVersioningXml());
};

export const getBucketAcl: Handler = async (context) => {
  await context.engine.requireBucket(bucketOf(context));
  return xmlResponse(ownerAclXml(OWNER));
};

export const getObjectAcl: Handler = async (context) => {
  await context.engine.statObject(bucketOf(context), keyOf(context));
  return xmlResponse(ownerAclXml(OWNER));
};

export const BUCKET_CONFIGURATION_HANDLERS: Record<BucketConfigurationRead, Handler> = {
  GetBucketVersioning: getBucketVersioning,
  GetBucketAcl: getBucketAcl,
  ...(Object.fromEntries(Object.keys(NOT_CONFIGURED).map((operation) => [operation, notConfigured(operation as keyof typeof NOT_CONFIGURED)])) as
    Record<keyof typeof NOT_CONFIGURED, Handler>),
};
