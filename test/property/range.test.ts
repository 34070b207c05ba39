// Property: parseRange agrees with a small model of S3's Range handling for any
// object size and any header, valid or not. The model is written from RFC 9110
// §14.1.2 (byte-range-spec, suffix-range) narrowed to what S3 does: one range
// only ("Amazon S3 doesn't support retrieving multiple ranges of data per GET
// request"; a multi-range header is ignored and the whole object served).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { parseRange } from "../../src/s3/range.js";

type Outcome = { kind: "whole" } | { kind: "range"; start: number; end: number } | { kind: "416" };

const isDigits = (text: string) => text.length > 0 && [...text].every((c) => c >= "0" && c <= "9");

/** What S3 answers for `header` on an object of `size` bytes. */
function model(header: string | undefined, size: number): Outcome {
  if (header === undefined) return { kind: "whole" };
  const text = header.trim();
  if (!text.startsWith("bytes=")) return { kind: "whole" };
  const spec = text.slice("bytes=".length);
  // several ranges, or anything that is not exactly one "first-last"
  const dash = spec.indexOf("-");
  if (dash < 0 || spec.indexOf("-", dash + 1) >= 0) return { kind: "whole" };
  const first = spec.slice(0, dash);
  const last = spec.slice(dash + 1);
  if ((first !== "" && !isDigits(first)) || (last !== "" && !isDigits(last))) return { kind: "whole" };
  if (first === "") {
    if (last === "") return { kind: "whole" };
    const suffix = Number(last);
    // a zero-length suffix selects nothing: unsatisfiable
    if (suffix === 0) return { kind: "416" };
    if (size === 0) return { kind: "whole" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Number.POSITIVE_INFINITY : Number(last);
  // RFC 9110: a last-pos below first-pos makes the spec invalid, and an invalid Range is ignored
  if (end < start) return { kind: "whole" };
  if (start >= size) return { kind: "416" };
  return { kind: "range", start, end: Math.min(end, size - 1) };
}

function actual(header: string | undefined, size: number): Outcome {
  try {
    const range = parseRange(header, size);
    return range === undefined ? { kind: "whole" } : { kind: "range", start: range.start, end: range.end };
  } catch (error) {
    // the only thing it may throw
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code).toBe("InvalidRange");
    expect((error as S3Error).status).toBe(416);
    expect((error as S3Error).headers["content-range"]).toBe(`bytes */${size}`);
    return { kind: "416" };
  }
}

const size = fc.oneof(fc.constantFrom(0, 1, 2), fc.nat(10_000), fc.maxSafeNat());
/** positions near the interesting points of any size, and far beyond it */
const position = fc.oneof(fc.nat(20), fc.nat(20_000), fc.bigInt({ min: 0n, max: 10n ** 25n }).map(String));
const digits = position.map(String);
const leadingZeros = fc.tuple(fc.nat(3), digits).map(([zeros, n]) => "0".repeat(zeros) + n);
const number = fc.oneof(digits, leadingZeros);
const whitespace = fc.constantFrom("", " ", "\t", "  ");

const singleRange = fc.oneof(
  fc.tuple(number, number).map(([a, b]) => `${a}-${b}`),
  number.map((n) => `-${n}`),
  number.map((n) => `${n}-`),
  fc.constant("-"),
);
const junk = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: fc.constantFrom("0", "1", "9", "-", ",", " ", "=", "x", "+", ".", "e"), maxLength: 12 }),
);
const header = fc.oneof(
  fc.constant(undefined),
  fc.tuple(whitespace, singleRange, whitespace).map(([a, r, b]) => `${a}bytes=${r}${b}`),
  fc.array(singleRange, { minLength: 2, maxLength: 4 }).map((ranges) => `bytes=${ranges.join(",")}`),
  fc.array(singleRange, { minLength: 2, maxLength: 3 }).map((ranges) => `bytes=${ranges.join(", ")}`),
  fc.tuple(fc.constantFrom("Bytes=", "BYTES=", "items=", "bytes =", "bytes", "=", ""), singleRange).map(([unit, r]) => unit + r),
  fc.tuple(singleRange, junk).map(([r, j]) => `bytes=${r}${j}`),
  fc.tuple(junk, singleRange).map(([j, r]) => `bytes=${j}${r}`),
  junk.map((j) => `bytes=${j}`),
  junk,
);

describe("parseRange against the model", () => {
  it("agrees on every size and header, and never throws anything but InvalidRange", () => {
    fc.assert(
      fc.property(header, size, (h, n) => {
        expect(actual(h, n)).toEqual(model(h, n));
      }),
      { numRuns: 1500 },
    );
  });

  it("a range it returns always lies inside the object", () => {
    fc.assert(
      fc.property(header, size, (h, n) => {
        const outcome = actual(h, n);
        if (outcome.kind !== "range") return;
        expect(Number.isSafeInteger(outcome.start) && Number.isSafeInteger(outcome.end)).toBe(true);
        expect(0 <= outcome.start && outcome.start <= outcome.end && outcome.end <= n - 1).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it("every satisfiable single range of an object is served exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.nat(), fc.nat(), (n, a, b) => {
        const start = a % n;
        const end = start + (b % (n - start));
        expect(parseRange(`bytes=${start}-${end}`, n)).toEqual({ start, end });
        expect(parseRange(`bytes=-${end - start + 1}`, n)).toEqual({ start: n - (end - start + 1), end: n - 1 });
        expect(parseRange(`bytes=${start}-`, n)).toEqual({ start, end: n - 1 });
      }),
      { numRuns: 500 },
    );
  });
});
