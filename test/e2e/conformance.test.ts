// S3 conformance details (issue 13), each checked through a real client: the SDK
// in its default configuration, boto3 (run as a Python child process) or raw signed HTTP.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { PassThrough, Readable } from "node:stream";
import zlib from "node:zlib";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketPolicyCommand, GetBucketAclCommand, GetBucketCorsCommand, GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand, GetBucketOwnershipControlsCommand, GetBucketPolicyCommand, GetBucketReplicationCommand,
  GetBucketTaggingCommand, GetBucketVersioningCommand, GetBucketWebsiteCommand, GetObjectAclCommand, GetObjectLockConfigurationCommand,
  GetObjectCommand, GetPublicAccessBlockCommand, HeadObjectCommand, ListPartsCommand, PutBucketVersioningCommand, UploadPartCommand, ListBucketsCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from "@aws-sdk/client-s3";
import { PYTHON, boto3 as runBoto3 } from "./boto3.js";
import type { RunningServer } from "./harness.js";
import { expectS3Error, uniqueBucket, startWithBucket, stopWithClient } from "./sdk-helpers.js";
import { sha256Hex, signHeaders } from "./raw-http.js";

let server: RunningServer;
let s3: S3Client;
let bucket: string;

beforeAll(async () => {
  ({ server, s3, bucket } = await startWithBucket("conform"));
});

afterAll(() => stopWithClient(server, s3));

/** Runs `body` (Python, with `s3` a boto3 client of the server) and returns what it printed as JSON. */
const boto3 = (body: string): unknown => runBoto3(server.endpoint, body);

describe("listing with encoding-type=url", () => {
  test("a space is %20 and a plus %2B; letters, digits and - _ . / * stay as they are", async () => {
    const keys = ["enc/a b", "enc/a+b", "enc/x(1)~!'", "enc/AZaz09-_.*"];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "x" }));
    const v2 = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "enc/", EncodingType: "url" }));
    expect(v2.Contents?.map((c) => c.Key)).toEqual(["enc/AZaz09-_.*", "enc/a%20b", "enc/a%2Bb", "enc/x%281%29%7E%21%27"]);
    const v1 = await s3.send(new ListObjectsCommand({ Bucket: bucket, Prefix: "enc/a ", EncodingType: "url" }));
    expect(v1.Contents?.map((c) => c.Key)).toEqual(["enc/a%20b"]);
  });

  test.runIf(PYTHON)("boto3 (which asks for url encoding itself) lists a prefix holding a newline back raw in v1 and v2", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "nl/\nkey x", Body: "x" }));
    const answer = boto3([
      `v1 = s3.list_objects(Bucket="${bucket}", Prefix="nl/\\n", Delimiter=" ")`,
      `v2 = s3.list_objects_v2(Bucket="${bucket}", Prefix="nl/\\n", Delimiter=" ")`,
      "print(json.dumps([[r['Prefix'], r['Delimiter'], [p['Prefix'] for p in r['CommonPrefixes']]] for r in (v1, v2)]))",
    ].join("\n"));
    expect(answer).toEqual([
      ["nl/\n", " ", ["nl/\nkey "]],
      ["nl/\n", " ", ["nl/\nkey "]],
    ]);
  });
});

describe("ListObjectsV2 with an empty continuation-token", () => {
  // S3 refuses it (boto3 and the SDK both send "continuation-token=" as given): minio#5931, localstack#3277
  test.runIf(PYTHON)("is 400 InvalidArgument, as S3 answers boto3", () => {
    const answer = boto3([
      "from botocore.exceptions import ClientError",
      "try:",
      `    s3.list_objects_v2(Bucket="${bucket}", ContinuationToken="")`,
      "    print(json.dumps('listed'))",
      "except ClientError as e:",
      "    print(json.dumps([e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code'], e.response['Error'].get('ArgumentName')]))",
    ].join("\n"));
    expect(answer).toEqual([400, "InvalidArgument", "continuation-token"]);
  });
});

