// Hostile bodies over a raw socket: Content-Length that lies (shorter or longer
// than what is sent, conflicting, with Transfer-Encoding), aws-chunked framing
// that is broken in each way a client can break it, XML bombs, XXE and bodies
// over their size limit. Whatever happens to the connection, a refused PutObject
// leaves the old object as it was and a refused UploadPart leaves the parts.
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { crc32 } from "node:zlib";
import {
  CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadBucketCommand, ListObjectsV2Command, ListPartsCommand,
  PutObjectCommand, S3Client, UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeChunked, smithySigner, type ChunkSigning } from "../s3/auth-chunked.js";
import { ACCESS_KEY, SECRET_KEY, startServer, type RunningServer } from "./harness.js";
import { expectS3Error, md5Base64, queryString, sha256Hex, signedSend, signHeaders, type RawRequest } from "./raw-http.js";

let server: RunningServer;
let client: S3Client;
const bucket = `hostile-body-${process.pid}`;
const ORIGINAL = "the original object";
let uploadId = "";
let partOneEtag = "";

beforeAll(async () => {
  // a silent client is cut after 1 s instead of the default 5 min
  server = await startServer({ args: ["--request-timeout", "1s"] });
  client = server.client();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: "victim", Body: ORIGINAL }));
  uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "mpu" }))).UploadId!;
  partOneEtag = (await client.send(new UploadPartCommand({ Bucket: bucket, Key: "mpu", UploadId: uploadId, PartNumber: 1, Body: "part one" }))).ETag!;
});

afterAll(async () => {
  client?.destroy();
  await server?.destroy();
});

interface Exchange {
  /** status of the first response, undefined when the connection closed without one */
  status?: number;
  code?: string;
  text: string;
}

/** Writes `head` and `body` on a fresh connection (optionally half-closing it) and reads until it closes. */
function exchange(head: string, body: Buffer, options: { halfClose?: boolean; waitMs?: number } = {}): Promise<Exchange> {
  const url = new URL(server.endpoint);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1], text });
    };
    const timer = setTimeout(finish, options.waitMs ?? 5000);
    socket.on("data", (data: Buffer) => received.push(data));
    // the server's FIN ends its answer; no need to wait for the socket to be torn down
    socket.on("end", finish);
    socket.on("close", finish);
    socket.on("error", () => {});
    socket.write(head);
    socket.write(body, () => {
      if (options.halfClose) socket.end();
    });
  });
}

/** A signed request head declaring `contentLength` (signed too), with `extra` header lines added after signing. */
async function head(request: RawRequest, contentLength: string, payloadHash: string, extra: Record<string, string> = {}): Promise<string> {
  const headers = await signHeaders(server.endpoint, { ...request, headers: { ...request.headers, "content-length": contentLength } }, { payloadHash });
  const lines = Object.entries({ ...headers, ...extra }).map(([name, value]) => `${name}: ${value}`);
  return `${request.method} ${request.path}${queryString(request.query)} HTTP/1.1\r\n${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`;
}

async function victim(): Promise<string> {
  return (await client.send(new GetObjectCommand({ Bucket: bucket, Key: "victim" }))).Body!.transformToString();
}

async function parts(): Promise<[number | undefined, string | undefined][]> {
  const listed = await client.send(new ListPartsCommand({ Bucket: bucket, Key: "mpu", UploadId: uploadId }));
  return (listed.Parts ?? []).map((part) => [part.PartNumber, part.ETag]);
}

const TARGETS: [name: string, request: () => RawRequest, unchanged: () => Promise<void>][] = [
  ["PutObject over an existing object", () => ({ method: "PUT", path: `/${bucket}/victim` }), async () => expect(await victim()).toBe(ORIGINAL)],
  ["UploadPart over part 1", () => ({ method: "PUT", path: `/${bucket}/mpu`, query: { partNumber: "1", uploadId } }),
    async () => expect(await parts()).toEqual([[1, partOneEtag]])],
  ["UploadPart of a new part 2", () => ({ method: "PUT", path: `/${bucket}/mpu`, query: { partNumber: "2", uploadId } }),
    async () => expect(await parts()).toEqual([[1, partOneEtag]])],
];

const body = Buffer.from("0123456789abcdefghij");

