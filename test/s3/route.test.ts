// Routing is checked against the requests the real AWS SDK sends: a node:http
// server records them, and parseTarget/resolveOperation must name the command.
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSdkEndpoint, type SdkEndpoint } from "./sdk-endpoint.js";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  DeleteObjectTaggingCommand,
  GetBucketAclCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutBucketCorsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  RestoreObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { S3Error } from "../../src/s3/errors.js";
import { parseCopySource, parsePartNumber, parseTarget, resolveOperation, type Operation } from "../../src/s3/route.js";

let endpoint: SdkEndpoint;
let client: S3Client;
let recorded: IncomingMessage[] = [];

beforeAll(async () => {
  endpoint = await startSdkEndpoint((req, res) => {
    recorded.push(req);
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-length": "0" }).end());
  });
  client = endpoint.client;
});

afterAll(() => endpoint.close());

/** A call of the SDK (client.send(...)), made once the client exists. */
type SdkCall = () => Promise<unknown>;

/** The request the SDK sends in `call` (its answer, an empty 200, may not parse: that is ignored). */
async function sdkRequest(call: SdkCall): Promise<IncomingMessage> {
  recorded = [];
  await call().catch(() => undefined);
  expect(recorded).toHaveLength(1);
  return recorded[0]!;
}

function route(req: IncomingMessage): { operation: Operation; bucket?: string; key?: string } {
  const target = parseTarget(req.url!, req.headers.host);
  return { operation: resolveOperation(req.method!, target, req.headers), bucket: target.bucket, key: target.key };
}

function thrown(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof S3Error) return error;
    throw error;
  }
  throw new Error("expected an S3Error");
}