describe("ListBuckets paging", () => {
  const prefix = `lbp-${process.pid}-`;
  const names = ["a", "b", "c", "d", "e"].map((suffix) => `${prefix}${suffix}`);

  beforeAll(async () => {
    for (const name of names) await s3.send(new CreateBucketCommand({ Bucket: name }));
  });

  test("max-buckets pages through continuation tokens; Prefix is echoed and BucketRegion is in every bucket", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const answer = await s3.send(new ListBucketsCommand({ MaxBuckets: 2, Prefix: prefix, ContinuationToken: token }));
      expect(answer.Prefix).toBe(prefix);
      expect(answer.Buckets!.length).toBeLessThanOrEqual(2);
      for (const found of answer.Buckets!) expect(found.BucketRegion).toBe("us-east-1");
      seen.push(...answer.Buckets!.map((found) => found.Name!));
      token = answer.ContinuationToken;
      if (token === undefined) break;
    }
    expect(seen).toEqual(names);
  });

  test("bucket-region filters; without max-buckets every bucket comes in one answer without a token", async () => {
    const all = await s3.send(new ListBucketsCommand({}));
    expect(all.ContinuationToken).toBeUndefined();
    expect(all.Prefix).toBeUndefined();
    expect(all.Buckets!.map((found) => found.Name)).toEqual(expect.arrayContaining([...names, bucket]));
    const elsewhere = await s3.send(new ListBucketsCommand({ BucketRegion: "eu-west-1" }));
    expect(elsewhere.Buckets ?? []).toEqual([]);
  });

  test("a token this server did not issue is 400 InvalidArgument", async () => {
    await expectS3Error(s3.send(new ListBucketsCommand({ MaxBuckets: 1, ContinuationToken: "not-a-token" })), 400, "InvalidArgument");
  });
});

describe("bucket configuration of an unconfigured bucket", () => {
  test("GetBucketVersioning is 200 with no Status; bucket and object ACLs are the owner's FULL_CONTROL", async () => {
    const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(versioning.$metadata.httpStatusCode).toBe(200);
    expect(versioning.Status).toBeUndefined();
    expect(versioning.MFADelete).toBeUndefined();
    const bucketAcl = await s3.send(new GetBucketAclCommand({ Bucket: bucket }));
    expect(bucketAcl.Owner?.ID).toBeTruthy();
    expect(bucketAcl.Grants).toEqual([
      { Grantee: { Type: "CanonicalUser", ID: bucketAcl.Owner!.ID, DisplayName: bucketAcl.Owner!.DisplayName }, Permission: "FULL_CONTROL" },
    ]);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "acl-object", Body: "x" }));
    const objectAcl = await s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: "acl-object" }));
    expect(objectAcl.Grants).toEqual(bucketAcl.Grants);
    await expectS3Error(s3.send(new GetObjectAclCommand({ Bucket: bucket, Key: "no-such-object" })), 404, "NoSuchKey");
  });

  const notFound: [string, () => Promise<unknown>][] = [
    ["NoSuchBucketPolicy", () => s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))],
    ["NoSuchCORSConfiguration", () => s3.send(new GetBucketCorsCommand({ Bucket: bucket }))],
    ["NoSuchLifecycleConfiguration", () => s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))],
    ["NoSuchTagSet", () => s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))],
    ["ServerSideEncryptionConfigurationNotFoundError", () => s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }))],
    ["ObjectLockConfigurationNotFoundError", () => s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }))],
    ["OwnershipControlsNotFoundError", () => s3.send(new GetBucketOwnershipControlsCommand({ Bucket: bucket }))],
    ["NoSuchPublicAccessBlockConfiguration", () => s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))],
    ["NoSuchWebsiteConfiguration", () => s3.send(new GetBucketWebsiteCommand({ Bucket: bucket }))],
    ["ReplicationConfigurationNotFoundError", () => s3.send(new GetBucketReplicationCommand({ Bucket: bucket }))],
  ];
  test.each(notFound)("%s (404)", async (code, call) => {
    const error = await expectS3Error(call(), 404, code);
    expect(error.error.BucketName).toBe(bucket);
  });

  test("a bucket that does not exist is NoSuchBucket, for every read", async () => {
    const missing = uniqueBucket("missing");
    await expectS3Error(s3.send(new GetBucketVersioningCommand({ Bucket: missing })), 404, "NoSuchBucket");
    await expectS3Error(s3.send(new GetBucketAclCommand({ Bucket: missing })), 404, "NoSuchBucket");
    await expectS3Error(s3.send(new GetBucketPolicyCommand({ Bucket: missing })), 404, "NoSuchBucket");
    await expectS3Error(s3.send(new GetPublicAccessBlockCommand({ Bucket: missing })), 404, "NoSuchBucket");
  });

  test("writes stay 501 NotImplemented, saying so", async () => {
    const put = await expectS3Error(s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } })), 501, "NotImplemented");
    expect(put.error.message).toMatch(/\?versioning.*not implemented/);
    await expectS3Error(s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket })), 501, "NotImplemented");
  });
});