/**
 * The bytes past a short Content-Length are a broken second request: Node's parser
 * may reject the connection (InvalidRequest) before the first request is answered.
 * Either answer is a 400; what matters is that the first request stored nothing.
 */
async function expectShortBodyRefused(result: Exchange, code: string, unchanged: () => Promise<void>): Promise<void> {
  expect(result.status, result.text).toBe(400);
  expect([code, "InvalidRequest"], result.text).toContain(result.code);
  // the handler of the first request may still be finishing
  await sleep(300);
  await unchanged();
}

describe.each(TARGETS)("Content-Length lies: %s", (_name, request, unchanged) => {
  it("shorter than the body, payload hash of the whole body: 400, nothing stored", async () => {
    const result = await exchange(await head(request(), "10", sha256Hex(body)), body);
    await expectShortBodyRefused(result, "XAmzContentSHA256Mismatch", unchanged);
  });

  it("shorter than the body, unsigned payload with the Content-MD5 of the whole body: 400, nothing stored", async () => {
    const result = await exchange(await head(request(), "10", "UNSIGNED-PAYLOAD", { "content-md5": md5Base64(body) }), body);
    await expectShortBodyRefused(result, "BadDigest", unchanged);
  });

  it("longer than the body, then the client closes: never a 200", async () => {
    const result = await exchange(await head(request(), "40", "UNSIGNED-PAYLOAD"), body, { halfClose: true });
    expect(result.status === undefined || result.status >= 400, result.text).toBe(true);
    await unchanged();
  });

  it("longer than the body, then the client goes silent: cut by the request timeout", async () => {
    const started = Date.now();
    const result = await exchange(await head(request(), "40", "UNSIGNED-PAYLOAD"), body, { waitMs: 8000 });
    expect(Date.now() - started, "the connection was cut").toBeLessThan(7000);
    expect(result.status === undefined || result.status >= 400, result.text).toBe(true);
    await unchanged();
  });

  it.each([
    ["two different Content-Length headers", { "content-length": "20\r\ncontent-length: 10" }],
    ["Content-Length and Transfer-Encoding: chunked together", { "transfer-encoding": "chunked" }],
    ["a negative Content-Length", { "content-length": "-20" }],
    ["a Content-Length that is not a number", { "content-length": "twenty" }],
  ])("%s: 400, nothing stored", async (_case, extra) => {
    const result = await exchange(await head(request(), "20", sha256Hex(body), extra), body, { waitMs: 3000 });
    expect(result.status, result.text).toBe(400);
    await unchanged();
  });
});

// ---------------------------------------------------------------- aws-chunked

const STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const data = randomBytes(20_000);
const crc32Base64 = (bytes: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(bytes));
  return out.toString("base64");
};

/** A PutObject of `data` over the victim as a signed aws-chunked stream, with `mutate` applied to the wire body. */
async function chunkedPut(options: {
  mode?: string;
  mutate?: (body: string) => string;
  decodedLength?: number;
  trailer?: string;
  trailerValue?: string;
  contentLengthDelta?: number;
  waitMs?: number;
}): Promise<Exchange> {
  const mode = options.mode ?? STREAMING;
  const date = new Date();
  const trailerHeaders: Record<string, string> = mode === STREAMING_TRAILER ? { "x-amz-trailer": "x-amz-checksum-crc32" } : {};
  const request: RawRequest = {
    method: "PUT",
    path: `/${bucket}/victim`,
    headers: { "content-encoding": "aws-chunked", "x-amz-decoded-content-length": String(options.decodedLength ?? data.length), ...trailerHeaders },
  };
  const headers = await signHeaders(server.endpoint, request, { date, payloadHash: mode });
  const amzDate = headers["x-amz-date"]!;
  const signing: ChunkSigning = {
    signer: smithySigner(ACCESS_KEY, SECRET_KEY),
    date,
    amzDate,
    scope: `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`,
    seedSignature: /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!,
  };
  const trailers = mode === STREAMING_TRAILER ? { [options.trailer ?? "x-amz-checksum-crc32"]: options.trailerValue ?? crc32Base64(data) } : undefined;
  const encoded = await encodeChunked(data, 8192, { signing, trailers, signTrailer: trailers !== undefined });
  const wire = Buffer.from((options.mutate ?? ((text) => text))(encoded.toString("latin1")), "latin1");
  const length = wire.length + (options.contentLengthDelta ?? 0);
  const lines = Object.entries({ ...headers, "content-length": String(length) }).map(([name, value]) => `${name}: ${value}`);
  const requestHead = `PUT ${request.path} HTTP/1.1\r\n${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`;
  return exchange(requestHead, wire, { waitMs: options.waitMs ?? 5000 });
}

