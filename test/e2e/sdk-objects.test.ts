// Object operations through @aws-sdk/client-s3 (default settings) against a real s3-overlay process.
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  PutObjectTaggingCommand,
  DeleteObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type ChecksumAlgorithm,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { RunningServer } from "./harness.js";
import {
  bodyBytes,
  captureRequests,
  expectErrorXml,
  expectS3Error,
  lastHeader,
  md5Base64,
  quotedMd5,
  seededStream,
  signedFetch,
  streamMd5,
  startWithBucket,
  stopWithClient,
  uniqueBucket,
} from "./sdk-helpers.js";

let server: RunningServer;
let s3: S3Client;
let bucket: string;

beforeAll(async () => {
  ({ server, s3, bucket } = await startWithBucket("objects"));
});

afterAll(() => stopWithClient(server, s3));

async function put(key: string, body: Buffer | string, extra: Record<string, unknown> = {}) {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...extra }));
}

async function getBytes(key: string, extra: Record<string, unknown> = {}) {
  const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return { response, bytes: await bodyBytes(response.Body) };
}

describe("PutObject / GetObject / HeadObject", () => {
  test("round trip: ETag is the quoted MD5, GET and HEAD agree on size, ETag and Last-Modified", async () => {
    const data = randomBytes(100_000);
    const before = Math.floor(Date.now() / 1000) * 1000;
    const stored = await put("round/trip.bin", data);
    expect(stored.ETag).toBe(quotedMd5(data));
    expect(stored.$metadata.requestId).toBeTruthy();

    const { response, bytes } = await getBytes("round/trip.bin");
    expect(bytes.equals(data)).toBe(true);
    expect(response.$metadata.httpStatusCode).toBe(200);
    expect(response.ContentLength).toBe(data.length);
    expect(response.ETag).toBe(stored.ETag);
    expect(response.AcceptRanges).toBe("bytes");
    expect(response.LastModified!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(response.LastModified!.getTime()).toBeLessThanOrEqual(Date.now() + 1000);

    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "round/trip.bin" }));
    expect(head.ContentLength).toBe(data.length);
    expect(head.ETag).toBe(stored.ETag);
    expect(head.LastModified?.getTime()).toBe(response.LastModified?.getTime());
  });

  test("an empty object", async () => {
    const stored = await put("empty", Buffer.alloc(0));
    expect(stored.ETag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
    const { response, bytes } = await getBytes("empty");
    expect(bytes.length).toBe(0);
    expect(response.ContentLength).toBe(0);
  });

  test("an overwrite replaces content and metadata", async () => {
    await put("overwrite", "first version", { Metadata: { generation: "1" } });
    await put("overwrite", "second", { Metadata: { other: "2" } });
    const { response, bytes } = await getBytes("overwrite");
    expect(bytes.toString()).toBe("second");
    expect(response.Metadata).toEqual({ other: "2" });
  });

  test("a streamed body (sent as aws-chunked with a CRC32 trailer) is stored intact", async () => {
    const size = 48 * 1024 * 1024 + 12345;
    const sent = createHash("md5");
    const body = seededStream("objects-stream", size, (chunk) => sent.update(chunk));
    const client = server.client();
    const requests = captureRequests(client);
    // the SDK needs the length of a stream body for x-amz-decoded-content-length
    const stored = await client.send(new PutObjectCommand({ Bucket: bucket, Key: "streamed.bin", Body: body, ContentLength: size }));
    client.destroy();
    const expectedMd5 = sent.digest("hex");
    // the default client really did send aws-chunked with a trailer (what this test is about)
    expect(lastHeader(requests, "x-amz-content-sha256")).toMatch(/^STREAMING-/);
    expect(lastHeader(requests, "x-amz-trailer")).toBe("x-amz-checksum-crc32");
    expect(stored.ETag).toBe(`"${expectedMd5}"`);

    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "streamed.bin" }));
    expect(response.ContentLength).toBe(size);
    expect(await streamMd5(response.Body)).toEqual({ md5: expectedMd5, size });
  });

  test("GetObject of a missing key answers 404 NoSuchKey naming the key; HeadObject 404", async () => {
    const error = await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "no/such key" })), 404, "NoSuchKey");
    expect(error.error.Key).toBe("no/such key");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "no/such key" })), 404, "NotFound");
  });
});

