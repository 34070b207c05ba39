// Presigned URLs from @aws-sdk/s3-request-presigner, used with plain fetch against a real s3-overlay process.
import { randomBytes } from "node:crypto";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { startServer, type RunningServer } from "./harness.js";
import { bodyBytes, expectErrorXml, expectS3Error, uniqueBucket, xmlElement, type RawResponse } from "./sdk-helpers.js";

let server: RunningServer;
let s3: S3Client;
let bucket: string;
const data = randomBytes(4096);

beforeAll(async () => {
  server = await startServer();
  s3 = server.client();
  bucket = uniqueBucket("presign");
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "object.bin", Body: data, ContentType: "application/x-stored" }));
});

afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

async function fetchRaw(url: string, init: RequestInit = {}): Promise<RawResponse & { bytes: Buffer }> {
  const response = await fetch(url, init);
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body: bytes.toString(), bytes };
}

/** The URL with one query parameter replaced (the signature is left as it was). */
function withQuery(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}

describe("presigned GET", () => {
  test("downloads the object with its headers and a request id", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    expect(url).toContain("X-Amz-Signature=");
    const response = await fetchRaw(url);
    expect(response.status).toBe(200);
    expect(response.bytes.equals(data)).toBe(true);
    expect(response.headers.get("content-type")).toBe("application/x-stored");
    expect(response.headers.get("etag")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(response.headers.get("x-amz-request-id")).toBeTruthy();
  });

  test("a Range header on a presigned GET answers 206 with the slice", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    const response = await fetchRaw(url, { headers: { range: "bytes=100-199" } });
    expect(response.status).toBe(206);
    expect(response.headers.get("content-range")).toBe(`bytes 100-199/${data.length}`);
    expect(response.bytes.equals(data.subarray(100, 200))).toBe(true);
  });

  test("signed response-* overrides apply", async () => {
    const url = await getSignedUrl(
      s3,
      new GetObjectCommand({ Bucket: bucket, Key: "object.bin", ResponseContentDisposition: 'attachment; filename="x.bin"', ResponseContentType: "text/x-override" }),
      { expiresIn: 300 },
    );
    const response = await fetchRaw(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toBe('attachment; filename="x.bin"');
    expect(response.headers.get("content-type")).toBe("text/x-override");
  });

  test("a presigned GET of a missing key answers 404 NoSuchKey XML", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "missing" }), { expiresIn: 300 });
    expectErrorXml(await fetchRaw(url), 404, "NoSuchKey");
  });

  test("X-Amz-Expires of exactly 7 days is accepted", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 604800 });
    expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("604800");
    expect((await fetchRaw(url)).status).toBe(200);
  });
});

describe("presigned PUT and DELETE", () => {
  test("a presigned PUT carrying the body's CRC32 (what the default client signs) uploads", async () => {
    const body = randomBytes(10_000);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "uploaded/with-crc", ChecksumCRC32: crc.toString("base64") }), {
      expiresIn: 300,
    });
    const response = await fetchRaw(url, { method: "PUT", body });
    expect(response.status, response.body).toBe(200);
    expect(response.headers.get("x-amz-request-id")).toBeTruthy();
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "uploaded/with-crc" }));
    expect((await bodyBytes(got.Body)).equals(body)).toBe(true);
  });

  test("a presigned PUT from a client that only sends required checksums uploads a key with special characters", async () => {
    const client = server.client({ requestChecksumCalculation: "WHEN_REQUIRED" });
    const key = "uploaded/a b+c/ünï.txt";
    const url = await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: "text/plain" }), { expiresIn: 300 });
    client.destroy();
    const response = await fetchRaw(url, { method: "PUT", body: "presigned body", headers: { "content-type": "text/plain" } });
    expect(response.status, response.body).toBe(200);
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect((await bodyBytes(got.Body)).toString()).toBe("presigned body");
    expect(got.ContentType).toBe("text/plain");
  });

  test("a presigned DELETE deletes", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "to-delete", Body: "x" }));
    const url = await getSignedUrl(s3, new DeleteObjectCommand({ Bucket: bucket, Key: "to-delete" }), { expiresIn: 300 });
    expect((await fetchRaw(url, { method: "DELETE" })).status).toBe(204);
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "to-delete" })), 404);
  });
});

