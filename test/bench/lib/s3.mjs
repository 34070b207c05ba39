// SDK clients and presigned URLs for benchmarks: a presigned URL makes the
// server verify a real SigV4 signature on every request, while the load
// generator sends it with plain undici (no per-request SDK cost).
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const EXPIRES_SEC = 3600;

/** A path-style client; checksums only when required (Ceph RGW 16 rejects aws-chunked uploads). */
export function s3Client(endpoint, credentials, region = "us-east-1") {
  return new S3Client({ endpoint, region, credentials, forcePathStyle: true, requestChecksumCalculation: "WHEN_REQUIRED" });
}

export async function createBucket(client, bucket) {
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error) => {
    if (error.name !== "BucketAlreadyOwnedByYou" && error.name !== "BucketAlreadyExists") throw error;
  });
}

/** A presigned GET URL for bucket/key, valid for an hour. */
export function presignGet(client, bucket, key) {
  return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: EXPIRES_SEC });
}

/** A presigned PUT URL (payload UNSIGNED-PAYLOAD) for bucket/key, valid for an hour. */
export function presignPut(client, bucket, key) {
  return getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: EXPIRES_SEC });
}
