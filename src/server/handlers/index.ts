// Which handler serves which S3 operation.
import type { Operation } from "../../s3/route.js";
import type { Handler } from "../context.js";
import { getObjectAttributes } from "./attributes.js";
import { BUCKET_CONFIGURATION_HANDLERS, getObjectAcl } from "./bucket-config.js";
import { createBucket, deleteBucket, getBucketLocation, headBucket, listBuckets } from "./buckets.js";
import { listObjectsV1, listObjectsV2 } from "./listing.js";
import {
  abortMultipartUpload, completeMultipartUpload, createMultipartUpload, listMultipartUploads, listParts, uploadPart, uploadPartCopy,
} from "./multipart.js";
import { copyObject, deleteObject, deleteObjects, getObject, getObjectTagging, headObject, putObject } from "./objects.js";

export const HANDLERS: Record<Operation, Handler> = {
  ListBuckets: listBuckets,
  CreateBucket: createBucket,
  HeadBucket: headBucket,
  DeleteBucket: deleteBucket,
  GetBucketLocation: getBucketLocation,
  ListObjects: listObjectsV1,
  ListObjectsV2: listObjectsV2,
  ListMultipartUploads: listMultipartUploads,
  DeleteObjects: deleteObjects,
  PutObject: putObject,
  CopyObject: copyObject,
  GetObject: getObject,
  HeadObject: headObject,
  DeleteObject: deleteObject,
  CreateMultipartUpload: createMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  ListParts: listParts,
  GetObjectTagging: getObjectTagging,
  GetObjectAcl: getObjectAcl,
  GetObjectAttributes: getObjectAttributes,
  ...BUCKET_CONFIGURATION_HANDLERS,
};