describe("metadata and content headers", () => {
  const expires = new Date("2030-01-02T03:04:05Z");

  beforeAll(async () => {
    await put("meta.txt", "hello metadata", {
      ContentType: "text/plain; charset=utf-8",
      ContentEncoding: "identity",
      ContentDisposition: 'attachment; filename="meta.txt"',
      ContentLanguage: "en-GB",
      CacheControl: "max-age=60",
      Expires: expires,
      Metadata: { Color: "Blue", "multi-word": "a value with spaces" },
    });
  });

  test("GetObject and HeadObject return the content headers and user metadata (names lower-cased)", async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "meta.txt" }));
    const { response } = await getBytes("meta.txt");
    for (const result of [head, response]) {
      expect(result.ContentType).toBe("text/plain; charset=utf-8");
      expect(result.ContentEncoding).toBe("identity");
      expect(result.ContentDisposition).toBe('attachment; filename="meta.txt"');
      expect(result.ContentLanguage).toBe("en-GB");
      expect(result.CacheControl).toBe("max-age=60");
      expect(result.Expires?.getTime()).toBe(expires.getTime());
      expect(result.Metadata).toEqual({ color: "Blue", "multi-word": "a value with spaces" });
    }
  });

  test("response-* query parameters override the stored headers on GET", async () => {
    const { response } = await getBytes("meta.txt", {
      ResponseContentType: "application/x-override",
      ResponseContentDisposition: "inline",
      ResponseContentLanguage: "fr",
      ResponseCacheControl: "no-store",
      ResponseContentEncoding: "gzip-not-really",
      ResponseExpires: new Date("2031-05-06T07:08:09Z"),
    });
    expect(response.ContentType).toBe("application/x-override");
    expect(response.ContentDisposition).toBe("inline");
    expect(response.ContentLanguage).toBe("fr");
    expect(response.CacheControl).toBe("no-store");
    expect(response.ContentEncoding).toBe("gzip-not-really");
    expect(response.Expires?.toISOString()).toBe("2031-05-06T07:08:09.000Z");
    // the stored object is unchanged
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "meta.txt" }));
    expect(head.ContentType).toBe("text/plain; charset=utf-8");
  });
});

describe("ranges", () => {
  const data = randomBytes(1000);

  beforeAll(async () => {
    await put("ranged.bin", data);
  });

  test.each([
    ["bytes=0-9", 0, 9],
    ["bytes=990-", 990, 999],
    ["bytes=-25", 975, 999],
    ["bytes=500-500", 500, 500],
    ["bytes=900-5000", 900, 999],
    ["bytes=-5000", 0, 999],
  ])("%s -> 206 with the right slice and Content-Range", async (range, first, last) => {
    const { response, bytes } = await getBytes("ranged.bin", { Range: range });
    expect(response.$metadata.httpStatusCode).toBe(206);
    expect(response.ContentRange).toBe(`bytes ${first}-${last}/1000`);
    expect(response.ContentLength).toBe(last - first + 1);
    expect(bytes.equals(data.subarray(first, last + 1))).toBe(true);
  });

  test("a range starting at or beyond the end answers 416 InvalidRange", async () => {
    const error = await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ranged.bin", Range: "bytes=1000-" })), 416, "InvalidRange");
    expect(error.headers["content-range"]).toBe("bytes */1000");
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "ranged.bin", Range: "bytes=5000-6000" })), 416, "InvalidRange");
  });

  test("HeadObject with a Range reports the partial length", async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "ranged.bin", Range: "bytes=100-199" }));
    expect(head.$metadata.httpStatusCode).toBe(206);
    expect(head.ContentLength).toBe(100);
    expect(head.ContentRange).toBe("bytes 100-199/1000");
  });
});