const SIGNATURE = /chunk-signature=[0-9a-f]{64}/g;

describe("aws-chunked framing errors (PutObject over an existing object)", () => {
  it("a correct signed stream is stored (the baseline), and the victim is restored after", async () => {
    const result = await chunkedPut({});
    expect(result.status, result.text).toBe(200);
    expect(Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: "victim" }))).Body!.transformToByteArray()).equals(data)).toBe(true);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "victim", Body: ORIGINAL }));
  });

  const cases: [name: string, options: Parameters<typeof chunkedPut>[0], codes: string[]][] = [
    ["a chunk size that is not hex", { mutate: (text) => text.replace(/^2000;/, "zz00;") }, ["InvalidArgument", "IncompleteBody"]],
    ["a chunk size larger than the data that follows", { mutate: (text) => text.replace(/^2000;/, "2100;") }, ["InvalidArgument", "SignatureDoesNotMatch", "IncompleteBody"]],
    ["a chunk size smaller than the data that follows", { mutate: (text) => text.replace(/^2000;/, "1fff;") }, ["InvalidArgument", "SignatureDoesNotMatch"]],
    ["no final zero-length chunk", { mutate: (text) => text.slice(0, text.lastIndexOf("0;chunk-signature=")) }, ["IncompleteBody"]],
    ["a chunk without its chunk-signature", { mutate: (text) => text.replace(/;chunk-signature=[0-9a-f]{64}/, "") }, ["InvalidArgument", "SignatureDoesNotMatch"]],
    ["the second chunk's signature replaced by the first's", {
      mutate: (text) => {
        const [first] = text.match(SIGNATURE)!;
        let seen = 0;
        return text.replace(SIGNATURE, (signature) => (++seen === 2 ? first! : signature));
      },
    }, ["SignatureDoesNotMatch"]],
    ["one data byte changed", { mutate: (text) => text.replace(/\r\n([\s\S])/, (_, c: string) => `\r\n${String.fromCharCode(c.charCodeAt(0) ^ 1)}`) }, ["SignatureDoesNotMatch"]],
    ["bytes after the final chunk", { mutate: (text) => `${text}junk` }, ["InvalidArgument", "IncompleteBody"]],
    ["x-amz-decoded-content-length shorter than the data", { decodedLength: data.length - 1 }, ["IncompleteBody", "InvalidArgument"]],
    ["x-amz-decoded-content-length longer than the data", { decodedLength: data.length + 1 }, ["IncompleteBody", "InvalidArgument"]],
    ["Content-Length shorter than the chunked body", { contentLengthDelta: -100 }, ["IncompleteBody", "SignatureDoesNotMatch", "InvalidArgument", "InvalidRequest"]],
    ["a trailer checksum that does not match (trailer correctly signed)", { mode: STREAMING_TRAILER, trailerValue: crc32Base64(Buffer.from("other")) }, ["BadDigest"]],
    ["a trailer signature that does not match", {
      mode: STREAMING_TRAILER, mutate: (text) => text.replace(/x-amz-trailer-signature:([0-9a-f])/, (_, c: string) => `x-amz-trailer-signature:${c === "0" ? "1" : "0"}`),
    }, ["SignatureDoesNotMatch"]],
    ["a trailer other than the one x-amz-trailer announced", { mode: STREAMING_TRAILER, trailer: "x-amz-checksum-sha256", trailerValue: createHash("sha256").update(data).digest("base64") }, ["MalformedTrailerError", "InvalidRequest", "InvalidArgument"]],
    ["the trailer missing", { mode: STREAMING_TRAILER, mutate: (text) => text.replace(/x-amz-checksum-crc32:[^\r]*\r\nx-amz-trailer-signature:[0-9a-f]+\r\n/, "") }, ["MalformedTrailerError", "IncompleteBody"]],
  ];

  it.each(cases)("%s: refused, the old object stays", async (_name, options, codes) => {
    const result = await chunkedPut(options);
    expect(result.status, result.text).toBeGreaterThanOrEqual(400);
    expect(codes, result.text.slice(0, 600)).toContain(result.code);
    expect(await victim()).toBe(ORIGINAL);
  });

  it("Content-Length longer than the chunked body, client silent: cut, the old object stays", async () => {
    const result = await chunkedPut({ contentLengthDelta: 100, waitMs: 8000 });
    expect(result.status === undefined || result.status >= 400, result.text).toBe(true);
    expect(await victim()).toBe(ORIGINAL);
  });
});

