import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { contentRange, parseRange, partRange } from "../../src/s3/range.js";

function thrown(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof S3Error) return error;
    throw error;
  }
  throw new Error("expected an S3Error");
}

describe("parseRange", () => {
  it("reads the three forms of a single byte range", () => {
    expect(parseRange("bytes=0-0", 100)).toEqual({ start: 0, end: 0 });
    expect(parseRange("bytes=10-19", 100)).toEqual({ start: 10, end: 19 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange("bytes=-20", 100)).toEqual({ start: 80, end: 99 });
  });

  it("clamps an end past the object and serves a long suffix as the whole object", () => {
    expect(parseRange("bytes=50-1000", 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange("bytes=0-99999999999999999999", 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange("bytes=-150", 100)).toEqual({ start: 0, end: 99 });
  });

  it("is undefined (whole object) without a header", () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
  });

  it("ignores what S3 ignores: bad syntax, several ranges, end before start", () => {
    for (const header of ["", "bytes=", "bytes=-", "bytes=a-b", "items=0-1", "bytes=0-1,5-6", "bytes=1-0", "bytes=3-0", "bytes=0-1-2", "0-1"]) {
      expect(parseRange(header, 100)).toBeUndefined();
    }
  });

  it("answers InvalidRange (416) for a start at or past the end, with Content-Range: bytes */size", () => {
    for (const header of ["bytes=100-", "bytes=100-200", "bytes=1000-1001", "bytes=-0"]) {
      const error = thrown(() => parseRange(header, 100));
      expect(error.code).toBe("InvalidRange");
      expect(error.status).toBe(416);
      expect(error.headers).toEqual({ "content-range": "bytes */100" });
      expect(error.details).toEqual({ ActualObjectSize: "100", RangeRequested: header });
    }
  });

  it("follows S3 on an empty object: bytes=0- is 416, a suffix is the whole (empty) object", () => {
    expect(thrown(() => parseRange("bytes=0-", 0)).code).toBe("InvalidRange");
    expect(thrown(() => parseRange("bytes=0-0", 0)).headers).toEqual({ "content-range": "bytes */0" });
    expect(parseRange("bytes=-1", 0)).toBeUndefined();
    expect(parseRange("bytes=1-0", 0)).toBeUndefined();
  });
});

describe("contentRange", () => {
  it("writes bytes first-last/size", () => {
    expect(contentRange({ start: 80, end: 99 }, 100)).toBe("bytes 80-99/100");
  });
});

describe("partRange", () => {
  const MiB = 1024 * 1024;
  const parts = [5 * MiB, 5 * MiB, 1];

  it("selects a part of a multipart object", () => {
    expect(partRange(parts, 1, 10 * MiB + 1)).toEqual({ start: 0, end: 5 * MiB - 1 });
    expect(partRange(parts, 2, 10 * MiB + 1)).toEqual({ start: 5 * MiB, end: 10 * MiB - 1 });
    expect(partRange(parts, 3, 10 * MiB + 1)).toEqual({ start: 10 * MiB, end: 10 * MiB });
  });

  it("treats an object without parts as one part", () => {
    expect(partRange(undefined, 1, 42)).toEqual({ start: 0, end: 41 });
    expect(partRange(undefined, 1, 0)).toBeUndefined();
  });

  it("answers 400 InvalidPart for a part the object does not have", () => {
    for (const [sizes, n] of [[parts, 4], [parts, 0], [undefined, 2]] as const) {
      const error = thrown(() => partRange(sizes as number[] | undefined, n, 100));
      expect([error.code, error.status]).toEqual(["InvalidPart", 400]);
      expect(error.details.PartNumber).toBe(String(n));
    }
  });
});
