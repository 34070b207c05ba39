// Header handling is checked with the real SDK: PutObject / CreateMultipartUpload
// requests it sends are parsed, and our GET/HEAD headers are read by its HeadObject.
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSdkEndpoint, type SdkEndpoint } from "./sdk-endpoint.js";
import { CreateMultipartUploadCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { S3Error } from "../../src/s3/errors.js";
import { applyResponseOverrides, contentHeadersFrom, objectResponseHeaders, parseUserMetadata } from "../../src/s3/headers.js";
import type { ObjectInfo } from "../../src/store/types.js";
import { initiateMultipartUploadXml } from "../../src/s3/xml.js";

let endpoint: SdkEndpoint;
let client: S3Client;
let recorded: IncomingMessage[] = [];
let responseHeaders: Record<string, string> = {};
let responseBody = "";

beforeAll(async () => {
  endpoint = await startSdkEndpoint((req, res) => {
    recorded.push(req);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { ...responseHeaders, "content-length": String(Buffer.byteLength(responseBody)) });
      res.end(req.method === "HEAD" ? undefined : responseBody);
    });
  });
  client = endpoint.client;
});

afterAll(() => endpoint.close());

/** The request the SDK sends in `call` (a client.send(...)). */
async function sdkRequest(call: () => Promise<unknown>): Promise<IncomingMessage> {
  recorded = [];
  await call();
  expect(recorded).toHaveLength(1);
  return recorded[0]!;
}

const contentHeaders = {
  ContentType: "text/plain; charset=utf-8",
  ContentEncoding: "gzip",
  ContentDisposition: 'attachment; filename="a b.txt"',
  ContentLanguage: "de-DE",
  CacheControl: "max-age=60",
  Expires: new Date("2030-01-01T00:00:00Z"),
};
const expectedContentHeaders = {
  contentType: "text/plain; charset=utf-8",
  contentEncoding: "gzip",
  contentDisposition: 'attachment; filename="a b.txt"',
  contentLanguage: "de-DE",
  cacheControl: "max-age=60",
  expires: "Tue, 01 Jan 2030 00:00:00 GMT",
};

describe("parseUserMetadata and contentHeadersFrom", () => {
  it("read what the SDK's PutObject sends", async () => {
    responseHeaders = { etag: '"e"' };
    const req = await sdkRequest(() =>
      client.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: "x", Metadata: { Color: "blue", "two-words": "a, b", empty: "" }, ...contentHeaders })),
    );
    expect(parseUserMetadata(req.headers)).toEqual({ color: "blue", "two-words": "a, b", empty: "" });
    expect(contentHeadersFrom(req.headers)).toEqual(expectedContentHeaders);
  });

  it("drop aws-chunked from a streamed upload's Content-Encoding, as S3 does", async () => {
    responseHeaders = { etag: '"e"' };
    const req = await sdkRequest(() =>
      client.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: Readable.from([Buffer.from("hello")]), ContentLength: 5, ContentEncoding: "gzip" })),
    );
    expect(String(req.headers["content-encoding"])).toContain("aws-chunked"); // the SDK streams with a trailing checksum
    expect(contentHeadersFrom(req.headers).contentEncoding).toBe("gzip");
    expect(contentHeadersFrom({ "content-encoding": "aws-chunked" })).toEqual({});
  });

  it("read CreateMultipartUpload's headers the same way", async () => {
    responseBody = initiateMultipartUploadXml("b", "k", "u");
    const req = await sdkRequest(() =>
      client.send(new CreateMultipartUploadCommand({ Bucket: "b", Key: "k", Metadata: { a: "1" }, ContentType: "image/png" })),
    );
    responseBody = "";
    expect(parseUserMetadata(req.headers)).toEqual({ a: "1" });
    expect(contentHeadersFrom(req.headers)).toEqual({ contentType: "image/png" });
  });

  it("refuses more than 2 KB of user metadata (names without the prefix, plus values)", () => {
    // 1 + 2047 = 2048 bytes: allowed
    expect(parseUserMetadata({ "x-amz-meta-a": "v".repeat(2047) })).toEqual({ a: "v".repeat(2047) });
    let error: unknown;
    try {
      parseUserMetadata({ "x-amz-meta-a": "v".repeat(2047), "x-amz-meta-b": "" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code).toBe("MetadataTooLarge");
    expect((error as S3Error).details.Size).toBe("2049");
  });
});