describe("checksums", () => {
  const data = randomBytes(70_000);
  const algorithms: ChecksumAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];
  const field = (algorithm: ChecksumAlgorithm) => `Checksum${algorithm}` as const;
  /** what the SDK sent for each algorithm (the oracle for CRC32C and CRC64NVME) */
  const sent: Partial<Record<ChecksumAlgorithm, string>> = {};

  function independentChecksum(algorithm: ChecksumAlgorithm): string | undefined {
    switch (algorithm) {
      case "CRC32": {
        const digest = Buffer.alloc(4);
        digest.writeUInt32BE(zlib.crc32(data));
        return digest.toString("base64");
      }
      case "SHA1":
        return createHash("sha1").update(data).digest("base64");
      case "SHA256":
        return createHash("sha256").update(data).digest("base64");
      default:
        return undefined;
    }
  }

  test.each(algorithms)("%s: stored on PUT, returned by GET and HEAD with ChecksumMode ENABLED", async (algorithm) => {
    const key = `checksum/${algorithm}`;
    const client = server.client();
    const requests = captureRequests(client);
    const stored = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data, ChecksumAlgorithm: algorithm }));
    const header = lastHeader(requests, `x-amz-checksum-${algorithm.toLowerCase()}`);
    expect(header, "the SDK sent the checksum in a header").toBeTruthy();
    const expected = independentChecksum(algorithm) ?? header!;
    expect(header).toBe(expected);
    sent[algorithm] = expected;
    expect(stored[field(algorithm)]).toBe(expected);

    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect(got[field(algorithm)]).toBe(expected);
    expect((await bodyBytes(got.Body)).equals(data)).toBe(true);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect(head[field(algorithm)]).toBe(expected);
    client.destroy();
  });

  test.each(algorithms)("%s: a streamed body with the checksum in the trailer is verified and stored", async (algorithm) => {
    const key = `checksum-trailer/${algorithm}`;
    const stored = await s3.send(
      new PutObjectCommand({
        Bucket: bucket, Key: key, ContentLength: data.length, ChecksumAlgorithm: algorithm,
        Body: Readable.from([data.subarray(0, 30_000), data.subarray(30_000)]),
      }),
    );
    const expected = independentChecksum(algorithm) ?? sent[algorithm];
    expect(expected, "the header test for this algorithm ran first").toBeTruthy();
    expect(stored[field(algorithm)]).toBe(expected);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: "ENABLED" }));
    expect(head[field(algorithm)]).toBe(expected);
    expect(head.ContentLength).toBe(data.length);
  });

  test("a default PutObject stores the CRC32 the SDK sends", async () => {
    await put("checksum/default", data);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "checksum/default", ChecksumMode: "ENABLED" }));
    expect(head.ChecksumCRC32).toBe(independentChecksum("CRC32"));
  });

  test("a checksum that does not match the body answers 400 BadDigest and stores nothing", async () => {
    const wrong = createHash("sha256").update("something else").digest("base64");
    await expectS3Error(put("checksum/wrong", data, { ChecksumSHA256: wrong }), 400, "BadDigest");
    const wrongCrc = Buffer.from([1, 2, 3, 4]).toString("base64");
    await expectS3Error(put("checksum/wrong", data, { ChecksumCRC32: wrongCrc }), 400, "BadDigest");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "checksum/wrong" })), 404);
  });
});

