// Bucket operations through @aws-sdk/client-s3 (default settings) against a real s3-overlay process.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { startServer, type RunningServer } from "./harness.js";
import { bodyBytes, expectErrorXml, expectS3Error, signedFetch, uniqueBucket, xmlElement } from "./sdk-helpers.js";

let server: RunningServer;
let s3: S3Client;

beforeAll(async () => {
  server = await startServer();
  s3 = server.client();
});

afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe("create, list, head, delete", () => {
  test("a created bucket is listed, answers HEAD and is gone after DeleteBucket", async () => {
    const bucket = uniqueBucket("life");
    const before = Date.now();
    const created = await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    expect(created.$metadata.httpStatusCode).toBe(200);
    expect(created.Location).toBe(`/${bucket}`);
    expect(created.$metadata.requestId).toBeTruthy();

    const listed = await s3.send(new ListBucketsCommand({}));
    const entry = listed.Buckets?.find((b) => b.Name === bucket);
    expect(entry).toBeDefined();
    // CreationDate has second precision; allow a little clock slack
    expect(entry!.CreationDate!.getTime()).toBeGreaterThanOrEqual(before - 2000);
    expect(entry!.CreationDate!.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
    expect(listed.Owner?.ID).toBeTruthy();

    const head = await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    expect(head.$metadata.httpStatusCode).toBe(200);
    expect(head.BucketRegion).toBe("us-east-1");

    const deleted = await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })), 404);
    const after = await s3.send(new ListBucketsCommand({}));
    expect(after.Buckets?.map((b) => b.Name)).not.toContain(bucket);
  });

  test("ListBuckets lists buckets sorted by name", async () => {
    const names = [uniqueBucket("zz-sort"), uniqueBucket("aa-sort"), uniqueBucket("mm-sort")];
    for (const name of names) await s3.send(new CreateBucketCommand({ Bucket: name }));
    const listed = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name!);
    for (const name of names) expect(listed).toContain(name);
    expect(listed).toEqual([...listed].sort());
  });

  test("re-creating an own bucket keeps its objects (200 in us-east-1 or 409 BucketAlreadyOwnedByYou)", async () => {
    const bucket = uniqueBucket("again");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "kept", Body: "still here" }));
    try {
      const again = await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      // AWS answers 200 in us-east-1 for legacy compatibility
      expect(again.$metadata.httpStatusCode).toBe(200);
    } catch (error) {
      const e = error as Error & { $metadata?: { httpStatusCode?: number } };
      expect({ name: e.name, status: e.$metadata?.httpStatusCode }).toEqual({ name: "BucketAlreadyOwnedByYou", status: 409 });
    }
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "kept" }));
    expect((await bodyBytes(object.Body)).toString()).toBe("still here");
  });

  test("a LocationConstraint for another region is refused and creates nothing", async () => {
    const bucket = uniqueBucket("elsewhere");
    const error = await expectS3Error(
      s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: "eu-west-1" } })),
      400,
    );
    expect(["IllegalLocationConstraintException", "InvalidLocationConstraint"]).toContain(error.name);
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })), 404);
  });

  test("invalid bucket names answer 400 InvalidBucketName", async () => {
    for (const name of ["ab", "Upper-Case", "a..b", "192.168.1.1", "x".repeat(64), "-dash-first"]) {
      await expectS3Error(s3.send(new CreateBucketCommand({ Bucket: name })), 400, "InvalidBucketName");
    }
  });
});

describe("DeleteBucket on a bucket with content", () => {
  test("an object makes it 409 BucketNotEmpty; after deleting the object it succeeds", async () => {
    const bucket = uniqueBucket("notempty");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "dir/file.txt", Body: "x" }));
    await expectS3Error(s3.send(new DeleteBucketCommand({ Bucket: bucket })), 409, "BucketNotEmpty");
    // the bucket and its object survive the refused delete
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "dir/file.txt" }));
    expect(head.ContentLength).toBe(1);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "dir/file.txt" }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })), 404);
  });

  test("only a multipart upload in progress makes it 409 BucketNotEmpty; after Abort it succeeds", async () => {
    const bucket = uniqueBucket("mpu-only");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "pending" }));
    await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "pending", UploadId: upload.UploadId, PartNumber: 1, Body: "part" }));
    await expectS3Error(s3.send(new DeleteBucketCommand({ Bucket: bucket })), 409, "BucketNotEmpty");
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    expect(uploads.Uploads?.map((u) => u.UploadId)).toEqual([upload.UploadId]);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: "pending", UploadId: upload.UploadId }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })), 404);
  });
});

describe("GetBucketLocation", () => {
  test("a us-east-1 bucket has an empty LocationConstraint, as AWS answers", async () => {
    const bucket = uniqueBucket("loc");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const location = await s3.send(new GetBucketLocationCommand({ Bucket: bucket }));
    expect(location.$metadata.httpStatusCode).toBe(200);
    expect(location.LocationConstraint ?? "").toBe("");

    const raw = await signedFetch(server.endpoint, "GET", `/${bucket}`, { query: { location: "" } });
    expect(raw.status).toBe(200);
    expect(raw.body).toContain("LocationConstraint");
    expect(raw.headers.get("x-amz-request-id")).toBeTruthy();
  });
});

