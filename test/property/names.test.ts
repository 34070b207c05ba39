// Properties of bucket name and key validation against the rules as AWS states
// them for general purpose buckets (3-63 characters of a-z 0-9 . -, a letter or
// digit at both ends, no "..", not an IP address, no reserved prefix or suffix)
// and for keys (1 to 1024 bytes of UTF-8), each written out plainly here.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { validateBucketName, validateKey } from "../../src/s3/names.js";

const isAlnum = (c: string) => (c >= "a" && c <= "z") || (c >= "0" && c <= "9");

function bucketNameOk(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (![...name].every((c) => isAlnum(c) || c === "." || c === "-")) return false;
  if (!isAlnum(name[0]!) || !isAlnum(name[name.length - 1]!)) return false;
  if (name.includes("..")) return false;
  const groups = name.split(".");
  if (groups.length === 4 && groups.every((g) => g.length >= 1 && g.length <= 3 && [...g].every((c) => c >= "0" && c <= "9"))) return false;
  if (["xn--", "sthree-", "amzn-s3-demo-"].some((p) => name.startsWith(p))) return false;
  if (["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"].some((s) => name.endsWith(s))) return false;
  return true;
}

function codeOf(fn: () => void): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    expect(error).toBeInstanceOf(S3Error);
    return (error as S3Error).code;
  }
}

const namePiece = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(..."abz09.-"), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom("xn--", "sthree-", "amzn-s3-demo-", "-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3", "..", "A", "_", " ", "é", "/") },
);
const bucketName = fc.oneof(
  fc.array(namePiece, { maxLength: 10 }).map((pieces) => pieces.join("")),
  fc.tuple(fc.nat(999), fc.nat(999), fc.nat(999), fc.nat(999)).map((parts) => parts.join(".")),
  fc.integer({ min: 60, max: 66 }).map((n) => `a${"b".repeat(n - 2)}c`),
);

describe("validateBucketName against the AWS rules", () => {
  it("accepts exactly the names the rules allow, refusing the others with InvalidBucketName", () => {
    fc.assert(
      fc.property(bucketName, (name) => {
        expect(codeOf(() => validateBucketName(name)), JSON.stringify(name)).toBe(bucketNameOk(name) ? "ok" : "InvalidBucketName");
      }),
      { numRuns: 2000 },
    );
  });
});

const LONE = fc.constantFrom("\uD800", "\uDBFF", "\uDC00", "\uDFFF");
const key = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  // around the 1024-byte limit, with characters of 1 to 4 UTF-8 bytes
  fc.tuple(fc.constantFrom("k", "é", "鍵", "🎉"), fc.integer({ min: 250, max: 1030 }), fc.string({ unit: "binary", maxLength: 3 }))
    .map(([c, n, tail]) => c.repeat(Math.floor(n / Buffer.byteLength(c))) + tail),
  fc.tuple(fc.string({ unit: "binary", maxLength: 10 }), LONE, fc.string({ unit: "binary", maxLength: 10 })).map(([a, lone, b]) => a + lone + b),
);

/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const high = unit >= 0xd800 && unit <= 0xdbff;
    const low = unit >= 0xdc00 && unit <= 0xdfff;
    const nextLow = i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff;
    if (high && nextLow) i++;
    else if (high || low) return true;
  }
  return false;
}

describe("validateKey against the key rules", () => {
  it("accepts 1 to 1024 bytes of valid UTF-8; empty or invalid is InvalidArgument, longer is KeyTooLongError", () => {
    fc.assert(
      fc.property(key, (k) => {
        const expected = k === "" || hasLoneSurrogate(k) ? "InvalidArgument" : Buffer.byteLength(k, "utf8") > 1024 ? "KeyTooLongError" : "ok";
        expect(codeOf(() => validateKey(k))).toBe(expected);
      }),
      { numRuns: 1500 },
    );
  });
});
