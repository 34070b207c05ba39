import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import { PutObjectCommand, UploadPartCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChecksum } from "../../src/s3/checksums.js";
import { decodePayload, planPayload, type PayloadPlan } from "../../src/s3/payload.js";
import { verifyRequest, type AuthResult } from "../../src/s3/sigv4.js";
import { CaptureServer, lookup } from "./auth-capture.js";
import { collect, encodeChunked, readableOf, signStreamingPut, smithySigner, type ChunkSigning } from "./auth-chunked.js";

const ACCESS = "AKIDPAYLOAD";
const SECRET = "payload-secret";
const payloadLookup = (id: string) => (id === ACCESS ? SECRET : undefined);
const DATE = new Date("2024-03-04T05:06:07Z");

const UNSIGNED: AuthResult = { accessKeyId: "k", region: "us-east-1", payload: { mode: "unsigned" } };
const base64Crc32 = (data: Buffer) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString("base64");
};
const md5 = (data: Buffer) => createHash("md5").update(data).digest();
const sha256Hex = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Decodes `pieces` and resolves with the bytes and digests, or with the S3 error code. */
async function run(plan: PayloadPlan, pieces: Buffer[] | Readable) {
  const { data, digests } = decodePayload(Array.isArray(pieces) ? readableOf(pieces) : pieces, plan);
  try {
    const bytes = await collect(data);
    return { bytes, digests: digests(), code: "ok" };
  } catch (error) {
    return { code: (error as { code?: string }).code ?? String(error), message: (error as Error).message };
  }
}

function planError(headers: Record<string, string>, auth: AuthResult = UNSIGNED): string {
  try {
    planPayload(headers, auth);
    return "ok";
  } catch (error) {
    return (error as { code: string }).code;
  }
}

/** Every way of cutting `body` in two, plus byte-by-byte delivery. */
function splits(body: Buffer): Buffer[][] {
  const cuts: Buffer[][] = [];
  for (let at = 0; at <= body.length; at++) cuts.push([body.subarray(0, at), body.subarray(at)]);
  cuts.push([...body].map((byte) => Buffer.from([byte])));
  return cuts;
}

const server = new CaptureServer();
beforeAll(() => server.start());
afterAll(() => server.stop());

describe("what the real @aws-sdk/client-s3 sends", () => {
  it("PutObject with a Buffer body: signed payload, CRC32 header", async () => {
    const client = server.client();
    const body = randomBytes(3000);
    const req = await server.capture(() => client.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: body, ContentMD5: md5(body).toString("base64") })));
    client.destroy();
    const auth = verifyRequest(req, lookup);
    expect(auth.payload).toEqual({ mode: "signed", sha256: sha256Hex(body) });
    const plan = planPayload(req.headers, auth);
    expect(plan.chunked).toBeUndefined();
    expect(plan.checksum).toEqual({ algorithm: "CRC32", expected: base64Crc32(body) });
    const result = await run(plan, [req.body]);
    expect(result.code).toBe("ok");
    expect(result.bytes!.equals(body)).toBe(true);
    expect(result.digests).toEqual({ size: 3000, md5: md5(body), checksum: { algorithm: "CRC32", value: base64Crc32(body) } });
  });

  it("PutObject with a stream body: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer, split anywhere", async () => {
    const client = server.client();
    const pieces = [randomBytes(100), randomBytes(7), randomBytes(1000)];
    const body = Buffer.concat(pieces);
    const req = await server.capture(() =>
      client.send(new PutObjectCommand({ Bucket: "b", Key: "k", ContentLength: body.length, Body: Readable.from(pieces), ContentEncoding: "gzip" })),
    );
    client.destroy();
    expect(req.headers["x-amz-content-sha256"]).toBe("STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    expect(req.headers["x-amz-trailer"]).toBe("x-amz-checksum-crc32");
    const auth = verifyRequest(req, lookup);
    const plan = planPayload(req.headers, auth);
    expect(plan.contentEncoding).toBe("gzip");
    expect(plan.checksum).toEqual({ algorithm: "CRC32" });
    for (const split of splits(req.body)) {
      const result = await run(plan, split);
      expect(result.code).toBe("ok");
      expect(result.bytes!.equals(body)).toBe(true);
      expect(result.digests!.checksum).toEqual({ algorithm: "CRC32", value: base64Crc32(body) });
    }
    // a flipped data byte is caught by the trailing checksum
    const tampered = Buffer.from(req.body);
    tampered[req.body.indexOf("\r\n") + 5] ^= 1;
    expect(await run(plan, [tampered])).toMatchObject({ code: "BadDigest", message: "The CRC32 you specified did not match the calculated checksum." });
  });

  it("UploadPart with a stream body and CRC32C", async () => {
    const client = server.client();
    const body = randomBytes(70_000);
    const req = await server.capture(() =>
      client.send(
        new UploadPartCommand({ Bucket: "b", Key: "k", UploadId: "u", PartNumber: 3, ContentLength: body.length, Body: Readable.from([body]), ChecksumAlgorithm: "CRC32C" }),
      ),
    );
    client.destroy();
    const plan = planPayload(req.headers, verifyRequest(req, lookup));
    const result = await run(plan, [req.body]);
    const expected = createChecksum("CRC32C");
    expected.update(body);
    expect(result.digests!.checksum).toEqual({ algorithm: "CRC32C", value: expected.digest().toString("base64") });
    expect(result.bytes!.equals(body)).toBe(true);
  });
});