const body = "hello";
const SUPPORTED: [Operation, SdkCall][] = [
  ["ListBuckets", () => client.send(new ListBucketsCommand({}))],
  ["CreateBucket", () => client.send(new CreateBucketCommand({ Bucket: "bkt" }))],
  ["HeadBucket", () => client.send(new HeadBucketCommand({ Bucket: "bkt" }))],
  ["DeleteBucket", () => client.send(new DeleteBucketCommand({ Bucket: "bkt" }))],
  ["GetBucketLocation", () => client.send(new GetBucketLocationCommand({ Bucket: "bkt" }))],
  ["ListObjects", () => client.send(new ListObjectsCommand({ Bucket: "bkt", Prefix: "p", Marker: "m" }))],
  ["ListObjectsV2", () => client.send(new ListObjectsV2Command({ Bucket: "bkt", EncodingType: "url", FetchOwner: true }))],
  ["ListMultipartUploads", () => client.send(new ListMultipartUploadsCommand({ Bucket: "bkt" }))],
  ["DeleteObjects", () => client.send(new DeleteObjectsCommand({ Bucket: "bkt", Delete: { Objects: [{ Key: "k" }] } }))],
  ["PutObject", () => client.send(new PutObjectCommand({ Bucket: "bkt", Key: "dir/k", Body: body }))],
  ["CopyObject", () => client.send(new CopyObjectCommand({ Bucket: "bkt", Key: "dir/k", CopySource: "src/a b" }))],
  ["GetObject", () => client.send(new GetObjectCommand({ Bucket: "bkt", Key: "dir/k", ResponseContentType: "text/plain", PartNumber: 2 }))],
  ["GetObject", () => client.send(new GetObjectCommand({ Bucket: "bkt", Key: "dir/k", VersionId: "null" }))],
  ["HeadObject", () => client.send(new HeadObjectCommand({ Bucket: "bkt", Key: "dir/k", PartNumber: 1 }))],
  ["DeleteObject", () => client.send(new DeleteObjectCommand({ Bucket: "bkt", Key: "dir/k" }))],
  ["CreateMultipartUpload", () => client.send(new CreateMultipartUploadCommand({ Bucket: "bkt", Key: "dir/k" }))],
  ["UploadPart", () => client.send(new UploadPartCommand({ Bucket: "bkt", Key: "dir/k", UploadId: "u1", PartNumber: 3, Body: body }))],
  ["UploadPartCopy", () => client.send(new UploadPartCopyCommand({ Bucket: "bkt", Key: "dir/k", UploadId: "u1", PartNumber: 3, CopySource: "src/x" }))],
  [
    "CompleteMultipartUpload",
    () => client.send(new CompleteMultipartUploadCommand({ Bucket: "bkt", Key: "dir/k", UploadId: "u1", MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"e"' }] } })),
  ],
  ["AbortMultipartUpload", () => client.send(new AbortMultipartUploadCommand({ Bucket: "bkt", Key: "dir/k", UploadId: "u1" }))],
  ["ListParts", () => client.send(new ListPartsCommand({ Bucket: "bkt", Key: "dir/k", UploadId: "u1" }))],
];

describe("resolveOperation with the SDK's requests", () => {
  for (const [index, [operation, call]] of SUPPORTED.entries()) {
    it(`#${index}: the SDK's ${operation} -> ${operation}`, async () => {
      const routed = route(await sdkRequest(call));
      expect(routed.operation).toBe(operation);
      expect(routed.bucket).toBe(operation === "ListBuckets" ? undefined : "bkt");
      const bucketLevel = ["ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket", "GetBucketLocation", "ListObjects", "ListObjectsV2", "ListMultipartUploads", "DeleteObjects"];
      expect(routed.key).toBe(bucketLevel.includes(operation) ? undefined : "dir/k");
    });
  }

  it("routes a presigned GET (X-Amz-* query parameters) as GetObject", async () => {
    const url = new URL(await getSignedUrl(client, new GetObjectCommand({ Bucket: "bkt", Key: "a b+c" }), { expiresIn: 60 }));
    const target = parseTarget(url.pathname + url.search, url.host);
    expect(target.query.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(resolveOperation("GET", target, {})).toBe("GetObject");
    expect(target.key).toBe("a b+c");
  });

  const UNSUPPORTED: [string, SdkCall][] = [
    ["tagging", () => client.send(new PutObjectTaggingCommand({ Bucket: "bkt", Key: "k", Tagging: { TagSet: [] } }))],
    ["tagging", () => client.send(new DeleteObjectTaggingCommand({ Bucket: "bkt", Key: "k" }))],
    ["versioning", () => client.send(new PutBucketVersioningCommand({ Bucket: "bkt", VersioningConfiguration: { Status: "Enabled" } }))],
    ["versions", () => client.send(new ListObjectVersionsCommand({ Bucket: "bkt" }))],
    ["policy", () => client.send(new DeleteBucketPolicyCommand({ Bucket: "bkt" }))],
    ["cors", () => client.send(new PutBucketCorsCommand({ Bucket: "bkt", CORSConfiguration: { CORSRules: [{ AllowedMethods: ["GET"], AllowedOrigins: ["*"] }] } }))],
    ["restore", () => client.send(new RestoreObjectCommand({ Bucket: "bkt", Key: "k" }))],
  ];
  for (const [index, [subresource, call]] of UNSUPPORTED.entries()) {
    it(`#${index}: an SDK ?${subresource} request -> NotImplemented naming ?${subresource}`, async () => {
      const req = await sdkRequest(call);
      const error = thrown(() => route(req));
      expect(error.code).toBe("NotImplemented");
      expect(error.status).toBe(501);
      expect(error.message).toContain(`?${subresource}`);
    });
  }

  it("routes reads of bucket configuration and object ACLs to their own operations", async () => {
    expect(route(await sdkRequest(() => client.send(new GetBucketAclCommand({ Bucket: "bkt" })))).operation).toBe("GetBucketAcl");
    expect(route(await sdkRequest(() => client.send(new GetObjectAclCommand({ Bucket: "bkt", Key: "k" })))).operation).toBe("GetObjectAcl");
    expect(route(await sdkRequest(() => client.send(new GetBucketVersioningCommand({ Bucket: "bkt" })))).operation).toBe("GetBucketVersioning");
    expect(route(recordedFor("GET", "/bkt?object-lock")).operation).toBe("GetObjectLockConfiguration");
  });

  it("routes GetObjectAttributes; another method on ?attributes is 405", async () => {
    const req = await sdkRequest(() => client.send(new GetObjectAttributesCommand({ Bucket: "bkt", Key: "k", ObjectAttributes: ["ETag"] })));
    expect(route(req).operation).toBe("GetObjectAttributes");
    expect(thrown(() => route(recordedFor("PUT", "/bkt/k?attributes"))).code).toBe("MethodNotAllowed");
  });

  it("routes GetObjectTagging (objects carry no tags: the answer is an empty tag set)", async () => {
    const req = await sdkRequest(() => client.send(new GetObjectTaggingCommand({ Bucket: "bkt", Key: "k" })));
    expect(route(req).operation).toBe("GetObjectTagging");
  });

  it("refuses a specific object version, but accepts the null version", async () => {
    const error = thrown(() => route(recordedFor("GET", "/bkt/k?versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY")));
    expect(error.code).toBe("NotImplemented");
    expect(route(recordedFor("DELETE", "/bkt/k?versionId=null")).operation).toBe("DeleteObject");
  });
});

/** A hand-made request for the cases no SDK command produces. */
function recordedFor(method: string, url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { method, url, headers: { host: "127.0.0.1:9000", ...headers } } as unknown as IncomingMessage;
}

describe("resolveOperation edge cases", () => {
  it("answers MethodNotAllowed for methods a resource does not have", () => {
    for (const [method, url] of [
      ["PUT", "/"],
      ["DELETE", "/"],
      ["PATCH", "/bkt"],
      ["PATCH", "/bkt/k"],
      ["POST", "/bkt/k"],
    ] as const) {
      const error = thrown(() => route(recordedFor(method, url)));
      expect(error.code).toBe("MethodNotAllowed");
      expect(error.status).toBe(405);
    }
  });

  it("does not implement browser POST uploads or S3 Select", () => {
    expect(thrown(() => route(recordedFor("POST", "/bkt"))).code).toBe("NotImplemented");
    expect(thrown(() => route(recordedFor("POST", "/bkt/k?select&select-type=2"))).message).toContain("?select");
  });

  it("rejects an unknown list-type and half an UploadPart", () => {
    expect(thrown(() => route(recordedFor("GET", "/bkt?list-type=3"))).code).toBe("InvalidArgument");
    expect(thrown(() => route(recordedFor("PUT", "/bkt/k?uploadId=u"))).code).toBe("InvalidArgument");
    expect(thrown(() => route(recordedFor("PUT", "/bkt/k?partNumber=1"))).code).toBe("InvalidArgument");
  });

  it("ignores query parameters that select nothing", () => {
    expect(route(recordedFor("GET", "/bkt/k?x-id=GetObject&response-cache-control=no-cache&unknown=1")).operation).toBe("GetObject");
    expect(route(recordedFor("GET", "/?x-id=ListBuckets&max-buckets=10")).operation).toBe("ListBuckets");
    expect(route(recordedFor("GET", "/bkt?delete")).operation).toBe("ListObjects");
    expect(route(recordedFor("put", "/bkt/k", { "x-amz-copy-source": "/a/b" })).operation).toBe("CopyObject");
  });
});

describe("parseTarget", () => {
  const KEYS = ["a+b", "a b", "a//b", "../x", "./y/.", "a/", "trailing  ", "100%", "q?x=1", "h#frag", "ü/😀", "~!$&'()*,;=:@"];

  for (const key of KEYS) {
    it(`gets ${JSON.stringify(key)} back from the SDK's PutObject path`, async () => {
      const req = await sdkRequest(() => client.send(new PutObjectCommand({ Bucket: "bkt", Key: key, Body: body })));
      const target = parseTarget(req.url!, req.headers.host);
      expect(target).toMatchObject({ bucket: "bkt", key });
      expect(req.url!.startsWith(target.rawPath)).toBe(true);
    });
  }

  it("treats + in a path as a literal plus and keeps the raw path and query", () => {
    const target = parseTarget("/bkt/a+b%20c?prefix=x+y&marker=%2B", "localhost:9000");
    expect(target).toMatchObject({ bucket: "bkt", key: "a+b c", rawPath: "/bkt/a+b%20c", rawQuery: "prefix=x+y&marker=%2B" });
    expect(target.query.get("prefix")).toBe("x y");
    expect(target.query.get("marker")).toBe("+");
  });

  /** [bucket, key] of a target */
  const split = (url: string, host?: string, domain?: string) => {
    const target = parseTarget(url, host, domain);
    return [target.bucket, target.key];
  };

  it("splits the service, a bucket and a key path-style", () => {
    expect(parseTarget("/", undefined)).toMatchObject({ rawPath: "/", rawQuery: "" });
    expect(split("/")).toEqual([undefined, undefined]);
    expect(split("/bkt")).toEqual(["bkt", undefined]);
    expect(split("/bkt/")).toEqual(["bkt", undefined]);
    expect(split("/bkt//")).toEqual(["bkt", "/"]);
    expect(parseTarget("http://localhost:9000/bkt/k?uploads", undefined)).toMatchObject({ bucket: "bkt", key: "k", rawPath: "/bkt/k", rawQuery: "uploads" });
  });

  it("reads the bucket from Host in virtual-host style when a domain is configured", () => {
    expect(split("/dir/k", "my.bucket.s3.local:9000", "s3.local")).toEqual(["my.bucket", "dir/k"]);
    expect(split("/", "Bkt.S3.Local", "s3.local")).toEqual(["bkt", undefined]);
    expect(split("//x", "bkt.s3.local", "s3.local")).toEqual(["bkt", "/x"]);
    // the bare domain, another host, or no domain at all: path style
    expect(split("/bkt/k", "s3.local:9000", "s3.local")).toEqual(["bkt", "k"]);
    expect(split("/bkt/k", "127.0.0.1:9000", "s3.local")).toEqual(["bkt", "k"]);
    expect(split("/bkt/k", "bkt.s3.local", undefined)).toEqual(["bkt", "k"]);
  });

  it("rejects a path that does not decode to UTF-8", () => {
    const error = thrown(() => parseTarget("/bkt/%C3%28", undefined));
    expect(error.code).toBe("InvalidURI");
    expect(error.status).toBe(400);
    expect(thrown(() => parseTarget("/bkt/%zz", undefined)).code).toBe("InvalidURI");
  });
});

describe("parsePartNumber", () => {
  it("accepts 1..10000 and nothing else", () => {
    expect(parsePartNumber("1")).toBe(1);
    expect(parsePartNumber("10000")).toBe(10000);
    for (const bad of ["0", "10001", "-1", "1.5", "", "abc", "1e3", " 1"]) {
      expect(thrown(() => parsePartNumber(bad)).code).toBe("InvalidArgument");
    }
  });
});

describe("parseCopySource", () => {
  it("reads the header the SDK sends", async () => {
    const req = await sdkRequest(() => client.send(new CopyObjectCommand({ Bucket: "bkt", Key: "k", CopySource: "src-bucket/dir/a b+c%25" })));
    expect(req.headers["x-amz-copy-source"]).toBeDefined();
    expect(parseCopySource(String(req.headers["x-amz-copy-source"]))).toEqual({ bucket: "src-bucket", key: "dir/a b+c%" });
  });

  it("accepts a leading slash and the null version, and decodes UTF-8", () => {
    expect(parseCopySource("/b/%C3%BC%2F..%2Fk?versionId=null")).toEqual({ bucket: "b", key: "ü/../k" });
  });

  it("rejects a missing key or bucket, bad encoding and specific versions", () => {
    for (const bad of ["b", "b/", "/k", "", "b/%C3%28"]) expect(thrown(() => parseCopySource(bad)).code).toBe("InvalidArgument");
    expect(thrown(() => parseCopySource("b/k?versionId=abc")).code).toBe("NotImplemented");
  });
});