describe("partNumber reads of an object uploaded in one piece", () => {
  test("part 1 is the whole object as a 206 with Content-Range and no parts count; part 2 is 400 InvalidPart", async () => {
    const stored = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "single-part", Body: "0123456789" }));
    const part1 = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "single-part", PartNumber: 1 }));
    expect(part1.$metadata.httpStatusCode).toBe(206);
    expect(part1.ContentRange).toBe("bytes 0-9/10");
    expect(part1.PartsCount).toBeUndefined();
    expect(part1.ETag).toBe(stored.ETag);
    expect(await part1.Body!.transformToString()).toBe("0123456789");
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "single-part", PartNumber: 1 }));
    expect([head.$metadata.httpStatusCode, head.ContentLength]).toEqual([206, 10]);
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "single-part", PartNumber: 2 })), 400, "InvalidPart");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "single-part", PartNumber: 2 })), 400);
  });
});

describe("checksum mismatches are 400 BadDigest", () => {
  const crc32 = (body: Buffer) => {
    const digest = Buffer.alloc(4);
    digest.writeUInt32BE(zlib.crc32(body));
    return digest.toString("base64");
  };

  test("a presigned PUT whose signed x-amz-checksum-crc32 (a query parameter) does not match the body", async () => {
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "presigned-crc", ChecksumCRC32: crc32(Buffer.from("other")) }), {
      expiresIn: 300,
    });
    expect(new URL(url).searchParams.get("x-amz-checksum-crc32")).toBeTruthy();
    const response = await fetch(url, { method: "PUT", body: "the body" });
    const text = await response.text();
    expect([response.status, text.match(/<Code>(.*?)<\/Code>/)?.[1], text.match(/<Message>(.*?)<\/Message>/)?.[1]]).toEqual([
      400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.",
    ]);
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "presigned-crc" })), 404);
  });
});

describe("Content-Encoding", () => {
  test("is stored as sent minus aws-chunked, byte for byte", async () => {
    // a stream body makes the SDK upload aws-chunked, adding that encoding to the header
    const body = Buffer.from("encoded bytes");
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "encoded/stream", Body: Readable.from([body]), ContentLength: body.length, ContentEncoding: "deflate, gzip" }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "encoded/plain", Body: body, ContentEncoding: "deflate, gzip" }));
    for (const key of ["encoded/stream", "encoded/plain"]) {
      expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentEncoding, key).toBe("deflate, gzip");
    }
  });
});

describe("conditional writes with If-None-Match naming an ETag", () => {
  // S3 takes only "*" here; an ETag is 501 (measured against S3 in aws-sdk-ruby#3144), and nothing is written
  const expectRefused = async (promise: Promise<unknown>) => {
    const error = await expectS3Error(promise, 501, "NotImplemented");
    expect(error.error.Header).toBe("If-None-Match");
    expect(error.error.additionalMessage).toBe("We don't accept the provided value of If-None-Match header for this API");
  };

  test("PutObject is 501 NotImplemented naming the header, and the object stays as it was", async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inm/put", Body: "first" }));
    await expectRefused(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inm/put", Body: "second", IfNoneMatch: first.ETag })));
    await expectRefused(s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inm/absent", Body: "x", IfNoneMatch: '"0123456789abcdef0123456789abcdef"' })));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "inm/put" }));
    expect(await got.Body!.transformToString()).toBe("first");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "inm/absent" })), 404);
  });

  test("CompleteMultipartUpload is 501 too, and the upload can still be completed", async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "inm/mpu", Body: "first" }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "inm/mpu" }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "inm/mpu", UploadId, PartNumber: 1, Body: "part" }));
    const parts = { Parts: [{ PartNumber: 1, ETag: part.ETag }] };
    await expectRefused(s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "inm/mpu", UploadId, MultipartUpload: parts, IfNoneMatch: first.ETag })));
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "inm/mpu", UploadId, MultipartUpload: parts }));
    expect(done.ETag).toMatch(/-1"$/);
  });
});

