// Properties of SigV4 verification: any request @smithy/signature-v4 (the SDKs'
// signer, through the project's s3Signer) signs verifies, header auth and
// presigned; and changing any one byte of what the signature covers (method,
// path, query, a signed header, the Authorization header, the signature) is
// refused with an auth error, never accepted.
import fc from "fast-check";
import type { HttpRequest } from "@smithy/types";
import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { encodeKey, s3Signer } from "../../src/s3/signer.js";
import { verifyRequest, type AuthRequest } from "../../src/s3/sigv4.js";

const ACCESS = "AKIDEXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const lookup = (id: string) => (id === ACCESS ? SECRET : undefined);
const AUTH_ERRORS = new Set([
  "SignatureDoesNotMatch", "AccessDenied", "AuthorizationHeaderMalformed", "AuthorizationQueryParametersError",
  "RequestTimeTooSkewed", "InvalidAccessKeyId", "InvalidArgument", "InvalidRequest",
]);

/** RFC 3986 escaping, the wire form of query names and values the SDKs send. */
const escape = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

interface Signed {
  request: AuthRequest;
  date: Date;
}

const keyText = fc.string({ unit: "binary", minLength: 1, maxLength: 20 });
const queryText = fc.string({ unit: "binary", maxLength: 8 });
const headerValue = fc.string({ unit: fc.constantFrom(..."abcXYZ019 -_=/.:;,"), minLength: 1, maxLength: 12 }).filter((v) => v.trim() !== "");
const spec = fc.record({
  method: fc.constantFrom("GET", "PUT", "HEAD", "DELETE", "POST"),
  bucket: fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,10}[a-z0-9]$/),
  key: fc.option(keyText, { nil: undefined }),
  query: fc.dictionary(fc.oneof(fc.constantFrom("prefix", "uploadId", "partNumber", "list-type", "uploads"), queryText), queryText, { maxKeys: 4 }),
  meta: fc.dictionary(fc.stringMatching(/^x-amz-meta-[a-z0-9]{1,6}$/), headerValue, { maxKeys: 3 }),
  payload: fc.oneof(fc.constant("UNSIGNED-PAYLOAD"), fc.stringMatching(/^[0-9a-f]{64}$/)),
  region: fc.constantFrom("us-east-1", "eu-central-1", "local"),
  date: fc.date({ min: new Date("2001-01-01T00:00:00Z"), max: new Date("2090-12-31T00:00:00Z"), noInvalidDate: true }),
  presigned: fc.boolean(),
});

type Spec = typeof spec extends fc.Arbitrary<infer T> ? T : never;

/** Signs the request the spec describes and returns it the way the server would see it. */
async function sign(s: Spec, expiresIn = 3600): Promise<Signed> {
  const path = `/${s.bucket}${s.key === undefined ? "" : `/${encodeKey(s.key)}`}`;
  const date = new Date(Math.floor(s.date.getTime() / 1000) * 1000);
  const toSign: HttpRequest = {
    method: s.method, protocol: "http:", hostname: "localhost", port: 9000, path, query: { ...s.query },
    // a presigned URL's payload is UNSIGNED-PAYLOAD, as @aws-sdk/s3-request-presigner sends it
    headers: { host: "localhost:9000", "x-amz-content-sha256": s.presigned ? "UNSIGNED-PAYLOAD" : s.payload, ...s.meta },
  };
  const signer = s3Signer({ accessKeyId: ACCESS, secretAccessKey: SECRET }, s.region);
  const signed = s.presigned
    ? await signer.presign(toSign, { signingDate: date, expiresIn, unhoistableHeaders: new Set(Object.keys(s.meta)) })
    : await signer.sign(toSign, { signingDate: date });
  const query = signed.query as Record<string, string>;
  const rawQuery = Object.entries(query).map(([name, value]) => `${escape(name)}=${escape(value)}`).join("&");
  const headers = Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { request: { method: s.method, rawPath: path, rawQuery, headers }, date };
}

function verdict(request: AuthRequest, now: Date): string {
  try {
    verifyRequest(request, lookup, now);
    return "ok";
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    return (error as S3Error).code;
  }
}

describe("SigV4: what the SDK's signer signs verifies", () => {
  it("header auth and presigned URLs, any method, key, query, metadata, payload hash and region", async () => {
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const { request, date } = await sign(s);
        expect(verdict(request, date)).toBe("ok");
        // a presigned URL stays good until it expires, header auth within the allowed skew
        expect(verdict(request, new Date(date.getTime() + (s.presigned ? 3_599_000 : 14 * 60_000)))).toBe("ok");
      }),
      { numRuns: 150 },
    );
  });
});

/** Positions inside "%XX" escapes: changing the case of a hex digit there is the same request. */
function inEscape(text: string, at: number): boolean {
  return (at >= 1 && text[at - 1] === "%") || (at >= 2 && text[at - 2] === "%");
}

