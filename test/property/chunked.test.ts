// Properties of the aws-chunked decoder: a body framed and signed the way the
// SDKs do it decodes to exactly its data however the network splits it, and a
// body with any one byte changed either fails with an S3 error or (when the
// change means the same thing, e.g. hex case in a chunk size) still decodes to
// exactly the same data: never other bytes, never a hang, never another exception.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { decodePayload, planPayload, type PayloadPlan } from "../../src/s3/payload.js";
import { verifyRequest, type AuthResult } from "../../src/s3/sigv4.js";
import { collect, encodeChunked, readableOf, signStreamingPut, smithySigner } from "../s3/auth-chunked.js";

const ACCESS = "AKIDCHUNKED";
const SECRET = "chunked-secret";
const DATE = new Date("2025-06-07T08:09:10Z");
const DECODE_ERRORS = new Set(["SignatureDoesNotMatch", "IncompleteBody", "InvalidArgument", "BadDigest", "MalformedTrailerError", "InvalidRequest", "XAmzContentSHA256Mismatch"]);

type Mode = "signed" | "signed-trailer" | "unsigned-trailer";

/** The plan for a PUT of `length` bytes in `mode`, and an encoder for its body. */
async function setup(mode: Mode, data: Buffer, chunkSize: number): Promise<{ plan: PayloadPlan; body: Buffer }> {
  const sha256 = createHash("sha256").update(data).digest("base64");
  if (mode === "unsigned-trailer") {
    const headers = { "content-encoding": "aws-chunked", "x-amz-decoded-content-length": String(data.length), "x-amz-trailer": "x-amz-checksum-sha256" };
    const auth: AuthResult = { accessKeyId: ACCESS, region: "us-east-1", payload: { mode: "streaming-unsigned-trailer" } };
    return { plan: planPayload(headers, auth), body: await encodeChunked(data, chunkSize, { trailers: { "x-amz-checksum-sha256": sha256 } }) };
  }
  const trailer = mode === "signed-trailer";
  const signed = await signStreamingPut({
    signer: smithySigner(ACCESS, SECRET),
    date: DATE,
    contentSha256: trailer ? "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" : "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    decodedLength: data.length,
    extraHeaders: trailer ? { "x-amz-trailer": "x-amz-checksum-sha256" } : {},
  });
  const auth = verifyRequest({ method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: signed.headers }, (id) => (id === ACCESS ? SECRET : undefined), DATE);
  const body = await encodeChunked(data, chunkSize, { signing: signed.signing, ...(trailer ? { trailers: { "x-amz-checksum-sha256": sha256 }, signTrailer: true } : {}) });
  return { plan: planPayload(signed.headers, auth), body };
}

/** Decodes `pieces`: the bytes, or the S3 error code; "hang" if it neither ends nor fails. */
async function decode(plan: PayloadPlan, pieces: Buffer[]): Promise<{ bytes?: Buffer; code: string }> {
  const { data } = decodePayload(readableOf(pieces), plan);
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<{ code: string }>((resolve) => (timer = setTimeout(() => resolve({ code: "hang" }), 2000)));
  const outcome = collect(data).then(
    (bytes) => ({ bytes, code: "ok" }),
    (error: unknown) => {
      expect(error, String(error)).toBeInstanceOf(S3Error);
      return { code: (error as S3Error).code };
    },
  );
  try {
    return await Promise.race([outcome, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** `body` cut at the given points (sorted, deduplicated). */
function cut(body: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (body.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const point of at) {
    pieces.push(body.subarray(start, point));
    start = point;
  }
  pieces.push(body.subarray(start));
  return pieces;
}

const mode = fc.constantFrom<Mode>("signed", "signed-trailer", "unsigned-trailer");
const data = fc.uint8Array({ maxLength: 3000 }).map((bytes) => Buffer.from(bytes));
const chunkSize = fc.integer({ min: 1, max: 1200 });
const cuts = fc.array(fc.nat(), { maxLength: 6 });

describe("aws-chunked decoding", () => {
  it("a well-formed body decodes to exactly its data, however it is split", async () => {
    await fc.assert(
      fc.asyncProperty(mode, data, chunkSize, cuts, async (m, bytes, size, points) => {
        const { plan, body } = await setup(m, bytes, size);
        const result = await decode(plan, cut(body, points));
        expect(result.code).toBe("ok");
        expect(result.bytes!.equals(bytes)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("one changed byte anywhere is an S3 error or the very same data, never other bytes or a hang", async () => {
    await fc.assert(
      fc.asyncProperty(mode, data, chunkSize, fc.nat(), fc.integer({ min: 1, max: 255 }), cuts, async (m, bytes, size, position, delta, points) => {
        const { plan, body } = await setup(m, bytes, size);
        const changed = Buffer.from(body);
        const at = position % changed.length;
        changed[at] = (changed[at]! + delta) % 256;
        const result = await decode(plan, cut(changed, points));
        const where = `byte ${at} of ${changed.length} (${JSON.stringify(body.subarray(Math.max(0, at - 8), at + 8).toString("latin1"))})`;
        if (result.code === "ok") expect(result.bytes!.equals(bytes), `decoded other bytes after changing ${where}`).toBe(true);
        else expect(DECODE_ERRORS, where).toContain(result.code);
      }),
      { numRuns: 300 },
    );
  });

  it("a body cut short anywhere is IncompleteBody (or a framing error), never a shorter object", async () => {
    await fc.assert(
      fc.asyncProperty(mode, data, chunkSize, fc.nat(), async (m, bytes, size, position) => {
        const { plan, body } = await setup(m, bytes, size);
        // the final CRLF may be left out (the decoder accepts that), so cut before it
        const end = position % Math.max(1, body.length - 2);
        const result = await decode(plan, [body.subarray(0, end)]);
        expect(result.code).not.toBe("ok");
        expect(DECODE_ERRORS).toContain(result.code);
      }),
      { numRuns: 150 },
    );
  });
});