describe("Content-MD5", () => {
  test("a matching Content-MD5 is accepted", async () => {
    const data = Buffer.from("md5 checked body");
    const stored = await put("md5/ok", data, { ContentMD5: md5Base64(data) });
    expect(stored.ETag).toBe(quotedMd5(data));
  });

  test("a mismatching Content-MD5 answers 400 BadDigest and does not replace the object", async () => {
    await put("md5/keep", "original");
    await expectS3Error(put("md5/keep", "replacement", { ContentMD5: md5Base64("something else") }), 400, "BadDigest");
    expect((await getBytes("md5/keep")).bytes.toString()).toBe("original");
  });

  test("a Content-MD5 that is not a base64 MD5 answers 400 InvalidDigest", async () => {
    await expectS3Error(put("md5/invalid", "body", { ContentMD5: "not-an-md5" }), 400, "InvalidDigest");
  });
});

describe("conditional GET and HEAD", () => {
  let etag: string;
  let lastModified: Date;

  beforeAll(async () => {
    etag = (await put("conditional.txt", "conditional body")).ETag!;
    lastModified = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "conditional.txt" }))).LastModified!;
  });

  const hourBefore = () => new Date(lastModified.getTime() - 3600_000);

  test("If-Match with the ETag -> 200; with another ETag -> 412 PreconditionFailed", async () => {
    const { bytes } = await getBytes("conditional.txt", { IfMatch: etag });
    expect(bytes.toString()).toBe("conditional body");
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfMatch: '"0123456789abcdef0123456789abcdef"' })), 412, "PreconditionFailed");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfMatch: '"0123456789abcdef0123456789abcdef"' })), 412);
  });

  test("If-None-Match with the ETag -> 304 carrying the ETag; with another ETag -> 200", async () => {
    const notModified = await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfNoneMatch: etag })), 304);
    expect(notModified.headers.etag).toBe(etag);
    const headNotModified = await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfNoneMatch: etag })), 304);
    expect(headNotModified.headers.etag).toBe(etag);
    const { bytes } = await getBytes("conditional.txt", { IfNoneMatch: '"0123456789abcdef0123456789abcdef"' });
    expect(bytes.toString()).toBe("conditional body");
  });

  test("If-Modified-Since: not modified since its Last-Modified -> 304; modified since an hour earlier -> 200", async () => {
    const notModified = await expectS3Error(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfModifiedSince: lastModified })),
      304,
    );
    expect(notModified.headers.etag).toBe(etag);
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfModifiedSince: lastModified })), 304);
    const { response } = await getBytes("conditional.txt", { IfModifiedSince: hourBefore() });
    expect(response.$metadata.httpStatusCode).toBe(200);
  });

  test("If-Unmodified-Since: an hour before Last-Modified -> 412; at Last-Modified -> 200", async () => {
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfUnmodifiedSince: hourBefore() })), 412, "PreconditionFailed");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfUnmodifiedSince: hourBefore() })), 412);
    const { response } = await getBytes("conditional.txt", { IfUnmodifiedSince: lastModified });
    expect(response.$metadata.httpStatusCode).toBe(200);
  });

  test("AWS precedence: If-Match true wins over If-Unmodified-Since false; If-None-Match false wins over If-Modified-Since true", async () => {
    const { response } = await getBytes("conditional.txt", { IfMatch: etag, IfUnmodifiedSince: hourBefore() });
    expect(response.$metadata.httpStatusCode).toBe(200);
    await expectS3Error(
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: "conditional.txt", IfNoneMatch: etag, IfModifiedSince: hourBefore() })),
      304,
    );
  });
});

