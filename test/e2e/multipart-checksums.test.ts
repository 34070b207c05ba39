// Multipart checksums as S3 keeps them (COMPOSITE and FULL_OBJECT), through the JS SDK,
// lib-storage and boto3 against a real s3-overlay process, on either store.
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { Crc32cJs, Crc64NvmeJs } from "@aws-sdk/checksums/crc";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ChecksumAlgorithm,
  type CompletedPart,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { boto3, PYTHON } from "./boto3.js";
import type { RunningServer } from "./harness.js";
import { bodyBytes, expectS3Error, seededBytes, startWithBucket, stopWithClient } from "./sdk-helpers.js";

const MiB = 1024 * 1024;

let server: RunningServer;
let s3: S3Client;
let bucket: string;

beforeAll(async () => {
  ({ server, s3, bucket } = await startWithBucket("mpu-checksums"));
});

afterAll(() => stopWithClient(server, s3));

/** The digest of `data` by an implementation other than the server's. */
async function digest(algorithm: ChecksumAlgorithm, data: Buffer): Promise<Buffer> {
  switch (algorithm) {
    case "CRC32": {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc32(data));
      return out;
    }
    case "CRC32C":
    case "CRC64NVME": {
      const hash = algorithm === "CRC32C" ? new Crc32cJs() : new Crc64NvmeJs();
      hash.update(data);
      return Buffer.from(await hash.digest());
    }
    case "SHA1":
    case "SHA256":
      return createHash(algorithm === "SHA1" ? "sha1" : "sha256").update(data).digest();
  }
  throw new Error(`no such algorithm ${algorithm}`);
}

const b64 = async (algorithm: ChecksumAlgorithm, data: Buffer) => (await digest(algorithm, data)).toString("base64");

/** S3's COMPOSITE checksum: the checksum of the concatenated binary part checksums, "-N". */
async function composite(algorithm: ChecksumAlgorithm, parts: Buffer[]): Promise<string> {
  const digests = await Promise.all(parts.map((part) => digest(algorithm, part)));
  return `${await b64(algorithm, Buffer.concat(digests))}-${parts.length}`;
}

const field = (algorithm: ChecksumAlgorithm) => `Checksum${algorithm}` as const;

const PARTS = [seededBytes("mpc-1", 5 * MiB), seededBytes("mpc-2", 5 * MiB + 17), seededBytes("mpc-3", 1234)];

async function uploadWith(
  key: string, algorithm: ChecksumAlgorithm, type: "COMPOSITE" | "FULL_OBJECT" | undefined, parts = PARTS,
): Promise<{ uploadId: string; completed: CompletedPart[] }> {
  const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: algorithm, ChecksumType: type }));
  expect(created.ChecksumAlgorithm).toBe(algorithm);
  expect(created.ChecksumType).toBe(type ?? (algorithm === "CRC64NVME" ? "FULL_OBJECT" : "COMPOSITE"));
  const completed: CompletedPart[] = [];
  for (const [index, part] of parts.entries()) {
    const result = await s3.send(new UploadPartCommand({
      Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: index + 1, Body: part, ChecksumAlgorithm: algorithm,
    }));
    expect(result[field(algorithm)]).toBe(await b64(algorithm, part));
    completed.push({ PartNumber: index + 1, ETag: result.ETag, [field(algorithm)]: result[field(algorithm)] });
  }
  return { uploadId: created.UploadId!, completed };
}

function complete(key: string, uploadId: string, parts: CompletedPart[], extra: Record<string, unknown> = {}) {
  return s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...extra }));
}