describe("NoSuchBucket", () => {
  const missing = uniqueBucket("missing");
  const fakeUpload = "no-such-upload-id";
  const operations: Array<[string, (s3: S3Client) => Promise<unknown>]> = [
    ["ListObjects", (s3) => s3.send(new ListObjectsCommand({ Bucket: missing }))],
    ["ListObjectsV2", (s3) => s3.send(new ListObjectsV2Command({ Bucket: missing }))],
    ["ListMultipartUploads", (s3) => s3.send(new ListMultipartUploadsCommand({ Bucket: missing }))],
    ["GetBucketLocation", (s3) => s3.send(new GetBucketLocationCommand({ Bucket: missing }))],
    ["DeleteBucket", (s3) => s3.send(new DeleteBucketCommand({ Bucket: missing }))],
    ["PutObject", (s3) => s3.send(new PutObjectCommand({ Bucket: missing, Key: "k", Body: "data" }))],
    ["GetObject", (s3) => s3.send(new GetObjectCommand({ Bucket: missing, Key: "k" }))],
    ["DeleteObject", (s3) => s3.send(new DeleteObjectCommand({ Bucket: missing, Key: "k" }))],
    ["DeleteObjects", (s3) => s3.send(new DeleteObjectsCommand({ Bucket: missing, Delete: { Objects: [{ Key: "k" }] } }))],
    ["CopyObject (destination)", (s3) => s3.send(new CopyObjectCommand({ Bucket: missing, Key: "k", CopySource: `${sourceBucket}/source` }))],
    ["CopyObject (source)", (s3) => s3.send(new CopyObjectCommand({ Bucket: sourceBucket, Key: "k", CopySource: `${missing}/source` }))],
    ["CreateMultipartUpload", (s3) => s3.send(new CreateMultipartUploadCommand({ Bucket: missing, Key: "k" }))],
    ["UploadPart", (s3) => s3.send(new UploadPartCommand({ Bucket: missing, Key: "k", UploadId: fakeUpload, PartNumber: 1, Body: "x" }))],
    ["ListParts", (s3) => s3.send(new ListPartsCommand({ Bucket: missing, Key: "k", UploadId: fakeUpload }))],
    ["AbortMultipartUpload", (s3) => s3.send(new AbortMultipartUploadCommand({ Bucket: missing, Key: "k", UploadId: fakeUpload }))],
    [
      "CompleteMultipartUpload",
      (s3) =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: missing, Key: "k", UploadId: fakeUpload, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
          }),
        ),
    ],
  ];
  const sourceBucket = uniqueBucket("copysrc");

  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: sourceBucket }));
    await s3.send(new PutObjectCommand({ Bucket: sourceBucket, Key: "source", Body: "source" }));
  });

  test.each(operations)("%s on a missing bucket answers 404 NoSuchBucket", async (_name, run) => {
    await expectS3Error(run(s3), 404, "NoSuchBucket");
  });

  test("HEAD requests on a missing bucket answer 404 (no body, so the SDK names it NotFound)", async () => {
    await expectS3Error(s3.send(new HeadBucketCommand({ Bucket: missing })), 404, "NotFound");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: missing, Key: "k" })), 404, "NotFound");
  });

  test("the error XML names the code, the bucket and the request id", async () => {
    const response = await signedFetch(server.endpoint, "GET", `/${missing}`, { query: { "list-type": "2" } });
    expectErrorXml(response, 404, "NoSuchBucket");
    expect(xmlElement(response.body, "BucketName")).toBe(missing);
    expect(response.headers.get("content-type")).toMatch(/xml/);
  });
});

describe("features that are not implemented", () => {
  test("writing bucket subresources answers 501 NotImplemented in S3 error XML (reading them: conformance.test.ts)", async () => {
    const bucket = uniqueBucket("unsupported");
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await expectS3Error(
      s3.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: { CORSRules: [{ AllowedMethods: ["GET"], AllowedOrigins: ["*"] }] } })),
      501,
      "NotImplemented",
    );
    expectErrorXml(await signedFetch(server.endpoint, "PUT", `/${bucket}`, { query: { lifecycle: "" } }), 501, "NotImplemented");
    expectErrorXml(await signedFetch(server.endpoint, "GET", `/${bucket}`, { query: { versions: "" } }), 501, "NotImplemented");
  });
});

describe("request ids", () => {
  test("every response carries a distinct x-amz-request-id", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const result = await s3.send(new ListBucketsCommand({}));
      expect(result.$metadata.requestId).toBeTruthy();
      ids.add(result.$metadata.requestId!);
    }
    expect(ids.size).toBe(5);
  });
});