describe("conditional PUT", () => {
  test("If-None-Match: * creates a new key and refuses an existing one with 412", async () => {
    const created = await put("cond-put/new", "first", { IfNoneMatch: "*" });
    expect(created.ETag).toBe(quotedMd5("first"));
    await expectS3Error(put("cond-put/new", "second", { IfNoneMatch: "*" }), 412, "PreconditionFailed");
    expect((await getBytes("cond-put/new")).bytes.toString()).toBe("first");
  });

  test("If-Match replaces only when the ETag matches", async () => {
    const first = await put("cond-put/match", "v1");
    await expectS3Error(put("cond-put/match", "v2", { IfMatch: '"0123456789abcdef0123456789abcdef"' }), 412, "PreconditionFailed");
    expect((await getBytes("cond-put/match")).bytes.toString()).toBe("v1");
    const second = await put("cond-put/match", "v3", { IfMatch: first.ETag });
    expect(second.ETag).toBe(quotedMd5("v3"));
    expect((await getBytes("cond-put/match")).bytes.toString()).toBe("v3");
  });

  test("If-Match on a key that does not exist fails (AWS: 404 NoSuchKey; 412 is also seen) and creates nothing", async () => {
    const error = await expectS3Error(put("cond-put/absent", "v1", { IfMatch: '"0123456789abcdef0123456789abcdef"' }), [404, 412]);
    expect(["NoSuchKey", "PreconditionFailed"]).toContain(error.name);
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "cond-put/absent" })), 404);
  });
});

describe("CopyObject", () => {
  let source: { etag: string; lastModified: Date };
  const sourceData = randomBytes(20_000);

  beforeAll(async () => {
    const stored = await put("copy/source", sourceData, { ContentType: "image/png", Metadata: { origin: "source" }, CacheControl: "max-age=1" });
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "copy/source" }));
    source = { etag: stored.ETag!, lastModified: head.LastModified! };
  });

  test("default directive COPY keeps content, metadata and content type", async () => {
    const copied = await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy/dest-copy", CopySource: `${bucket}/copy/source` }));
    expect(copied.CopyObjectResult?.ETag).toBe(source.etag);
    expect(copied.CopyObjectResult?.LastModified).toBeInstanceOf(Date);
    const { response, bytes } = await getBytes("copy/dest-copy");
    expect(bytes.equals(sourceData)).toBe(true);
    expect(response.ContentType).toBe("image/png");
    expect(response.CacheControl).toBe("max-age=1");
    expect(response.Metadata).toEqual({ origin: "source" });
  });

  test("directive COPY ignores metadata given with the request", async () => {
    await s3.send(
      new CopyObjectCommand({ Bucket: bucket, Key: "copy/dest-copy2", CopySource: `${bucket}/copy/source`, MetadataDirective: "COPY", Metadata: { ignored: "yes" } }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "copy/dest-copy2" }));
    expect(head.Metadata).toEqual({ origin: "source" });
  });

  test("directive REPLACE takes metadata and content type from the request", async () => {
    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket, Key: "copy/dest-replace", CopySource: `${bucket}/copy/source`,
        MetadataDirective: "REPLACE", ContentType: "text/csv", Metadata: { fresh: "new" },
      }),
    );
    const { response, bytes } = await getBytes("copy/dest-replace");
    expect(bytes.equals(sourceData)).toBe(true);
    expect(response.ContentType).toBe("text/csv");
    expect(response.Metadata).toEqual({ fresh: "new" });
    expect(response.CacheControl).toBeUndefined();
  });

  test("copy to another bucket, with a key that needs URL encoding", async () => {
    const other = uniqueBucket("copy-target");
    await s3.send(new CreateBucketCommand({ Bucket: other }));
    const key = "spaced key/ünïcode+plus%percent";
    await put(key, "encoded source");
    await s3.send(new CopyObjectCommand({ Bucket: other, Key: key, CopySource: `${bucket}/${encodeURIComponent(key)}` }));
    const response = await s3.send(new GetObjectCommand({ Bucket: other, Key: key }));
    expect((await bodyBytes(response.Body)).toString()).toBe("encoded source");
  });

  test("copy onto itself without REPLACE answers 400 InvalidRequest; with REPLACE it updates metadata", async () => {
    await expectS3Error(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy/source", CopySource: `${bucket}/copy/source` })), 400, "InvalidRequest");
    await put("copy/self", "self data", { Metadata: { v: "1" } });
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy/self", CopySource: `${bucket}/copy/self`, MetadataDirective: "REPLACE", Metadata: { v: "2" } }));
    const { response, bytes } = await getBytes("copy/self");
    expect(bytes.toString()).toBe("self data");
    expect(response.Metadata).toEqual({ v: "2" });
  });

  test("x-amz-copy-source-if-* conditions that fail answer 412 and copy nothing", async () => {
    const base = { Bucket: bucket, Key: "copy/conditional", CopySource: `${bucket}/copy/source` };
    const hourBefore = new Date(source.lastModified.getTime() - 3600_000);
    await expectS3Error(s3.send(new CopyObjectCommand({ ...base, CopySourceIfMatch: '"0123456789abcdef0123456789abcdef"' })), 412, "PreconditionFailed");
    await expectS3Error(s3.send(new CopyObjectCommand({ ...base, CopySourceIfNoneMatch: source.etag })), 412, "PreconditionFailed");
    await expectS3Error(s3.send(new CopyObjectCommand({ ...base, CopySourceIfUnmodifiedSince: hourBefore })), 412, "PreconditionFailed");
    await expectS3Error(s3.send(new CopyObjectCommand({ ...base, CopySourceIfModifiedSince: source.lastModified })), 412, "PreconditionFailed");
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "copy/conditional" })), 404);

    const copied = await s3.send(new CopyObjectCommand({ ...base, CopySourceIfMatch: source.etag, CopySourceIfModifiedSince: hourBefore }));
    expect(copied.CopyObjectResult?.ETag).toBe(source.etag);
  });

  test("a missing source key answers 404 NoSuchKey", async () => {
    await expectS3Error(s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "copy/x", CopySource: `${bucket}/copy/does-not-exist` })), 404, "NoSuchKey");
  });
});