describe("FULL_OBJECT: the CRC of the whole object, combined from the parts'", () => {
  test.each(["CRC32", "CRC32C", "CRC64NVME"] as const)("%s: Complete, HeadObject, GetObject (the SDK checks the body against it), ListParts, ListMultipartUploads", async (algorithm) => {
    const key = `full/${algorithm}`;
    const whole = await b64(algorithm, Buffer.concat(PARTS));
    const { uploadId, completed } = await uploadWith(key, algorithm, "FULL_OBJECT");

    const listed = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    expect(listed.ChecksumAlgorithm).toBe(algorithm);
    expect(listed.ChecksumType).toBe("FULL_OBJECT");
    expect(listed.Parts?.map((part) => part[field(algorithm)])).toEqual(completed.map((part) => part[field(algorithm)]));
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    expect(uploads.Uploads?.map((upload) => [upload.UploadId, upload.ChecksumAlgorithm, upload.ChecksumType])).toEqual([[uploadId, algorithm, "FULL_OBJECT"]]);

    const result = await complete(key, uploadId, completed, { ChecksumType: "FULL_OBJECT", [field(algorithm)]: whole });
    expect(result[field(algorithm)]).toBe(whole);
    expect(result.ChecksumType).toBe("FULL_OBJECT");
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect([head[field(algorithm)], head.ChecksumType]).toEqual([whole, "FULL_OBJECT"]);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect([got[field(algorithm)], got.ChecksumType]).toEqual([whole, "FULL_OBJECT"]);
    expect((await bodyBytes(got.Body)).equals(Buffer.concat(PARTS))).toBe(true);
  });

  test("Complete may leave the part checksums out; a whole-object checksum that differs is 400 BadDigest and keeps the upload", async () => {
    const key = "full/no-part-checksums";
    const { uploadId, completed } = await uploadWith(key, "CRC32C", "FULL_OBJECT");
    const bare = completed.map(({ PartNumber, ETag }) => ({ PartNumber, ETag }));
    await expectS3Error(complete(key, uploadId, bare, { ChecksumCRC32C: await b64("CRC32C", Buffer.from("other")) }), 400, "BadDigest");
    const result = await complete(key, uploadId, bare);
    expect(result.ChecksumCRC32C).toBe(await b64("CRC32C", Buffer.concat(PARTS)));
  });
});

describe("COMPOSITE: the checksum of the part checksums, -N", () => {
  test.each(["CRC32", "CRC32C", "SHA1", "SHA256"] as const)("%s", async (algorithm) => {
    const key = `composite/${algorithm}`;
    const expected = await composite(algorithm, PARTS);
    const { uploadId, completed } = await uploadWith(key, algorithm, algorithm === "CRC32" ? "COMPOSITE" : undefined);
    const listed = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    expect([listed.ChecksumAlgorithm, listed.ChecksumType]).toEqual([algorithm, "COMPOSITE"]);
    const result = await complete(key, uploadId, completed);
    expect([result[field(algorithm)], result.ChecksumType]).toEqual([expected, "COMPOSITE"]);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect([head[field(algorithm)], head.ChecksumType]).toEqual([expected, "COMPOSITE"]);
    // the SDK does not check a composite checksum against the body; the bytes are checked here
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect(got[field(algorithm)]).toBe(expected);
    expect((await bodyBytes(got.Body)).equals(Buffer.concat(PARTS))).toBe(true);
  });

  test("every part's checksum must be listed (InvalidRequest), and match the stored one (InvalidPart); then the right list completes", async () => {
    const key = "composite/checked";
    const { uploadId, completed } = await uploadWith(key, "SHA256", undefined);
    const missing = completed.map((part, index) => (index === 1 ? { PartNumber: part.PartNumber, ETag: part.ETag } : part));
    await expectS3Error(complete(key, uploadId, missing), 400, "InvalidRequest");
    const wrong = completed.map((part, index) => (index === 0 ? { ...part, ChecksumSHA256: createHash("sha256").update("x").digest("base64") } : part));
    await expectS3Error(complete(key, uploadId, wrong), 400, "InvalidPart");
    await expectS3Error(complete(key, uploadId, completed, { ChecksumType: "FULL_OBJECT" }), 400, "InvalidRequest");
    await expectS3Error(complete(key, uploadId, completed, { ChecksumCRC32: await b64("CRC32", Buffer.from("x")) }), 400, "InvalidRequest");
    await expectS3Error(complete(key, uploadId, completed, { ChecksumSHA256: `${createHash("sha256").update("x").digest("base64")}-3` }), 400, "BadDigest");
    const result = await complete(key, uploadId, completed, { ChecksumSHA256: await composite("SHA256", PARTS) });
    expect(result.ChecksumSHA256).toBe(await composite("SHA256", PARTS));
  });
});

