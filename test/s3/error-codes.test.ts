// S3ErrorCode is the error table's keys: a code S3 does not have, or a typo, does not compile.
// `npm run lint` typechecks the tests (tsconfig.test.json): if the table stopped typing its
// codes, the @ts-expect-error below would be unused, and that is a compile error.
import { describe, expect, it } from "vitest";
import { S3Error, isS3ErrorCode, type S3ErrorCode } from "../../src/s3/errors.js";

describe("S3ErrorCode", () => {
  it("accepts the table's codes only", () => {
    const known: S3ErrorCode = "NoSuchKey";
    // @ts-expect-error a misspelt code is not an S3ErrorCode
    const misspelt: S3ErrorCode = "NoSuchKye";
    // @ts-expect-error nor is a code the table does not have, where an S3Error is made
    const widget = () => new S3Error("NoSuchWidget", "no");
    expect(widget).toBeTypeOf("function");
    expect(isS3ErrorCode(known)).toBe(true);
    expect(isS3ErrorCode(misspelt)).toBe(false);
    expect(new S3Error(known, "gone").status).toBe(404);
  });
});