describe("DeleteObject / DeleteObjects", () => {
  test("DeleteObject answers 204 for an existing and for a missing key", async () => {
    await put("delete/one", "x");
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "delete/one" }));
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "delete/one" })), 404);
    const again = await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "delete/one" }));
    expect(again.$metadata.httpStatusCode).toBe(204);
  });

  test("verbose DeleteObjects reports every key, including keys that did not exist", async () => {
    const keys = ["delete/many/a", "delete/many/b & c", "delete/many/ü"];
    for (const key of keys) await put(key, key);
    const result = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [...keys, "delete/many/never-existed"].map((Key) => ({ Key })) } }),
    );
    expect(result.Errors ?? []).toEqual([]);
    expect(result.Deleted?.map((d) => d.Key).sort()).toEqual([...keys, "delete/many/never-existed"].sort());
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "delete/many/" }));
    expect(listed.KeyCount).toBe(0);
  });

  test("quiet DeleteObjects deletes and reports nothing", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `delete/quiet/${i}`);
    for (const key of keys) await put(key, key);
    const result = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: keys.map((Key) => ({ Key })) } }));
    expect(result.Deleted ?? []).toEqual([]);
    expect(result.Errors ?? []).toEqual([]);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "delete/quiet/" }));
    expect(listed.KeyCount).toBe(0);
  });

  test("1000 keys are accepted; 1001 keys answer 400 MalformedXML and delete nothing", async () => {
    await put("delete/limit/kept", "kept");
    const thousand = Array.from({ length: 1000 }, (_, i) => ({ Key: `delete/limit/${i}` }));
    const ok = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: thousand } }));
    expect(ok.Errors ?? []).toEqual([]);
    const tooMany = [...thousand, { Key: "delete/limit/kept" }];
    await expectS3Error(s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: tooMany } })), 400, "MalformedXML");
    expect((await getBytes("delete/limit/kept")).bytes.toString()).toBe("kept");
  });
});