describe("CreateMultipartUpload and UploadPart", () => {
  test("an algorithm and type S3 does not pair are 400 InvalidRequest", async () => {
    for (const [algorithm, type] of [["SHA256", "FULL_OBJECT"], ["SHA1", "FULL_OBJECT"], ["CRC64NVME", "COMPOSITE"], [undefined, "FULL_OBJECT"]] as const) {
      await expectS3Error(
        s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "refused", ChecksumAlgorithm: algorithm, ChecksumType: type })),
        400, "InvalidRequest",
      );
    }
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "refused" }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });

  test("a part of an upload made with an algorithm needs that checksum: none or another is 400 InvalidRequest, a wrong value 400 BadDigest", async () => {
    const key = "parts/required";
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: "CRC32" }));
    const part = { Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: 1, Body: PARTS[2] };
    const bare = server.client({ requestChecksumCalculation: "WHEN_REQUIRED" });
    try {
      await expectS3Error(bare.send(new UploadPartCommand(part)), 400, "InvalidRequest");
    } finally {
      bare.destroy();
    }
    await expectS3Error(s3.send(new UploadPartCommand({ ...part, ChecksumAlgorithm: "SHA1" })), 400, "InvalidRequest");
    await expectS3Error(s3.send(new UploadPartCommand({ ...part, ChecksumCRC32: await b64("CRC32", Buffer.from("x")) })), 400, "BadDigest");
    const listed = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId }));
    expect(listed.Parts ?? []).toEqual([]);
  });

  test("UploadPartCopy into an upload with an algorithm computes the part's checksum", async () => {
    const source = Buffer.concat([PARTS[0]!, PARTS[2]!]);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "copy/source", Body: source }));
    const key = "copy/target";
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ChecksumAlgorithm: "CRC32C", ChecksumType: "FULL_OBJECT" }));
    const copied = await s3.send(new UploadPartCopyCommand({ Bucket: bucket, Key: key, UploadId: created.UploadId, PartNumber: 1, CopySource: `${bucket}/copy/source` }));
    expect(copied.CopyPartResult?.ChecksumCRC32C).toBe(await b64("CRC32C", source));
    const result = await complete(key, created.UploadId!, [{ PartNumber: 1, ETag: copied.CopyPartResult?.ETag }]);
    expect(result.ChecksumCRC32C).toBe(await b64("CRC32C", source));
  });
});

describe("lib-storage Upload", () => {
  test.each([[undefined, "CRC32"], ["CRC32C", "CRC32C"], ["SHA256", "SHA256"]] as const)("ChecksumAlgorithm %s: a COMPOSITE %s object", async (asked, algorithm) => {
    const key = `lib-storage/${algorithm}`;
    const body = Buffer.concat(PARTS);
    await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: body, ChecksumAlgorithm: asked }, partSize: 5 * MiB, queueSize: 2 }).done();
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    const parts = [body.subarray(0, 5 * MiB), body.subarray(5 * MiB, 10 * MiB), body.subarray(10 * MiB)];
    expect([head[field(algorithm)], head.ChecksumType]).toEqual([await composite(algorithm, parts), "COMPOSITE"]);
  });
});

describe("GetObjectAttributes", () => {
  const all = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"] as const;

  test("of a single-part object: the ETag without quotes, its checksum, no parts", async () => {
    const body = PARTS[2]!;
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "attributes/single", Body: body, ChecksumAlgorithm: "CRC32C" }));
    const got = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "attributes/single", ObjectAttributes: [...all] }));
    expect(got.ETag).toBe(put.ETag!.replace(/"/g, ""));
    expect(got.Checksum).toEqual({ ChecksumCRC32C: await b64("CRC32C", body), ChecksumType: "FULL_OBJECT" });
    expect(got.ObjectParts).toBeUndefined();
    expect([got.StorageClass, got.ObjectSize]).toEqual(["STANDARD", body.length]);
    expect(got.LastModified).toBeInstanceOf(Date);
    const some = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "attributes/single", ObjectAttributes: ["ObjectSize"] }));
    expect([some.ObjectSize, some.ETag, some.Checksum, some.StorageClass]).toEqual([body.length, undefined, undefined, undefined]);
  });

  test("of a multipart object: PartsCount, the parts paged by max-parts and part-number-marker, the COMPOSITE checksum without -N", async () => {
    const key = "attributes/multipart";
    const { uploadId, completed } = await uploadWith(key, "SHA1", undefined);
    const done = await complete(key, uploadId, completed);
    const first = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: key, ObjectAttributes: [...all], MaxParts: 2 }));
    expect(first.ETag).toBe(done.ETag!.replace(/"/g, ""));
    expect(first.Checksum).toEqual({ ChecksumSHA1: (await composite("SHA1", PARTS)).replace(/-3$/, ""), ChecksumType: "COMPOSITE" });
    expect(first.ObjectSize).toBe(PARTS.reduce((sum, part) => sum + part.length, 0));
    expect(first.ObjectParts).toMatchObject({ TotalPartsCount: 3, MaxParts: 2, IsTruncated: true, NextPartNumberMarker: "2" });
    expect(first.ObjectParts?.Parts?.map((part) => [part.PartNumber, part.Size])).toEqual([[1, PARTS[0]!.length], [2, PARTS[1]!.length]]);
    const rest = await s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: key, ObjectAttributes: ["ObjectParts"], MaxParts: 2, PartNumberMarker: "2" }));
    expect(rest.ObjectParts).toMatchObject({ TotalPartsCount: 3, IsTruncated: false });
    expect(rest.ObjectParts?.Parts?.map((part) => [part.PartNumber, part.Size])).toEqual([[3, PARTS[2]!.length]]);
  });

  test("an unknown attribute is 400 InvalidArgument; a missing key 404 NoSuchKey", async () => {
    await expectS3Error(s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "attributes/single", ObjectAttributes: ["Bogus" as "ETag"] })), 400, "InvalidArgument");
    await expectS3Error(s3.send(new GetObjectAttributesCommand({ Bucket: bucket, Key: "attributes/none", ObjectAttributes: ["ETag"] })), 404, "NoSuchKey");
  });
});

