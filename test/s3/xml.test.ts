// XML out is checked by letting the real AWS SDK parse it (a node:http server
// answers the SDK with our documents) and against AWS documentation examples.
// XML in is checked with the bodies the real SDK sends.
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSdkEndpoint, type SdkEndpoint } from "./sdk-endpoint.js";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { S3Error } from "../../src/s3/errors.js";
import {
  completeMultipartUploadXml,
  copyObjectResultXml,
  copyPartResultXml,
  deleteResultXml,
  errorXml,
  escapeXml,
  initiateMultipartUploadXml,
  listBucketsXml,
  listMultipartUploadsXml,
  listObjectsV1Xml,
  listObjectsV2Xml,
  listPartsXml,
  locationXml,
  parseCompleteMultipartUpload,
  parseCreateBucketConfiguration,
  parseDeleteObjects,
  s3UrlEncode,
} from "../../src/s3/xml.js";
import type { ObjectInfo, UploadInfo } from "../../src/store/types.js";

// ---------------------------------------------------------------- fake endpoint

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}
interface Answer {
  status?: number;
  body?: string;
}

let endpoint: SdkEndpoint;
let client: S3Client;
let answer: (request: Recorded) => Answer = () => ({});
let recorded: Recorded[] = [];

beforeAll(async () => {
  endpoint = await startSdkEndpoint((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      recorded.push(request);
      const { status = 200, body = "" } = answer(request);
      res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  client = endpoint.client;
});

afterAll(() => endpoint.close());

/** Sends `command` through the SDK; the endpoint answers `body`. Returns the SDK's output and what it sent. */
async function roundTrip<T>(send: () => Promise<T>, body = "", status = 200): Promise<{ output: T; request: Recorded }> {
  recorded = [];
  answer = () => ({ status, body });
  const output = await send();
  expect(recorded).toHaveLength(1);
  return { output, request: recorded[0]! };
}

// ---------------------------------------------------------------- fixtures

const owner = { id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a", displayName: "overlay" };
const date = new Date("2013-09-17T18:07:53.123Z");

/** Keys that stress XML: markup, controls S3 writes as &#x..;, whitespace a parser could eat, non-ASCII. */
const TRICKY_KEYS = [
  "plain.txt",
  "x&y<z>\"quoted\" 'apos'",
  "ctrl\u0001char",
  "carriage\rreturn",
  "line\nfeed\r\n",
  "tab\there",
  "  leading and trailing  ",
  "0123",
  "ümlaut/emoji😀/日本",
  "a//b/../c/",
];

function objectInfo(key: string, extra: Partial<ObjectInfo> = {}): ObjectInfo {
  return {
    bucket: "bucket",
    key,
    size: 857,
    etag: "599bab3ed2c697f1d26842727561fd94",
    lastModified: date,
    headers: {},
    userMetadata: {},
    origin: "local",
    ...extra,
  };
}

function upload(key: string, uploadId: string): UploadInfo {
  return { uploadId, bucket: "bucket", key, initiated: date, headers: {}, userMetadata: {}, checksumAlgorithm: "CRC32" };
}

/** What botocore / the Java SDK do with encoding-type=url values. */
function unquotePlus(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, " "));
}

function expectMalformed(parse: () => unknown): void {
  let thrown: unknown;
  try {
    parse();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(S3Error);
  expect((thrown as S3Error).code).toBe("MalformedXML");
  expect((thrown as S3Error).status).toBe(400);
}

// ---------------------------------------------------------------- responses

describe("escapeXml", () => {
  it("escapes markup and writes controls as character references, like S3", () => {
    expect(escapeXml(`a&b<c>d"e'f`)).toBe("a&amp;b&lt;c&gt;d&quot;e&apos;f");
    expect(escapeXml("k\u0001\r\n\t")).toBe("k&#x1;&#xD;&#xA;&#x9;");
    expect(escapeXml("ü😀 plain")).toBe("ü😀 plain");
  });
});

describe("errorXml", () => {
  it("writes S3's error document, which the SDK turns into a typed error", async () => {
    const xml = errorXml({
      code: "NoSuchKey",
      message: "The specified key does not exist.",
      resource: "/bucket/a&b",
      requestId: "4442587FB7D0A2F9",
      details: { Key: "a&b" },
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>' +
        "<Key>a&amp;b</Key><Resource>/bucket/a&amp;b</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>",
    );
    answer = () => ({ status: 404, body: xml });
    const error = await client.send(new GetObjectCommand({ Bucket: "bucket", Key: "a&b" })).catch((e: unknown) => e);
    expect((error as Error).name).toBe("NoSuchKey");
    expect((error as Error).message).toBe("The specified key does not exist.");
    expect((error as { $metadata: { requestId?: string } }).$metadata.requestId).toBe("4442587FB7D0A2F9");
  });
});

describe("listBucketsXml", () => {
  it("is read by the SDK's ListBuckets", async () => {
    const xml = listBucketsXml(
      [
        { name: "alpha", createdAt: date, region: "us-east-1" },
        { name: "beta.dots", createdAt: new Date("2024-01-01T00:00:00Z"), region: "eu-west-1" },
      ],
      owner,
    );
    expect(xml).toContain(`<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>${owner.id}</ID>`);
    expect(xml).toContain("<CreationDate>2024-01-01T00:00:00.000Z</CreationDate>");
    const { output } = await roundTrip(() => client.send(new ListBucketsCommand({})), xml);
    expect(output.Owner).toEqual({ ID: owner.id, DisplayName: "overlay" });
    expect(output.Buckets).toEqual([
      { Name: "alpha", CreationDate: date, BucketRegion: "us-east-1" },
      { Name: "beta.dots", CreationDate: new Date("2024-01-01T00:00:00Z"), BucketRegion: "eu-west-1" },
    ]);
  });
});

describe("locationXml", () => {
  it("answers an empty LocationConstraint for us-east-1, as S3", async () => {
    expect(locationXml("us-east-1")).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>',
    );
    const { output } = await roundTrip(() => client.send(new GetBucketLocationCommand({ Bucket: "b" })), locationXml("us-east-1"));
    expect(output.LocationConstraint ?? "").toBe("");
  });

  it("names any other region", async () => {
    const { output } = await roundTrip(() => client.send(new GetBucketLocationCommand({ Bucket: "b" })), locationXml("eu-west-1"));
    expect(output.LocationConstraint).toBe("eu-west-1");
  });
});

describe("listObjectsV2Xml", () => {
  it("matches the AWS documentation example's Contents element", () => {
    const xml = listObjectsV2Xml(
      { bucket: "bucket", prefix: "", maxKeys: 1000, fetchOwner: false },
      { contents: [objectInfo("ExampleObject.txt", { lastModified: new Date("2013-09-17T18:07:53.000Z") })], commonPrefixes: [], isTruncated: false },
      owner,
    );
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">')).toBe(true);
    expect(xml).toContain(
      "<Contents><Key>ExampleObject.txt</Key><LastModified>2013-09-17T18:07:53.000Z</LastModified>" +
        "<ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag><Size>857</Size><StorageClass>STANDARD</StorageClass></Contents>",
    );
    expect(xml).toContain("<Name>bucket</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>");
    expect(xml).not.toContain("<Delimiter>");
    expect(xml).not.toContain("<Owner>");
  });

  it("carries any key to the SDK unchanged", async () => {
    const contents = TRICKY_KEYS.map((key, i) =>
      objectInfo(key, { size: i, etag: `${i}`.padStart(32, "0"), checksum: i === 1 ? { algorithm: "CRC32", value: "AAAAAA==", type: "FULL_OBJECT" } : undefined }),
    );
    const xml = listObjectsV2Xml(
      { bucket: "bucket", prefix: "p&", delimiter: "/", maxKeys: 12, continuationToken: "tok&1", startAfter: "s<", fetchOwner: true },
      { contents, commonPrefixes: ["dir &/", "dir\r/"], isTruncated: true, nextContinuationToken: "next&2" },
      owner,
    );
    expect(xml).toContain("<Key>ctrl&#x1;char</Key>");
    const { output } = await roundTrip(() => client.send(new ListObjectsV2Command({ Bucket: "bucket" })), xml);
    expect(output.Contents?.map((c) => c.Key)).toEqual(TRICKY_KEYS);
    expect(output.Contents?.[1]).toMatchObject({
      ETag: `"${"1".padStart(32, "0")}"`,
      Size: 1,
      LastModified: date,
      StorageClass: "STANDARD",
      ChecksumAlgorithm: ["CRC32"],
      ChecksumType: "FULL_OBJECT",
      Owner: { ID: owner.id, DisplayName: "overlay" },
    });
    expect(output.CommonPrefixes).toEqual([{ Prefix: "dir &/" }, { Prefix: "dir\r/" }]);
    expect(output).toMatchObject({
      Name: "bucket",
      Prefix: "p&",
      Delimiter: "/",
      MaxKeys: 12,
      KeyCount: TRICKY_KEYS.length + 2,
      IsTruncated: true,
      ContinuationToken: "tok&1",
      NextContinuationToken: "next&2",
      StartAfter: "s<",
    });
  });

  it("URL-encodes keys, prefixes, delimiter and start-after with encoding-type=url (a space as %20)", () => {
    const keys = ["a b.txt", "a+b.txt", "100%.csv", "한글/x.txt", "ctrl\u0001"];
    const xml = listObjectsV2Xml(
      { bucket: "bucket", prefix: "run books/", delimiter: "+", maxKeys: 1000, encodingType: "url", startAfter: "a b", continuationToken: "t+k", fetchOwner: false },
      { contents: keys.map((key) => objectInfo(key)), commonPrefixes: ["run books/"], isTruncated: false },
      owner,
    );
    for (const fragment of [
      "<Key>a%20b.txt</Key>",
      "<Key>a%2Bb.txt</Key>",
      "<Key>100%25.csv</Key>",
      "<Key>%ED%95%9C%EA%B8%80/x.txt</Key>",
      "<Key>ctrl%01</Key>",
      "<Prefix>run%20books/</Prefix>",
      "<Delimiter>%2B</Delimiter>",
      "<StartAfter>a%20b</StartAfter>",
      "<ContinuationToken>t+k</ContinuationToken>", // tokens are not encoded
      "<EncodingType>url</EncodingType>",
    ]) {
      expect(xml).toContain(fragment);
    }
    expect(keys.map((key) => unquotePlus(s3UrlEncode(key)))).toEqual(keys);
  });
});

describe("s3UrlEncode", () => {
  it("keeps unreserved characters, / and *, and encodes everything else by UTF-8 byte", () => {
    expect(s3UrlEncode("AZaz09-_.*/")).toBe("AZaz09-_.*/");
    expect(s3UrlEncode("~!'() &=?#%")).toBe("%7E%21%27%28%29%20%26%3D%3F%23%25");
    expect(s3UrlEncode("é😀")).toBe("%C3%A9%F0%9F%98%80");
  });
});

describe("listObjectsV1Xml", () => {
  it("is read by the SDK's ListObjects, with owners and markers", async () => {
    const xml = listObjectsV1Xml(
      { bucket: "bucket", prefix: "", delimiter: "/", marker: "m&", maxKeys: 2 },
      { contents: [objectInfo("a&1"), objectInfo("b\u0002")], commonPrefixes: ["c/"], isTruncated: true, nextMarker: "c/" },
      owner,
    );
    expect(xml).toContain("<Marker>m&amp;</Marker><NextMarker>c/</NextMarker><MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>");
    const { output } = await roundTrip(() => client.send(new ListObjectsCommand({ Bucket: "bucket" })), xml);
    expect(output.Contents?.map((c) => [c.Key, c.Owner?.ID])).toEqual([
      ["a&1", owner.id],
      ["b\u0002", owner.id],
    ]);
    expect(output).toMatchObject({ Marker: "m&", NextMarker: "c/", MaxKeys: 2, IsTruncated: true, CommonPrefixes: [{ Prefix: "c/" }] });
  });

  it("encodes Marker, NextMarker, Delimiter and keys with encoding-type=url, and echoes Prefix raw", () => {
    const xml = listObjectsV1Xml(
      { bucket: "bucket", prefix: "p q", delimiter: " ", marker: "m n", maxKeys: 1, encodingType: "url" },
      { contents: [objectInfo("k l")], commonPrefixes: [], isTruncated: true, nextMarker: "k l" },
      owner,
    );
    expect(xml).toContain("<Prefix>p q</Prefix><Marker>m%20n</Marker><NextMarker>k%20l</NextMarker><MaxKeys>1</MaxKeys><Delimiter>%20</Delimiter>");
    expect(xml).toContain("<Key>k%20l</Key>");
  });
});

describe("multipart documents", () => {
  it("initiateMultipartUploadXml matches the AWS example and gives the SDK the upload id", async () => {
    const xml = initiateMultipartUploadXml("example-bucket", "example-object", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        "<Bucket>example-bucket</Bucket><Key>example-object</Key><UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>" +
        "</InitiateMultipartUploadResult>",
    );
    const { output } = await roundTrip(() => client.send(new CreateMultipartUploadCommand({ Bucket: "b", Key: "k" })), xml);
    expect(output).toMatchObject({ Bucket: "example-bucket", Key: "example-object", UploadId: "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA" });
  });

  it("completeMultipartUploadXml reports the ETag and the composite checksum", async () => {
    const xml = completeMultipartUploadXml("http://127.0.0.1/b/k%20x", "b", "k x", "3858f62230ac3c915f300c664312c11f-9", {
      algorithm: "CRC32C",
      value: "sOO8/Q==-9",
      type: "COMPOSITE",
    });
    expect(xml).toContain("<ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag><ChecksumCRC32C>sOO8/Q==-9</ChecksumCRC32C><ChecksumType>COMPOSITE</ChecksumType>");
    const { output } = await roundTrip(
      () => client.send(new CompleteMultipartUploadCommand({ Bucket: "b", Key: "k x", UploadId: "u", MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"e"' }] } })),
      xml,
    );
    expect(output).toMatchObject({
      Location: "http://127.0.0.1/b/k%20x",
      Bucket: "b",
      Key: "k x",
      ETag: '"3858f62230ac3c915f300c664312c11f-9"',
      ChecksumCRC32C: "sOO8/Q==-9",
      ChecksumType: "COMPOSITE",
    });
  });

  it("listPartsXml is read by the SDK's ListParts", async () => {
    const xml = listPartsXml(
      upload("k&", "up1"),
      { partNumberMarker: 0, maxParts: 2 },
      {
        parts: [
          { partNumber: 1, size: 5242880, etag: "7778aef83f66abc1fa1e8477f296d394", lastModified: date, checksum: { algorithm: "CRC32", value: "AQIDBA==", type: "COMPOSITE" } },
          { partNumber: 2, size: 1, etag: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", lastModified: date },
        ],
        isTruncated: true,
        nextPartNumberMarker: 2,
      },
      owner,
    );
    const { output } = await roundTrip(() => client.send(new ListPartsCommand({ Bucket: "b", Key: "k&", UploadId: "up1" })), xml);
    expect(output).toMatchObject({
      Bucket: "bucket",
      Key: "k&",
      UploadId: "up1",
      PartNumberMarker: "0",
      NextPartNumberMarker: "2",
      MaxParts: 2,
      IsTruncated: true,
      StorageClass: "STANDARD",
      ChecksumAlgorithm: "CRC32",
      Initiator: { ID: owner.id, DisplayName: "overlay" },
      Owner: { ID: owner.id, DisplayName: "overlay" },
    });
    expect(output.Parts).toEqual([
      { PartNumber: 1, LastModified: date, ETag: '"7778aef83f66abc1fa1e8477f296d394"', Size: 5242880, ChecksumCRC32: "AQIDBA==" },
      { PartNumber: 2, LastModified: date, ETag: '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', Size: 1 },
    ]);
  });

  it("listMultipartUploadsXml is read by the SDK's ListMultipartUploads", async () => {
    const xml = listMultipartUploadsXml(
      { bucket: "bucket", prefix: "", delimiter: "/", keyMarker: "", uploadIdMarker: "", maxUploads: 1000 },
      { uploads: [upload("a\u0001&", "u1"), upload("b", "u2")], commonPrefixes: ["dir/"], isTruncated: true, nextKeyMarker: "b", nextUploadIdMarker: "u2" },
      owner,
    );
    const { output } = await roundTrip(() => client.send(new ListMultipartUploadsCommand({ Bucket: "bucket" })), xml);
    expect(output.Uploads?.map((u) => [u.Key, u.UploadId, u.Initiated?.toISOString(), u.ChecksumAlgorithm])).toEqual([
      ["a\u0001&", "u1", date.toISOString(), "CRC32"],
      ["b", "u2", date.toISOString(), "CRC32"],
    ]);
    expect(output).toMatchObject({ Bucket: "bucket", NextKeyMarker: "b", NextUploadIdMarker: "u2", MaxUploads: 1000, IsTruncated: true, CommonPrefixes: [{ Prefix: "dir/" }] });
  });

  it("listMultipartUploadsXml encodes keys and markers with encoding-type=url", () => {
    const xml = listMultipartUploadsXml(
      { bucket: "bucket", prefix: "p q", keyMarker: "k m", uploadIdMarker: "", maxUploads: 1, encodingType: "url" },
      { uploads: [upload("a b", "u1")], commonPrefixes: [], isTruncated: true, nextKeyMarker: "a b", nextUploadIdMarker: "u1" },
      owner,
    );
    expect(xml).toContain("<KeyMarker>k%20m</KeyMarker>");
    expect(xml).toContain("<NextKeyMarker>a%20b</NextKeyMarker>");
    expect(xml).toContain("<Prefix>p%20q</Prefix>");
    expect(xml).toContain("<Key>a%20b</Key>");
  });
});

describe("copy results", () => {
  it("copyObjectResultXml is read by the SDK's CopyObject", async () => {
    const xml = copyObjectResultXml("9b2cf535f27731c974343645a3985328", date, { algorithm: "SHA256", value: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=", type: "FULL_OBJECT" });
    expect(xml).toContain(
      '<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><LastModified>2013-09-17T18:07:53.123Z</LastModified>',
    );
    const { output } = await roundTrip(() => client.send(new CopyObjectCommand({ Bucket: "b", Key: "k", CopySource: "src/key" })), xml);
    expect(output.CopyObjectResult).toEqual({
      ETag: '"9b2cf535f27731c974343645a3985328"',
      LastModified: date,
      ChecksumSHA256: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
      ChecksumType: "FULL_OBJECT",
    });
  });

  it("copyPartResultXml is read by the SDK's UploadPartCopy", async () => {
    const xml = copyPartResultXml("9b2cf535f27731c974343645a3985328", date);
    const { output } = await roundTrip(
      () => client.send(new UploadPartCopyCommand({ Bucket: "b", Key: "k", CopySource: "src/key", UploadId: "u", PartNumber: 1 })),
      xml,
    );
    expect(output.CopyPartResult).toEqual({ ETag: '"9b2cf535f27731c974343645a3985328"', LastModified: date });
  });
});

describe("deleteResultXml", () => {
  it("lists deletions and errors; the SDK reads both", async () => {
    const xml = deleteResultXml(
      [{ key: "gone&1" }, { key: "gone\r2" }],
      [{ key: "bad<", code: "AccessDenied", message: "Access Denied" }],
      false,
    );
    const { output } = await roundTrip(() => client.send(new DeleteObjectsCommand({ Bucket: "b", Delete: { Objects: [{ Key: "x" }] } })), xml);
    expect(output.Deleted).toEqual([{ Key: "gone&1" }, { Key: "gone\r2" }]);
    expect(output.Errors).toEqual([{ Key: "bad<", Code: "AccessDenied", Message: "Access Denied" }]);
  });

  it("reports only errors in quiet mode", () => {
    const xml = deleteResultXml([{ key: "gone" }], [], true);
    expect(xml).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>');
  });
});

// ---------------------------------------------------------------- request bodies

describe("parseDeleteObjects", () => {
  it("reads the body the SDK sends, keys unchanged", async () => {
    const keys = [...TRICKY_KEYS, "ü&amp;literal"];
    const { request } = await roundTrip(
      () => client.send(new DeleteObjectsCommand({ Bucket: "b", Delete: { Quiet: true, Objects: keys.map((Key) => ({ Key })) } })),
      deleteResultXml([], [], true),
    );
    expect(request.url).toBe("/b/?delete=");
    expect(parseDeleteObjects(request.body)).toEqual({ quiet: true, objects: keys.map((key) => ({ key })) });
  });

  it("reads version ids and a missing Quiet", async () => {
    const { request } = await roundTrip(
      () => client.send(new DeleteObjectsCommand({ Bucket: "b", Delete: { Objects: [{ Key: "k", VersionId: "null" }, { Key: "j" }] } })),
      deleteResultXml([], [], false),
    );
    expect(parseDeleteObjects(request.body)).toEqual({ quiet: false, objects: [{ key: "k", versionId: "null" }, { key: "j" }] });
  });

  it("decodes entities, character references and CDATA exactly once", () => {
    const xml = "<Delete><Object><Key>a&amp;lt;&#xD;&#13;&#x1F600;&quot;</Key></Object><Object><Key><![CDATA[x<y&amp;]]></Key></Object><Quiet>False</Quiet></Delete>";
    expect(parseDeleteObjects(xml)).toEqual({ quiet: false, objects: [{ key: 'a&lt;\r\r😀"' }, { key: "x<y&amp;" }] });
  });

  it("accepts exactly 1000 objects and rejects 1001 or none", () => {
    const body = (n: number) => `<Delete>${"<Object><Key>k</Key></Object>".repeat(n)}</Delete>`;
    expect(parseDeleteObjects(body(1000)).objects).toHaveLength(1000);
    expectMalformed(() => parseDeleteObjects(body(1001)));
    expectMalformed(() => parseDeleteObjects(body(0)));
    expectMalformed(() => parseDeleteObjects("<Delete/>"));
  });

  it("rejects what is not a well-formed Delete document", () => {
    for (const xml of [
      "",
      "not xml",
      "<Delete><Object><Key>k</Key></Object>",
      "<Other><Object><Key>k</Key></Object></Other>",
      "<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
      "<Delete><Object><Key>k</Key></Object></Delete>trailing",
      "<Delete><Object><Key>a &foo; b</Key></Object></Delete>",
      "<Delete><Object><Key>a & b</Key></Object></Delete>",
      "<Delete><Object><Key>&#xD800;</Key></Object></Delete>",
      "<Delete><Object><Key>&#x110000;</Key></Object></Delete>",
      "<Delete><Object><Key><b>k</b></Key></Object></Delete>",
      "<Delete><Object><Key>k</Key><Key>j</Key></Object></Delete>",
      "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
      "<Delete><Object><Key>k</Key></Object><Quiet>yes</Quiet></Delete>",
    ]) {
      expectMalformed(() => parseDeleteObjects(xml));
    }
  });

  it("refuses DTDs, so entity expansion cannot happen", () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' +
      "<Delete><Object><Key>&b;</Key></Object></Delete>";
    expectMalformed(() => parseDeleteObjects(bomb));
  });
});

describe("parseCompleteMultipartUpload", () => {
  it("reads the body the SDK sends, with quotes removed from ETags and checksums kept", async () => {
    const { request } = await roundTrip(
      () =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket: "b",
            Key: "k",
            UploadId: "u",
            MultipartUpload: {
              Parts: [
                { PartNumber: 1, ETag: '"7778aef83f66abc1fa1e8477f296d394"', ChecksumCRC32: "AQIDBA==" },
                { PartNumber: 2, ETag: '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"', ChecksumCRC32: "BQYHCA==" },
                { PartNumber: 10000, ETag: "unquoted" },
              ],
            },
          }),
        ),
      completeMultipartUploadXml("l", "b", "k", "e-3"),
    );
    expect(parseCompleteMultipartUpload(request.body)).toEqual([
      { partNumber: 1, etag: "7778aef83f66abc1fa1e8477f296d394", checksums: { CRC32: "AQIDBA==" } },
      { partNumber: 2, etag: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", checksums: { CRC32: "BQYHCA==" } },
      { partNumber: 10000, etag: "unquoted" },
    ]);
  });

  it("reads ETags written as &quot; and namespace prefixes", () => {
    const xml =
      '<s3:CompleteMultipartUpload xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Part><s3:PartNumber> 3 </s3:PartNumber>' +
      "<s3:ETag>&quot;abc&quot;</s3:ETag></s3:Part></s3:CompleteMultipartUpload>";
    expect(parseCompleteMultipartUpload(xml)).toEqual([{ partNumber: 3, etag: "abc" }]);
  });

  it("rejects malformed parts", () => {
    for (const xml of [
      "<CompleteMultipartUpload></CompleteMultipartUpload>",
      "<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
      "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
      "<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
      "<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
      "<Delete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Delete>",
    ]) {
      expectMalformed(() => parseCompleteMultipartUpload(xml));
    }
  });

  it("rejects part numbers outside 1..10000 as InvalidArgument", () => {
    for (const n of ["0", "10001"]) {
      const xml = `<CompleteMultipartUpload><Part><PartNumber>${n}</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>`;
      expect(() => parseCompleteMultipartUpload(xml)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    }
  });
});

describe("parseCreateBucketConfiguration", () => {
  it("reads the LocationConstraint the SDK sends", async () => {
    const { request } = await roundTrip(() =>
      client.send(new CreateBucketCommand({ Bucket: "b", CreateBucketConfiguration: { LocationConstraint: "eu-west-1" } })),
    );
    expect(parseCreateBucketConfiguration(request.body)).toEqual({ locationConstraint: "eu-west-1" });
  });

  it("treats a missing body (SDK without configuration) as the default region", async () => {
    const { request } = await roundTrip(() => client.send(new CreateBucketCommand({ Bucket: "b" })));
    expect(request.body).toBe("");
    expect(parseCreateBucketConfiguration(request.body)).toEqual({});
    expect(parseCreateBucketConfiguration("<CreateBucketConfiguration/>")).toEqual({});
  });

  it("rejects other documents", () => {
    expectMalformed(() => parseCreateBucketConfiguration("<LocationConstraint>eu-west-1</LocationConstraint>"));
    expectMalformed(() => parseCreateBucketConfiguration("<CreateBucketConfiguration>"));
  });
});