describe("multipart retries and races", () => {
  test("repeating CompleteMultipartUpload of an upload just completed, with the same parts, answers 200 with the same ETag", async () => {
    const key = "mpu/retried";
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const part = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: "only part" }));
    const parts = { Parts: [{ PartNumber: 1, ETag: part.ETag }] };
    const first = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: parts }));
    const again = await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: parts }));
    expect(again.$metadata.httpStatusCode).toBe(200);
    expect([again.ETag, again.Key, again.Bucket]).toEqual([first.ETag, key, bucket]);
    // other parts, or another key, are not a retry of that request
    await expectS3Error(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0123456789abcdef0123456789abcdef"' }] } })),
      404, "NoSuchUpload",
    );
    await expectS3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: "mpu/other", UploadId, MultipartUpload: parts })), 404, "NoSuchUpload");
    // the upload itself is gone, as after any Complete
    await expectS3Error(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId })), 404, "NoSuchUpload");
  });

  test("of two uploads of one part number overlapping in time, the one that finishes last is the part", async () => {
    const key = "mpu/raced";
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const slowBytes = Buffer.alloc(64 * 1024, "a");
    const slowBody = new PassThrough();
    const slow = s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: slowBody, ContentLength: slowBytes.length }));
    slowBody.write(slowBytes.subarray(0, 1024));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // started later, finished first
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: "the quick one" }));
    slowBody.end(slowBytes.subarray(1024));
    const slowPart = await slow;
    const listed = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }));
    expect(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([[1, slowPart.ETag, slowBytes.length]]);
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: slowPart.ETag }] } }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(slowBytes)).toBe(true);
  });
});

describe("PUT with Transfer-Encoding: chunked and no Content-Length", () => {
  /** Sends `pieces` one by one as a chunked body, signed with `payloadHash`. */
  async function chunkedPut(path: string, pieces: Buffer[], payloadHash: string): Promise<{ status: number; etag?: string; body: string }> {
    const headers = await signHeaders(server.endpoint, { method: "PUT", path, headers: { "transfer-encoding": "chunked" } }, { payloadHash });
    const url = new URL(server.endpoint);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method: "PUT", path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      const write = (index: number) => {
        if (index === pieces.length) return req.end();
        req.write(pieces[index], () => setTimeout(() => write(index + 1), 5));
      };
      write(0);
    });
  }

  test("streams in (unsigned or with the body's sha256 signed): the object is the bytes that arrived", async () => {
    const pieces = Array.from({ length: 12 }, () => randomBytes(300 * 1024));
    const whole = Buffer.concat(pieces);
    const md5 = createHash("md5").update(whole).digest("hex");
    for (const [key, hash] of [["te/unsigned", "UNSIGNED-PAYLOAD"], ["te/signed", sha256Hex(whole)]] as const) {
      const put = await chunkedPut(`/${bucket}/${key}`, pieces, hash);
      expect([put.status, put.etag], put.body).toEqual([200, `"${md5}"`]);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(got.ContentLength).toBe(whole.length);
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(whole)).toBe(true);
    }
  });

  test("a signed sha256 that the bytes do not match is 400 XAmzContentSHA256Mismatch and stores nothing", async () => {
    const put = await chunkedPut(`/${bucket}/te/mismatch`, [Buffer.from("some "), Buffer.from("bytes")], sha256Hex("other bytes"));
    expect(put.status).toBe(400);
    expect(put.body).toContain("<Code>XAmzContentSHA256Mismatch</Code>");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "te/mismatch" })), 404);
  });
});
