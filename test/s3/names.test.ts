import { describe, expect, it } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { validateBucketName, validateKey } from "../../src/s3/names.js";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (error instanceof S3Error) return error.code;
    throw error;
  }
}

describe("validateBucketName", () => {
  it("accepts names that follow the S3 rules", () => {
    for (const name of ["abc", "my-bucket", "my.bucket.name", "0bucket9", "a".repeat(63), "xn-not-prefix", "1.2.3.4a", "s3alias-ok"]) {
      expect(code(() => validateBucketName(name))).toBeUndefined();
    }
  });

  it("rejects names that break them", () => {
    for (const name of [
      "ab", // too short
      "a".repeat(64), // too long
      "My-Bucket", // upper case
      "my_bucket", // underscore
      "-bucket",
      "bucket-",
      ".bucket",
      "bucket.",
      "my..bucket",
      "192.168.5.4", // IP address
      "xn--bucket",
      "sthree-bucket",
      "amzn-s3-demo-bucket",
      "bucket-s3alias",
      "bucket--ol-s3",
      "bucket.mrap",
      "bucket--x-s3",
      "bucket--table-s3",
      "bück",
      "",
    ]) {
      expect(code(() => validateBucketName(name)), name).toBe("InvalidBucketName");
    }
  });

  it("names the bucket in the error", () => {
    try {
      validateBucketName("Bad");
    } catch (error) {
      expect((error as S3Error).details).toEqual({ BucketName: "Bad" });
      expect((error as S3Error).status).toBe(400);
    }
    expect.assertions(2);
  });
});

describe("validateKey", () => {
  it("accepts any non-empty well-formed key up to 1024 UTF-8 bytes", () => {
    for (const key of ["k", "a//b", "../x", "a/", "trailing ", "\u0001ctrl", "😀", "é".repeat(512), "x".repeat(1024)]) {
      expect(code(() => validateKey(key))).toBeUndefined();
    }
  });

  it("counts bytes, not characters", () => {
    expect(code(() => validateKey("é".repeat(513)))).toBe("KeyTooLongError"); // 1026 bytes, 513 chars
    expect(code(() => validateKey("x".repeat(1025)))).toBe("KeyTooLongError");
    expect(code(() => validateKey("😀".repeat(257)))).toBe("KeyTooLongError"); // 1028 bytes
  });

  it("rejects an empty key and lone surrogates", () => {
    expect(code(() => validateKey(""))).toBe("InvalidArgument");
    expect(code(() => validateKey("a\uD800b"))).toBe("InvalidArgument");
    expect(code(() => validateKey("\uDE00"))).toBe("InvalidArgument");
  });
});