describe.skipIf(PYTHON === undefined)("boto3", () => {
  test("a FULL_OBJECT CRC32 upload: Complete states the whole object's CRC, HeadObject and GetObjectAttributes report it", async () => {
    const key = "boto3/full";
    const printed = boto3(server.endpoint, `
import base64, zlib
parts = [b"a" * (5 * 1024 * 1024), b"tail of the object"]
crc = lambda data: base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
up = s3.create_multipart_upload(Bucket=${JSON.stringify(bucket)}, Key=${JSON.stringify(key)}, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
done = []
for number, part in enumerate(parts, 1):
    r = s3.upload_part(Bucket=${JSON.stringify(bucket)}, Key=${JSON.stringify(key)}, UploadId=up["UploadId"], PartNumber=number, Body=part, ChecksumAlgorithm="CRC32")
    done.append({"PartNumber": number, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
wrong = None
try:
    s3.complete_multipart_upload(Bucket=${JSON.stringify(bucket)}, Key=${JSON.stringify(key)}, UploadId=up["UploadId"], MultipartUpload={"Parts": done}, ChecksumCRC32=crc(b"x"), ChecksumType="FULL_OBJECT")
except Exception as error:
    wrong = error.response["Error"]["Code"]
r = s3.complete_multipart_upload(Bucket=${JSON.stringify(bucket)}, Key=${JSON.stringify(key)}, UploadId=up["UploadId"], MultipartUpload={"Parts": done}, ChecksumCRC32=crc(b"".join(parts)), ChecksumType="FULL_OBJECT")
head = s3.head_object(Bucket=${JSON.stringify(bucket)}, Key=${JSON.stringify(key)}, ChecksumMode="ENABLED")
attrs = s3.get_object_attributes(Bucket=${JSON.stringify(bucket)}, Key=${JSON.stringify(key)}, ObjectAttributes=["ETag", "Checksum", "ObjectParts", "ObjectSize"])
print(json.dumps({"wrong": wrong, "complete": [r.get("ChecksumCRC32"), r.get("ChecksumType")], "head": [head.get("ChecksumCRC32"), head.get("ChecksumType")], "expected": crc(b"".join(parts)),
    "attributes": [attrs["ETag"], attrs["Checksum"], attrs["ObjectParts"]["TotalPartsCount"], attrs["ObjectSize"]], "etag": r["ETag"]}))
`) as { wrong: string; complete: string[]; head: string[]; expected: string; attributes: unknown[]; etag: string };
    expect(printed.wrong).toBe("BadDigest");
    expect(printed.complete).toEqual([printed.expected, "FULL_OBJECT"]);
    expect(printed.head).toEqual([printed.expected, "FULL_OBJECT"]);
    expect(printed.attributes).toEqual([printed.etag.replace(/"/g, ""), { ChecksumCRC32: printed.expected, ChecksumType: "FULL_OBJECT" }, 2, 5 * MiB + 18]);
  });
});