describe("refused presigned URLs", () => {
  test("an expired URL answers 403 AccessDenied", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const response = await fetchRaw(url);
    expectErrorXml(response, 403, "AccessDenied");
    expect(xmlElement(response.body, "Message")).toMatch(/expired/i);
  });

  test("X-Amz-Expires above 7 days or negative answers 403 AuthorizationQueryParametersError, as S3 does (checked before the signature)", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    expectErrorXml(await fetchRaw(withQuery(url, "X-Amz-Expires", "604801")), 403, "AuthorizationQueryParametersError");
    const negative = await fetchRaw(withQuery(url, "X-Amz-Expires", "-1"));
    expectErrorXml(negative, 403, "AuthorizationQueryParametersError");
    expect(xmlElement(negative.body, "Message")).toBe("X-Amz-Expires must be non-negative");
  });

  test("X-Amz-Expires of 0 is a URL that has expired: 403 AccessDenied", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    const response = await fetchRaw(withQuery(url, "X-Amz-Expires", "0"));
    expectErrorXml(response, 403, "AccessDenied");
    expect(xmlElement(response.body, "Message")).toMatch(/expired/i);
  });

  test("OPTIONS (a CORS preflight) needs no credentials: 400 without Origin, 403 with one (buckets here have no CORS rules)", async () => {
    const withoutOrigin = await fetchRaw(`${server.endpoint}/${bucket}/object.bin`, { method: "OPTIONS" });
    expectErrorXml(withoutOrigin, 400, "BadRequest");
    expect(xmlElement(withoutOrigin.body, "Message")).toMatch(/Origin request header needed/);
    const preflight = await fetchRaw(`${server.endpoint}/${bucket}/object.bin`, {
      method: "OPTIONS",
      headers: { origin: "http://example.com", "access-control-request-method": "GET" },
    });
    expectErrorXml(preflight, 403, "AccessForbidden");
  });

  test("a tampered signature answers 403 SignatureDoesNotMatch", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    const signature = new URL(url).searchParams.get("X-Amz-Signature")!;
    const flipped = (signature[0] === "0" ? "1" : "0") + signature.slice(1);
    expectErrorXml(await fetchRaw(withQuery(url, "X-Amz-Signature", flipped)), 403, "SignatureDoesNotMatch");
  });

  test("a URL used for another key or another method answers 403 SignatureDoesNotMatch", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    const otherKey = url.replace("/object.bin?", "/other.bin?");
    expectErrorXml(await fetchRaw(otherKey), 403, "SignatureDoesNotMatch");
    expectErrorXml(await fetchRaw(url, { method: "DELETE" }), 403, "SignatureDoesNotMatch");
    // nothing was deleted by the refused request
    expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "object.bin" }))).ContentLength).toBe(data.length);
  });

  test("a URL signed with an unknown access key answers 403 InvalidAccessKeyId", async () => {
    const stranger = server.client({ credentials: { accessKeyId: "not-a-known-key", secretAccessKey: "whatever-secret" } });
    const url = await getSignedUrl(stranger, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    stranger.destroy();
    expectErrorXml(await fetchRaw(url), 403, "InvalidAccessKeyId");
  });

  test("a URL signed with the wrong secret answers 403 SignatureDoesNotMatch", async () => {
    const wrong = server.client({ credentials: { accessKeyId: "minioadmin", secretAccessKey: "not-the-secret" } });
    const url = await getSignedUrl(wrong, new GetObjectCommand({ Bucket: bucket, Key: "object.bin" }), { expiresIn: 300 });
    wrong.destroy();
    expectErrorXml(await fetchRaw(url), 403, "SignatureDoesNotMatch");
  });

  test("a request without any credentials answers 403 AccessDenied", async () => {
    expectErrorXml(await fetchRaw(`${server.endpoint}/${bucket}/object.bin`), 403, "AccessDenied");
  });
});