const info: ObjectInfo = {
  bucket: "b",
  key: "k",
  size: 11,
  etag: "9b2cf535f27731c974343645a3985328-2",
  lastModified: new Date("2024-05-01T10:20:30.456Z"),
  headers: expectedContentHeaders,
  userMetadata: { color: "blue", "two-words": "a, b" },
  checksum: { algorithm: "CRC32", value: "DUoRhQ==", type: "COMPOSITE" },
  partSizes: [6, 5],
  origin: "local",
};

describe("objectResponseHeaders", () => {
  it("writes S3's GET/HEAD headers", () => {
    expect(objectResponseHeaders(info)).toEqual({
      etag: '"9b2cf535f27731c974343645a3985328-2"',
      "last-modified": "Wed, 01 May 2024 10:20:30 GMT",
      "content-type": "text/plain; charset=utf-8",
      "accept-ranges": "bytes",
      "content-encoding": "gzip",
      "content-disposition": 'attachment; filename="a b.txt"',
      "content-language": "de-DE",
      "cache-control": "max-age=60",
      expires: "Tue, 01 Jan 2030 00:00:00 GMT",
      "x-amz-meta-color": "blue",
      "x-amz-meta-two-words": "a, b",
    });
  });

  it("defaults Content-Type to binary/octet-stream and adds parts count and checksum only when asked", () => {
    const plain = { ...info, headers: {}, userMetadata: {} };
    expect(objectResponseHeaders(plain)["content-type"]).toBe("binary/octet-stream");
    const withParts = objectResponseHeaders(plain, { partNumber: 1, checksum: true });
    expect(withParts["x-amz-mp-parts-count"]).toBe("2");
    expect(withParts["x-amz-checksum-crc32"]).toBe("DUoRhQ==");
    expect(withParts["x-amz-checksum-type"]).toBe("COMPOSITE");
    expect(objectResponseHeaders({ ...plain, partSizes: undefined }, { partNumber: 1 })["x-amz-mp-parts-count"]).toBeUndefined();
  });

  it("is read back by the SDK's HeadObject", async () => {
    responseHeaders = objectResponseHeaders(info, { partNumber: 1, checksum: true });
    const output = await client.send(new HeadObjectCommand({ Bucket: "b", Key: "k", PartNumber: 1, ChecksumMode: "ENABLED" }));
    expect(output).toMatchObject({
      ETag: '"9b2cf535f27731c974343645a3985328-2"',
      LastModified: new Date("2024-05-01T10:20:30Z"),
      ContentType: "text/plain; charset=utf-8",
      ContentEncoding: "gzip",
      ContentDisposition: 'attachment; filename="a b.txt"',
      ContentLanguage: "de-DE",
      CacheControl: "max-age=60",
      ExpiresString: "Tue, 01 Jan 2030 00:00:00 GMT",
      AcceptRanges: "bytes",
      Metadata: { color: "blue", "two-words": "a, b" },
      PartsCount: 2,
      ChecksumCRC32: "DUoRhQ==",
      ChecksumType: "COMPOSITE",
    });
  });
});

describe("applyResponseOverrides", () => {
  it("replaces headers named by response-* parameters, sending UTF-8 bytes", () => {
    const headers = objectResponseHeaders({ ...info, headers: {} });
    applyResponseOverrides(
      headers,
      new URLSearchParams("response-content-type=text%2Fhtml&response-content-disposition=inline%3B+filename%3D%C3%BC.txt&response-cache-control=no-cache&other=1"),
    );
    expect(headers["content-type"]).toBe("text/html");
    expect(headers["cache-control"]).toBe("no-cache");
    expect(Buffer.from(headers["content-disposition"]!, "latin1").toString("utf8")).toBe("inline; filename=ü.txt");
    expect(headers["expires"]).toBeUndefined();
  });
});
