import { describe, expect, it } from "vitest";
import { checkCopySourceConditions, checkReadConditions, checkWriteConditions, parseHttpDate } from "../../src/s3/conditional.js";
import { S3Error } from "../../src/s3/errors.js";

const etag = "d41d8cd98f00b204e9800998ecf8427e";
// stored with milliseconds; clients echo Last-Modified with whole seconds
const lastModified = new Date("2024-03-10T12:00:00.750Z");
const object = { etag, lastModified };
const at = lastModified.toUTCString(); // "Sun, 10 Mar 2024 12:00:00 GMT", what GET/HEAD sent
const before = new Date("2024-03-10T11:59:59Z").toUTCString();
const after = new Date("2024-03-10T12:00:01Z").toUTCString();

function outcome(fn: () => void): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    if (error instanceof S3Error) return `${error.status} ${error.code}`;
    throw error;
  }
}

const read = (headers: Record<string, string>) => outcome(() => checkReadConditions(headers, object));

describe("checkReadConditions", () => {
  it("serves when there are no conditions", () => {
    expect(read({})).toBe("ok");
  });

  it("If-Match accepts quoted, unquoted, weak, lists and *", () => {
    for (const value of [`"${etag}"`, etag, `W/"${etag}"`, `"other", "${etag}"`, "*"]) expect(read({ "if-match": value })).toBe("ok");
    expect(read({ "if-match": '"other"' })).toBe("412 PreconditionFailed");
  });

  it("If-None-Match answers 304 when it matches", () => {
    expect(read({ "if-none-match": `"${etag}"` })).toBe("304 NotModified");
    expect(read({ "if-none-match": "*" })).toBe("304 NotModified");
    expect(read({ "if-none-match": '"other"' })).toBe("ok");
  });

  it("compares dates at whole seconds", () => {
    expect(read({ "if-modified-since": at })).toBe("304 NotModified");
    expect(read({ "if-modified-since": before })).toBe("ok");
    expect(read({ "if-modified-since": after })).toBe("304 NotModified");
    expect(read({ "if-unmodified-since": at })).toBe("ok");
    expect(read({ "if-unmodified-since": after })).toBe("ok");
    expect(read({ "if-unmodified-since": before })).toBe("412 PreconditionFailed");
  });

  it("follows S3's documented pairs", () => {
    // If-Match true + If-Unmodified-Since false -> 200
    expect(read({ "if-match": `"${etag}"`, "if-unmodified-since": before })).toBe("ok");
    // If-None-Match false + If-Modified-Since true -> 304
    expect(read({ "if-none-match": `"${etag}"`, "if-modified-since": before })).toBe("304 NotModified");
    // If-None-Match true: If-Modified-Since is not consulted (RFC 7232)
    expect(read({ "if-none-match": '"other"', "if-modified-since": after })).toBe("ok");
    // a failing If-Match wins over everything
    expect(read({ "if-match": '"other"', "if-none-match": `"${etag}"` })).toBe("412 PreconditionFailed");
  });

  it("ignores dates it cannot read", () => {
    expect(read({ "if-modified-since": "yesterday" })).toBe("ok");
    expect(read({ "if-unmodified-since": "2024-01-01T00:00:00Z" })).toBe("ok");
    expect(read({ "if-unmodified-since": "Fri, 30 Feb 2024 00:00:00 GMT" })).toBe("ok");
  });

  it("puts ETag and Last-Modified on the 304, and the condition on the 412", () => {
    try {
      checkReadConditions({ "if-none-match": etag }, object);
    } catch (error) {
      expect((error as S3Error).headers).toEqual({ etag: `"${etag}"`, "last-modified": "Sun, 10 Mar 2024 12:00:00 GMT" });
    }
    try {
      checkReadConditions({ "if-match": "nope" }, object);
    } catch (error) {
      expect((error as S3Error).details).toEqual({ Condition: "If-Match" });
    }
    expect.assertions(2);
  });
});

describe("checkCopySourceConditions", () => {
  const copy = (headers: Record<string, string>) => outcome(() => checkCopySourceConditions(headers, object));

  it("uses the x-amz-copy-source-if-* headers and fails with 412 only", () => {
    expect(copy({})).toBe("ok");
    expect(copy({ "if-match": '"other"' })).toBe("ok"); // not a copy-source condition
    expect(copy({ "x-amz-copy-source-if-match": `"${etag}"` })).toBe("ok");
    expect(copy({ "x-amz-copy-source-if-match": '"other"' })).toBe("412 PreconditionFailed");
    expect(copy({ "x-amz-copy-source-if-none-match": `"${etag}"` })).toBe("412 PreconditionFailed");
    expect(copy({ "x-amz-copy-source-if-modified-since": after })).toBe("412 PreconditionFailed");
    expect(copy({ "x-amz-copy-source-if-unmodified-since": before })).toBe("412 PreconditionFailed");
  });

  it("follows S3's documented pairs for copies", () => {
    expect(copy({ "x-amz-copy-source-if-match": etag, "x-amz-copy-source-if-unmodified-since": before })).toBe("ok");
    expect(copy({ "x-amz-copy-source-if-none-match": etag, "x-amz-copy-source-if-modified-since": before })).toBe("412 PreconditionFailed");
  });

  it("names the failing header", () => {
    try {
      checkCopySourceConditions({ "x-amz-copy-source-if-none-match": etag }, object);
    } catch (error) {
      expect((error as S3Error).details).toEqual({ Condition: "x-amz-copy-source-If-None-Match" });
    }
    expect.assertions(1);
  });
});

describe("checkWriteConditions", () => {
  const write = (headers: Record<string, string>, existing: { etag: string } | undefined) =>
    outcome(() => checkWriteConditions(headers, existing, "k"));

  it("If-None-Match: * writes only where nothing exists", () => {
    expect(write({ "if-none-match": "*" }, undefined)).toBe("ok");
    expect(write({ "if-none-match": "*" }, { etag })).toBe("412 PreconditionFailed");
    expect(write({ "if-none-match": `"${etag}"` }, undefined)).toBe("501 NotImplemented");
  });

  it("If-Match needs the object with that ETag", () => {
    expect(write({ "if-match": `"${etag}"` }, { etag })).toBe("ok");
    expect(write({ "if-match": '"other"' }, { etag })).toBe("412 PreconditionFailed");
    expect(write({ "if-match": `"${etag}"` }, undefined)).toBe("404 NoSuchKey");
  });

  it("does nothing without conditions", () => {
    expect(write({}, { etag })).toBe("ok");
    expect(write({}, undefined)).toBe("ok");
  });
});

describe("parseHttpDate", () => {
  it("reads IMF-fixdate like Date.parse does", () => {
    for (const iso of ["1994-11-06T08:49:37Z", "2024-02-29T23:59:59Z", "2038-01-19T03:14:08Z"]) {
      const text = new Date(iso).toUTCString();
      expect(parseHttpDate(text)).toBe(Date.parse(text));
    }
  });

  it("reads the obsolete RFC 850 and asctime forms as UTC", () => {
    const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(expected);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).toBe(expected);
  });

  it("returns undefined for anything else", () => {
    for (const text of ["", "1994-11-06T08:49:37Z", "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"]) {
      expect(parseHttpDate(text)).toBeUndefined();
    }
  });
});