describe("keys of any valid form", () => {
  const keys = [
    "../x",
    "../../escape/attempt",
    "a/",
    "a//b",
    "./dot",
    "trailing.",
    "spaces in key",
    "plus+sign",
    "percent%20literal",
    "question?mark#hash",
    "amp&lt;<tag>",
    "ünïcødé/日本語/😀",
    "k".repeat(1024),
    "é".repeat(512), // 1024 bytes of UTF-8
  ];

  test("each key round-trips through PUT, GET, HEAD, LIST and DELETE", async () => {
    const sub = uniqueBucket("keys");
    await s3.send(new CreateBucketCommand({ Bucket: sub }));
    for (const key of keys) {
      await s3.send(new PutObjectCommand({ Bucket: sub, Key: key, Body: `body of ${key}` }));
      const response = await s3.send(new GetObjectCommand({ Bucket: sub, Key: key }));
      expect((await bodyBytes(response.Body)).toString(), key).toBe(`body of ${key}`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: sub, Key: key }));
      expect(head.ContentLength).toBe(Buffer.byteLength(`body of ${key}`));
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: sub }));
    expect(listed.Contents?.map((c) => c.Key).sort()).toEqual([...keys].sort());
    for (const key of keys) await s3.send(new DeleteObjectCommand({ Bucket: sub, Key: key }));
    expect((await s3.send(new ListObjectsV2Command({ Bucket: sub }))).KeyCount).toBe(0);
  });

  test("a prefix of a stored key is not an object, and deleting it leaves the stored key alone", async () => {
    await put("implicit/dir/file", "child");
    for (const key of ["implicit", "implicit/", "implicit/dir", "implicit/dir/"]) {
      await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), 404);
      await expectS3Error(s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })), 404, "NoSuchKey");
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    }
    expect((await getBytes("implicit/dir/file")).bytes.toString()).toBe("child");
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "implicit/dir/file" }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "implicit" }));
    expect(listed.KeyCount).toBe(0);
  });

  test("concurrent PUTs to one key leave exactly one complete version", async () => {
    const versions = Array.from({ length: 8 }, () => randomBytes(2 * 1024 * 1024));
    const results = await Promise.all(versions.map((body) => put("contended", body)));
    results.forEach((result, i) => expect(result.ETag).toBe(quotedMd5(versions[i])));
    const { response, bytes } = await getBytes("contended");
    const winner = versions.findIndex((body) => body.equals(bytes));
    expect(winner, "the stored body is one of the uploaded bodies, not a mix").toBeGreaterThanOrEqual(0);
    expect(response.ETag).toBe(quotedMd5(versions[winner]));
  });

  test("a key longer than 1024 bytes answers 400 KeyTooLongError", async () => {
    await expectS3Error(put("k".repeat(1025), "x"), 400, "KeyTooLongError");
    await expectS3Error(put("é".repeat(513), "x"), 400, "KeyTooLongError");
  });
});

describe("other responses", () => {
  test("object subresources that are not implemented answer 501 NotImplemented", async () => {
    await put("tagged", "x");
    await expectS3Error(s3.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: "tagged", Tagging: { TagSet: [{ Key: "a", Value: "b" }] } })), 501, "NotImplemented");
    await expectS3Error(s3.send(new DeleteObjectTaggingCommand({ Bucket: bucket, Key: "tagged" })), 501, "NotImplemented");
  });

  test("error responses are S3 error XML with Code, Message, Resource and RequestId", async () => {
    const response = await signedFetch(server.endpoint, "GET", `/${bucket}/no-such-object`);
    expectErrorXml(response, 404, "NoSuchKey");
    expect(response.body).toContain("<Key>no-such-object</Key>");
  });

  test("successful responses carry x-amz-request-id", async () => {
    const stored = await put("request-id", "x");
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "request-id" }));
    await bodyBytes(got.Body);
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "request-id" }));
    const ids = [stored, got, head].map((r) => r.$metadata.requestId);
    for (const id of ids) expect(id).toBeTruthy();
    expect(new Set(ids).size).toBe(3);
  });
});