describe("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", () => {
  it("matches the example in the AWS S3 documentation (seed and chunk signatures)", async () => {
    const headers = {
      host: "s3.amazonaws.com",
      "x-amz-date": "20130524T000000Z",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
      authorization:
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
      "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": "66560",
      "content-length": "66824",
    };
    const docsLookup = (id: string) => (id === "AKIAIOSFODNN7EXAMPLE" ? "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" : undefined);
    const auth = verifyRequest({ method: "PUT", rawPath: "/examplebucket/chunkObject.txt", rawQuery: "", headers }, docsLookup, new Date("2013-05-24T00:05:00Z"));
    const data = Buffer.alloc(66560, "a");
    const body = Buffer.concat([
      Buffer.from("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"),
      data.subarray(0, 65536),
      Buffer.from("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"),
      data.subarray(65536),
      Buffer.from("\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"),
    ]);
    expect(body.length).toBe(66824);
    const plan = planPayload(headers, auth);
    const result = await run(plan, [body]);
    expect(result.code).toBe("ok");
    expect(result.bytes!.equals(data)).toBe(true);
    const tampered = Buffer.from(body);
    tampered[body.length - 10] ^= 1; // inside the final chunk's signature
    expect((await run(plan, [tampered])).code).toBe("SignatureDoesNotMatch");
  });

  let signing: ChunkSigning;
  let plan: PayloadPlan;
  const data = randomBytes(300);
  beforeAll(async () => {
    const signed = await signStreamingPut({
      signer: smithySigner(ACCESS, SECRET),
      date: DATE,
      contentSha256: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      decodedLength: data.length,
    });
    signing = signed.signing;
    const auth = verifyRequest({ method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: signed.headers }, payloadLookup, DATE);
    plan = planPayload(signed.headers, auth);
  });

  it("decodes chunks signed by @smithy/signature-v4, split at every byte boundary", async () => {
    const body = await encodeChunked(data, 128, { signing });
    for (const split of splits(body)) {
      const result = await run(plan, split);
      expect(result.code).toBe("ok");
      expect(result.bytes!.equals(data)).toBe(true);
    }
  });

  it("rejects tampered data, signatures, reordered chunks and truncation", async () => {
    const body = await encodeChunked(data, 128, { signing });
    const dataAt = body.indexOf("\r\n") + 2;
    const flipped = (at: number) => {
      const copy = Buffer.from(body);
      copy[at] ^= 1;
      return copy;
    };
    expect((await run(plan, [flipped(dataAt + 3)])).code).toBe("SignatureDoesNotMatch");
    expect((await run(plan, [flipped(body.indexOf("chunk-signature=", 200) + 20)])).code).toMatch(/SignatureDoesNotMatch|InvalidArgument/);
    expect((await run(plan, [body.subarray(0, body.length - 3)])).code).toBe("IncompleteBody");
    expect((await run(plan, [body.subarray(0, 150)])).code).toBe("IncompleteBody");
    expect((await run(plan, [Buffer.concat([body, Buffer.from("x")])])).code).toBe("InvalidArgument");
    // a body chunk-signed with another secret
    const otherSigning = { ...signing, signer: smithySigner(ACCESS, "other-secret") };
    expect((await run(plan, [await encodeChunked(data, 128, { signing: otherSigning })])).code).toBe("SignatureDoesNotMatch");
    // unsigned framing where signatures are required
    expect((await run(plan, [await encodeChunked(data, 128)])).code).toBe("InvalidArgument");
  });
});