// ---------------------------------------------------------------- XML

describe("XML bombs, XXE and oversized control bodies", () => {
  const laughs = '<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">' +
    '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]><Delete><Object><Key>&e;</Key></Object></Delete>';
  const xxe = (root: string, inner: string) => `<?xml version="1.0"?><!DOCTYPE ${root} [<!ENTITY x SYSTEM "file:///etc/passwd">]><${root}>${inner}</${root}>`;
  const deleteVictim = (xml: string) => signedSend(server.endpoint, { method: "POST", path: `/${bucket}`, query: { delete: "" }, headers: { "content-md5": md5Base64(xml) }, body: xml });
  const complete = (xml: string) => signedSend(server.endpoint, { method: "POST", path: `/${bucket}/mpu`, query: { uploadId }, body: xml });

  it("DeleteObjects with a billion-laughs DTD: 400 MalformedXML, nothing deleted", async () => {
    expectS3Error(await deleteVictim(laughs), 400, "MalformedXML");
    expect(await victim()).toBe(ORIGINAL);
  });

  it("DeleteObjects with an external entity naming the victim: 400 MalformedXML, nothing read or deleted", async () => {
    const response = await deleteVictim(xxe("Delete", "<Object><Key>&x;</Key></Object><Object><Key>victim</Key></Object>"));
    expectS3Error(response, 400, "MalformedXML");
    expect(response.body.toString()).not.toMatch(/root:/);
    expect(await victim()).toBe(ORIGINAL);
  });

  it("CompleteMultipartUpload with an external entity: 400 MalformedXML, the upload stays", async () => {
    const response = await complete(xxe("CompleteMultipartUpload", `<Part><PartNumber>1</PartNumber><ETag>&x;</ETag></Part>`));
    expectS3Error(response, 400, "MalformedXML");
    expect(await parts()).toEqual([[1, partOneEtag]]);
  });

  it("CreateBucket with an external entity in its configuration: 400 MalformedXML, no bucket", async () => {
    const name = `${bucket}-xxe`;
    const response = await signedSend(server.endpoint, { method: "PUT", path: `/${name}`, body: xxe("CreateBucketConfiguration", "<LocationConstraint>&x;</LocationConstraint>") });
    expectS3Error(response, 400, "MalformedXML");
    await expect(client.send(new HeadBucketCommand({ Bucket: name }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it("100 000 nested elements: 400 MalformedXML, and the server still answers", async () => {
    const deep = `<Delete>${"<Object>".repeat(100_000)}${"</Object>".repeat(100_000)}</Delete>`;
    expectS3Error(await deleteVictim(deep), 400, "MalformedXML");
    expect(await victim()).toBe(ORIGINAL);
  });

  it.each([
    ["DeleteObjects", 2 * 1024 * 1024, (xml: string) => deleteVictim(xml)],
    ["CompleteMultipartUpload", 2 * 1024 * 1024, (xml: string) => complete(xml)],
    ["CreateBucket", 64 * 1024, (xml: string) => signedSend(server.endpoint, { method: "PUT", path: `/${bucket}-big`, body: xml })],
  ])("%s with a body over its %i-byte limit: 400 MaxMessageLengthExceeded", async (_name, limit, sendXml) => {
    const xml = `<Delete>${" ".repeat(limit)}</Delete>`;
    expectS3Error(await sendXml(xml), 400, "MaxMessageLengthExceeded");
    expect(await victim()).toBe(ORIGINAL);
    expect(await parts()).toEqual([[1, partOneEtag]]);
    expect((await client.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount).toBe(1);
  });
});
