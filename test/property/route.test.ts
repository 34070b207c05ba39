// Properties of the request parser and router: keys survive encoding in every
// form a client may send them (path style, virtual-host style, absolute-form),
// any request-target at all either parses or fails with InvalidURI, and the
// operation is always one the handler table serves, or a known S3 error.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { parseTarget, resolveOperation, type S3Target } from "../../src/s3/route.js";
import { encodeKey } from "../../src/s3/signer.js";
import { HANDLERS } from "../../src/server/handlers/index.js";

const OPERATIONS = new Set(Object.keys(HANDLERS));
const ROUTER_ERRORS = new Set(["NotImplemented", "MethodNotAllowed", "InvalidArgument"]);

/** Pieces that stress path handling: dot segments, empty segments, escapes, NUL, astral characters. */
const keyPiece = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  { weight: 3, arbitrary: fc.constantFrom("/", "//", "..", ".", "../", "./", "%", "%2F", "+", " ", "?", "#", "&", "=", ";", "\u0000", "\u007f", "é", "鍵", "🎉", "\uFEFF", "\\") },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 4 }) },
);
const key = fc.oneof(
  { weight: 8, arbitrary: fc.array(keyPiece, { minLength: 1, maxLength: 12 }).map((pieces) => pieces.join("")) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("k", "é", "🎉", "/"), fc.integer({ min: 200, max: 2000 })).map(([c, n]) => c.repeat(n)) },
).filter((k) => k !== "");

const bucketName = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]$/);
const domain = fc.constantFrom("s3.local", "localhost", "s3.example.com", "x.y");
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });

/** Ways a client percent-encodes a key for the path: "/" kept or escaped, hex in either case. */
const encoder = fc.constantFrom<[string, (k: string) => string]>(
  ["encodeKey", encodeKey],
  ["encodeURIComponent", encodeURIComponent],
  ["lower-case hex", (k) => encodeKey(k).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())],
  ["every byte escaped", (k) => [...Buffer.from(k, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")],
);

const queryValue = fc.string({ unit: "binary", maxLength: 6 }).map((v) => encodeURIComponent(v));
const query = fc.oneof(
  fc.constant(""),
  fc.array(fc.tuple(fc.constantFrom("prefix", "uploads", "uploadId", "partNumber", "x-id", "list-type", "delete", "location", "tagging", "acl", "versionId", "zz"), queryValue), { maxLength: 4 })
    .map((pairs) => pairs.map(([name, value]) => (value === "" ? name : `${name}=${value}`)).join("&")),
  fc.string({ maxLength: 10 }),
);

function thrownS3(fn: () => unknown): S3Error | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    // nothing but an S3Error may come out: anything else would be a 500
    expect(error).toBeInstanceOf(S3Error);
    return error as S3Error;
  }
}

describe("parseTarget: keys round-trip", () => {
  it("path style: /bucket/<encoded key>[?query] gives the bucket, the key, and the raw path and query as sent", () => {
    fc.assert(
      fc.property(bucketName, key, encoder, query, (bucket, k, [, encode], q) => {
        const rawPath = `/${bucket}/${encode(k)}`;
        const target = parseTarget(q === "" ? rawPath : `${rawPath}?${q}`, "127.0.0.1:9000");
        expect(target.bucket).toBe(bucket);
        expect(target.key).toBe(k);
        expect(target.rawPath).toBe(rawPath);
        expect(target.rawQuery).toBe(q);
      }),
      { numRuns: 400 },
    );
  });

  it("virtual-host style: Host bucket.<domain>[:port] and /<encoded key>", () => {
    fc.assert(
      fc.property(bucketName, domain, port, key, encoder, fc.boolean(), (bucket, d, p, k, [, encode], shout) => {
        const host = `${bucket}.${d}${p === undefined ? "" : `:${p}`}`;
        const target = parseTarget(`/${encode(k)}`, shout ? host.toUpperCase() : host, d);
        expect(target.bucket).toBe(bucket);
        expect(target.key).toBe(k);
      }),
      { numRuns: 400 },
    );
  });

  it("the bare domain or another host falls back to path style", () => {
    fc.assert(
      fc.property(bucketName, domain, port, key, (bucket, d, p, k) => {
        const path = `/${bucket}/${encodeKey(k)}`;
        for (const host of [d, `${d}:${p ?? 80}`, "127.0.0.1:9000", undefined]) {
          expect(parseTarget(path, host, d)).toMatchObject({ bucket, key: k });
        }
      }),
      { numRuns: 150 },
    );
  });

  it("absolute-form (http://host/bucket/key) names the same bucket and key as origin-form", () => {
    fc.assert(
      fc.property(bucketName, key, query, (bucket, k, q) => {
        const origin = `/${bucket}/${encodeKey(k)}${q === "" ? "" : `?${q}`}`;
        const absolute = parseTarget(`http://127.0.0.1:9000${origin}`, undefined);
        const plain = parseTarget(origin, undefined);
        expect({ ...absolute, query: undefined }).toEqual({ ...plain, query: undefined });
      }),
      { numRuns: 150 },
    );
  });
});