const replacement = fc.constantFrom(..."abcdefxyzABCXYZ0123456789");
type Part = "method" | "path" | "query" | "header" | "authorization";
const part = fc.constantFrom<Part>("method", "path", "query", "header", "authorization");

/** The request with one byte of `which` changed, or undefined when that part has no byte to change there. */
function mutate(request: AuthRequest, which: Part, position: number, char: string): AuthRequest | undefined {
  const change = (text: string, forbidEscapes: boolean): string | undefined => {
    if (text.length === 0) return undefined;
    const at = position % text.length;
    if (text[at] === char || (forbidEscapes && (text[at] === "%" || inEscape(text, at)))) return undefined;
    return text.slice(0, at) + char + text.slice(at + 1);
  };
  switch (which) {
    case "method": {
      const method = change(request.method, false)?.toUpperCase();
      return method === undefined || method === request.method ? undefined : { ...request, method };
    }
    case "path": {
      const rawPath = change(request.rawPath, true);
      return rawPath === undefined ? undefined : { ...request, rawPath };
    }
    case "query": {
      const rawQuery = change(request.rawQuery, true);
      return rawQuery === undefined ? undefined : { ...request, rawQuery };
    }
    case "header": {
      const signed = /SignedHeaders=([^,&]+)/.exec(String(request.headers.authorization ?? ""))?.[1]?.split(";")
        ?? decodeURIComponent(/X-Amz-SignedHeaders=([^&]+)/.exec(request.rawQuery)![1]!).split(";");
      const name = signed[position % signed.length]!;
      const value = change(String(request.headers[name]), false);
      return value === undefined ? undefined : { ...request, headers: { ...request.headers, [name]: value } };
    }
    case "authorization": {
      if (request.headers.authorization === undefined) return undefined;
      const authorization = change(String(request.headers.authorization), false);
      return authorization === undefined ? undefined : { ...request, headers: { ...request.headers, authorization } };
    }
  }
}

describe("SigV4: one changed byte is always refused", () => {
  it("in the method, path, query, a signed header or the Authorization header", async () => {
    await fc.assert(
      fc.asyncProperty(spec, part, fc.nat(), replacement, async (s, which, position, char) => {
        const { request, date } = await sign(s);
        const changed = mutate(request, which, position, char);
        fc.pre(changed !== undefined);
        const code = verdict(changed!, date);
        expect(code, `${which} changed: ${JSON.stringify(changed)}`).not.toBe("ok");
        expect(AUTH_ERRORS).toContain(code);
      }),
      { numRuns: 300 },
    );
  });

  it("in the signature itself (header or X-Amz-Signature), for every hex digit", async () => {
    await fc.assert(
      fc.asyncProperty(spec, fc.nat(63), fc.constantFrom(..."0123456789abcdef"), async (s, at, digit) => {
        const { request, date } = await sign(s);
        const flip = (signature: string) => signature.slice(0, at) + digit + signature.slice(at + 1);
        const signature = /Signature=([0-9a-f]{64})/.exec(String(request.headers.authorization ?? request.rawQuery))![1]!;
        fc.pre(signature[at] !== digit);
        const changed = request.headers.authorization !== undefined
          ? { ...request, headers: { ...request.headers, authorization: String(request.headers.authorization).replace(signature, flip(signature)) } }
          : { ...request, rawQuery: request.rawQuery.replace(`X-Amz-Signature=${signature}`, `X-Amz-Signature=${flip(signature)}`) };
        expect(verdict(changed, date)).toBe("SignatureDoesNotMatch");
      }),
      { numRuns: 150 },
    );
  });
});

describe("SigV4: expiry and clock skew", () => {
  const MAX_SKEW = 15 * 60_000;
  // offsets of the server's clock from the signing time: around each boundary, and anywhere
  const offset = (expires: number) => fc.oneof(
    fc.constantFrom(-MAX_SKEW - 1000, -MAX_SKEW, 0, MAX_SKEW, MAX_SKEW + 1000, expires * 1000, expires * 1000 + 1000),
    fc.integer({ min: -2 * MAX_SKEW, max: 2 * MAX_SKEW }),
    fc.integer({ min: 0, max: expires * 1000 + MAX_SKEW }),
  );

  it("header auth holds exactly within 15 minutes either way; a presigned URL from 15 minutes early until it expires", async () => {
    await fc.assert(
      fc.asyncProperty(spec, fc.integer({ min: 1, max: 604800 }), async (s, expires) => {
        const { request, date } = await sign({ ...s, presigned: false });
        const url = (await sign({ ...s, presigned: true }, expires)).request;
        await fc.assert(
          fc.asyncProperty(offset(expires), async (ms) => {
            const now = new Date(date.getTime() + ms);
            expect(verdict(request, now)).toBe(Math.abs(ms) <= MAX_SKEW ? "ok" : "RequestTimeTooSkewed");
            expect(verdict(url, now)).toBe(-ms <= MAX_SKEW && ms <= expires * 1000 ? "ok" : "AccessDenied");
          }),
          { numRuns: 10 },
        );
      }),
      { numRuns: 60 },
    );
  });
});