describe("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", () => {
  const data = randomBytes(1000);
  let signing: ChunkSigning;
  let plan: PayloadPlan;
  beforeAll(async () => {
    const signed = await signStreamingPut({
      signer: smithySigner(ACCESS, SECRET, "eu-central-1"),
      region: "eu-central-1",
      date: DATE,
      contentSha256: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
      decodedLength: data.length,
      extraHeaders: { "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "crc32" },
    });
    signing = signed.signing;
    plan = planPayload(signed.headers, verifyRequest({ method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: signed.headers }, payloadLookup, DATE));
  });

  it("verifies the trailer signature and checksum", async () => {
    const body = await encodeChunked(data, 400, { signing, trailers: { "x-amz-checksum-crc32": base64Crc32(data) }, signTrailer: true });
    for (const split of splits(body).filter((_, index) => index % 7 === 0)) {
      const result = await run(plan, split);
      expect(result.code).toBe("ok");
      expect(result.digests!.checksum).toEqual({ algorithm: "CRC32", value: base64Crc32(data) });
    }
  });

  it("rejects a wrong trailer checksum, a tampered trailer, and a missing trailer signature or trailer", async () => {
    const wrong = base64Crc32(Buffer.from("other"));
    const goodSignature = await encodeChunked(data, 400, { signing, trailers: { "x-amz-checksum-crc32": wrong }, signTrailer: true });
    expect(await run(plan, [goodSignature])).toMatchObject({ code: "BadDigest", message: "The CRC32 you specified did not match the calculated checksum." });
    const body = await encodeChunked(data, 400, { signing, trailers: { "x-amz-checksum-crc32": base64Crc32(data) }, signTrailer: true });
    const text = body.toString("latin1");
    const swapped = Buffer.from(text.replace(`x-amz-checksum-crc32:${base64Crc32(data)}`, `x-amz-checksum-crc32:${wrong}`), "latin1");
    expect((await run(plan, [swapped])).code).toBe("SignatureDoesNotMatch");
    const unsignedTrailer = await encodeChunked(data, 400, { signing, trailers: { "x-amz-checksum-crc32": base64Crc32(data) } });
    expect((await run(plan, [unsignedTrailer])).code).toBe("MalformedTrailerError");
    const noTrailer = await encodeChunked(data, 400, { signing, signTrailer: true });
    expect((await run(plan, [noTrailer])).code).toBe("MalformedTrailerError");
  });
});

describe("STREAMING-UNSIGNED-PAYLOAD-TRAILER built by hand", () => {
  const data = randomBytes(500);
  const headers = {
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": String(data.length),
    "x-amz-trailer": "x-amz-checksum-sha256",
  };
  const auth: AuthResult = { accessKeyId: "k", region: "r", payload: { mode: "streaming-unsigned-trailer" } };
  const sha256Base64 = createHash("sha256").update(data).digest("base64");

  it("accepts chunks of any size and a body that omits the final empty line", async () => {
    const plan = planPayload(headers, auth);
    const body = await encodeChunked(data, 33, { trailers: { "x-amz-checksum-sha256": sha256Base64 } });
    expect((await run(plan, [body])).digests!.checksum).toEqual({ algorithm: "SHA256", value: sha256Base64 });
    expect((await run(plan, [body.subarray(0, body.length - 2)])).code).toBe("ok");
    expect((await run(plan, [body.subarray(0, body.length - 3)])).code).toBe("IncompleteBody");
  });

  it("rejects malformed framing without hanging", async () => {
    const plan = planPayload(headers, auth);
    const good = await encodeChunked(data, 100, { trailers: { "x-amz-checksum-sha256": sha256Base64 } });
    const cases: [string, Buffer][] = [
      ["non-hex size", Buffer.from(good.toString("latin1").replace(/^64/, "zz"), "latin1")],
      ["LF only", Buffer.from(good.toString("latin1").replace("\r\n", "\n"), "latin1")],
      ["data not followed by CRLF", Buffer.from(good.toString("latin1").replace(/\r\n64\r\n/, "XX64\r\n"), "latin1")],
      ["endless header line", Buffer.alloc(10_000, "1")],
    ];
    for (const [name, body] of cases) expect((await run(plan, [body])).code, name).toBe("InvalidArgument");
    expect((await run(plan, [Buffer.from("1f4\r\n")])).code).toBe("IncompleteBody");
    expect((await run(plan, [await encodeChunked(data.subarray(1), 100, { trailers: { "x-amz-checksum-sha256": sha256Base64 } })])).code).toBe("IncompleteBody");
    expect((await run(plan, [await encodeChunked(data, 100)])).code).toBe("MalformedTrailerError");
    const badValue = await encodeChunked(data, 100, { trailers: { "x-amz-checksum-sha256": "not base64!" } });
    expect((await run(plan, [badValue])).code).toBe("InvalidRequest");
  });
});

describe("plain bodies", () => {
  const data = randomBytes(2000);
  const signedAuth: AuthResult = { accessKeyId: "k", region: "r", payload: { mode: "signed", sha256: sha256Hex(data) } };

  it("checks length, x-amz-content-sha256, Content-MD5 and checksum headers", async () => {
    const headers = { "content-length": "2000", "content-md5": md5(data).toString("base64"), "x-amz-checksum-crc64nvme": (() => {
      const checksum = createChecksum("CRC64NVME");
      checksum.update(data);
      return checksum.digest().toString("base64");
    })() };
    const plan = planPayload(headers, signedAuth);
    const ok = await run(plan, [data.subarray(0, 999), data.subarray(999)]);
    expect(ok.code).toBe("ok");
    expect(ok.digests!.size).toBe(2000);

    expect((await run(plan, [data.subarray(0, 1999)])).code).toBe("IncompleteBody");
    expect((await run(plan, [data, Buffer.from("x")])).code).toBe("IncompleteBody");
    const flipped = Buffer.from(data);
    flipped[1234] ^= 0x80;
    expect((await run(plan, [flipped])).code).toBe("XAmzContentSHA256Mismatch");
    expect((await run(planPayload(headers, UNSIGNED), [flipped])).code).toBe("BadDigest");
    const noMd5 = planPayload({ ...headers, "content-md5": undefined } as never, UNSIGNED);
    expect(await run(noMd5, [flipped])).toMatchObject({ code: "BadDigest", message: "The CRC64NVME you specified did not match the calculated checksum." });
  });

  it("fails (never ends) when the source errors or is cut off", async () => {
    const plan = planPayload({ "content-length": "2000" }, UNSIGNED);
    const broken = new Readable({ read() {} });
    broken.push(data.subarray(0, 100));
    setImmediate(() => broken.destroy(new Error("ECONNRESET")));
    expect((await run(plan, broken)).code).toBe("IncompleteBody");
  });

  it("reports digests only after the stream ended", () => {
    const { digests } = decodePayload(readableOf([data]), planPayload({ "content-length": "2000" }, UNSIGNED));
    expect(() => digests()).toThrow();
  });
});

describe("planPayload of a Transfer-Encoding: chunked body", () => {
  it("has no length to meet: the object is what arrives", () => {
    expect(planPayload({ "transfer-encoding": "chunked" }, UNSIGNED).decodedLength).toBeUndefined();
    expect(planPayload({ "transfer-encoding": "gzip, chunked" }, UNSIGNED).decodedLength).toBeUndefined();
    expect(planPayload({ "transfer-encoding": "chunked", "content-length": "4" }, UNSIGNED).decodedLength).toBe(4);
  });
});

describe("planPayload header validation", () => {
  const chunkedAuth: AuthResult = { accessKeyId: "k", region: "r", payload: { mode: "streaming-unsigned-trailer" } };
  it("rejects bad header combinations before reading", () => {
    expect(planError({ "content-length": "5", "content-md5": "nope" })).toBe("InvalidDigest");
    expect(planError({ "content-length": "5", "content-md5": Buffer.alloc(15).toString("base64") })).toBe("InvalidDigest");
    expect(planError({ "transfer-encoding": "gzip" })).toBe("MissingContentLength");
    expect(planError({ "content-encoding": "aws-chunked" }, chunkedAuth)).toBe("MissingContentLength");
    expect(planError({ "content-length": "abc" })).toBe("InvalidArgument");
    expect(planError({ "content-length": "5", "x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" })).toBe("InvalidRequest");
    expect(planError({ "content-length": "5", "x-amz-checksum-crc32": "AAAA" })).toBe("InvalidRequest");
    expect(planError({ "content-length": "5", "x-amz-sdk-checksum-algorithm": "CRC32" })).toBe("InvalidRequest");
    expect(planError({ "content-length": "5", "x-amz-sdk-checksum-algorithm": "SHA256", "x-amz-checksum-crc32": "AAAAAA==" })).toBe("InvalidRequest");
    expect(planError({ "content-length": "5", "x-amz-trailer": "x-amz-checksum-crc32" })).toBe("InvalidRequest");
    expect(planError({ "x-amz-decoded-content-length": "5", "x-amz-trailer": "x-amz-meta-foo" }, chunkedAuth)).toBe("InvalidRequest");
    expect(planError({ "x-amz-decoded-content-length": "5", "content-encoding": "aws-chunked" }, { ...chunkedAuth, payload: { mode: "signed", sha256: "0".repeat(64) } })).toBe(
      "InvalidArgument",
    );
    expect(planError({ "x-amz-decoded-content-length": "5", "x-amz-trailer": "x-amz-checksum-crc32" }, chunkedAuth)).toBe("ok");
  });

  it("keeps other content encodings for the stored object", () => {
    expect(planPayload({ "x-amz-decoded-content-length": "1", "content-encoding": "aws-chunked, gzip" }, chunkedAuth).contentEncoding).toBe("gzip");
    expect(planPayload({ "x-amz-decoded-content-length": "1", "content-encoding": "aws-chunked" }, chunkedAuth).contentEncoding).toBeUndefined();
    expect(planPayload({ "content-length": "1", "content-encoding": "br" }, UNSIGNED).contentEncoding).toBe("br");
    expect(planPayload({ "x-amz-decoded-content-length": "1", "content-encoding": "aws-chunked, deflate, gzip" }, chunkedAuth).contentEncoding).toBe("deflate, gzip");
    expect(planPayload({ "x-amz-decoded-content-length": "1", "content-encoding": "deflate,  aws-chunked ,gzip" }, chunkedAuth).contentEncoding).toBe("deflate,gzip");
  });
});

describe("throughput (printed, not asserted)", () => {
  const TOTAL = 200 * 1024 * 1024;

  async function measure(label: string, plan: PayloadPlan, source: Readable): Promise<void> {
    const { data, digests } = decodePayload(source, plan);
    const start = performance.now();
    let size = 0;
    for await (const chunk of data) size += (chunk as Buffer).length;
    const seconds = (performance.now() - start) / 1000;
    expect(size).toBe(TOTAL);
    expect(digests().size).toBe(TOTAL);
    console.log(`${label}: ${(TOTAL / 1024 / 1024 / seconds).toFixed(0)} MB/s`);
  }

  it("plain 200 MB body (MD5 only)", async () => {
    const block = randomBytes(1 << 20);
    const plan = planPayload({ "content-length": String(TOTAL) }, UNSIGNED);
    await measure("plain, md5", plan, Readable.from((function* () {
      for (let sent = 0; sent < TOTAL; sent += block.length) yield block;
    })()));
  });

  it("aws-chunked 200 MB body in 64 KiB chunks with a CRC32 trailer, delivered in 64 KiB reads", async () => {
    const chunk = randomBytes(64 * 1024);
    const framed = Buffer.concat([Buffer.from(`10000\r\n`), chunk, Buffer.from("\r\n")]);
    const group = Buffer.concat(Array.from({ length: 16 }, () => framed));
    const count = TOTAL / chunk.length;
    let crc = 0;
    for (let i = 0; i < count; i++) crc = crc32(chunk, crc);
    const crcBuffer = Buffer.alloc(4);
    crcBuffer.writeUInt32BE(crc);
    const trailer = Buffer.from(`0\r\nx-amz-checksum-crc32:${crcBuffer.toString("base64")}\r\n\r\n`);
    const plan = planPayload(
      { "content-encoding": "aws-chunked", "x-amz-decoded-content-length": String(TOTAL), "x-amz-trailer": "x-amz-checksum-crc32" },
      { accessKeyId: "k", region: "r", payload: { mode: "streaming-unsigned-trailer" } },
    );
    const source = Readable.from((function* () {
      for (let groups = 0; groups < count / 16; groups++) {
        for (let offset = 0; offset < group.length; offset += 65536) yield group.subarray(offset, offset + 65536);
      }
      yield trailer;
    })());
    await measure("aws-chunked, md5 + crc32", plan, source);
  });
});