/** Any request-target: valid escapes, broken escapes, invalid UTF-8, dot segments, raw unicode. */
const rawPiece = fc.oneof(
  fc.string({ unit: "binary", maxLength: 5 }),
  fc.constantFrom("/", "//", "..", ".", "%", "%2", "%zz", "%00", "%2F", "%C3%28", "%E2%82", "%ED%A0%80", "%F4%90%80%80", "%C3%A9", "%F0%9F%8E%89", "?", "&", "=", "+", "#", "\u0000", "http://h"),
);
const rawUrl = fc.array(rawPiece, { maxLength: 16 }).map((pieces) => pieces.join(""));
const method = fc.constantFrom("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "get", "Put", "TRACE");
const headers = fc.record({ "x-amz-copy-source": fc.constantFrom("/a/b", "", "x") }, { requiredKeys: [] });

describe("parseTarget and resolveOperation on any input", () => {
  it("parse or InvalidURI; then a handled operation or a known S3 error; never another exception", () => {
    fc.assert(
      fc.property(rawUrl, fc.option(fc.string({ maxLength: 30 }), { nil: undefined }), fc.option(domain, { nil: undefined }), method, headers,
        (url, host, d, verb, h) => {
          let target: S3Target | undefined;
          const parseError = thrownS3(() => (target = parseTarget(url, host, d)));
          if (parseError !== undefined) {
            expect(parseError.code).toBe("InvalidURI");
            expect(parseError.status).toBe(400);
            return;
          }
          // a key it decoded is one a client can address: encoding it again names it again
          if (target!.key !== undefined && target!.bucket !== undefined && d === undefined && !target!.bucket.includes("/")) {
            expect(parseTarget(`/${encodeURIComponent(target!.bucket)}/${encodeKey(target!.key)}`, host).key).toBe(target!.key);
          }
          let operation: string | undefined;
          const routeError = thrownS3(() => (operation = resolveOperation(verb, target!, h)));
          if (routeError !== undefined) {
            expect(ROUTER_ERRORS).toContain(routeError.code);
            return;
          }
          expect(OPERATIONS).toContain(operation);
        }),
      { numRuns: 1500 },
    );
  });

  it("method case and query parameters that select nothing never change the operation", () => {
    const unknownParam = fc.stringMatching(/^zz-[a-z]{1,6}$/);
    fc.assert(
      fc.property(fc.option(bucketName, { nil: undefined }), fc.option(key, { nil: undefined }), query, method, headers, unknownParam, queryValue,
        (bucket, k, q, verb, h, extra, value) => {
          const path = bucket === undefined ? "/" : `/${bucket}${k === undefined ? "" : `/${encodeKey(k)}`}`;
          const outcome = (url: string, m: string) => {
            let result: string | undefined;
            const error = thrownS3(() => (result = resolveOperation(m, parseTarget(url, undefined), h)));
            return error === undefined ? result : `error ${error.code}`;
          };
          const base = outcome(`${path}?${q}`, verb);
          expect(outcome(`${path}?${q}`, verb.toLowerCase())).toBe(base);
          expect(outcome(`${path}?${q}&${extra}=${value}`, verb)).toBe(base);
          expect(outcome(`${path}?${extra}=${value}${q === "" ? "" : `&${q}`}`, verb)).toBe(base);
        }),
      { numRuns: 400 },
    );
  });
});
