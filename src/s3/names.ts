// Validation of bucket names and object keys, with the errors S3 gives.
import { S3Error } from "./errors.js";

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** Prefixes and suffixes AWS reserves for its own features (access points, directory buckets, ...). */
const RESERVED_PREFIXES = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/** Throws InvalidBucketName unless `name` follows the S3 naming rules for general purpose buckets. */
export function validateBucketName(name: string): void {
  const valid =
    BUCKET_NAME.test(name) &&
    !name.includes("..") &&
    !IP_ADDRESS.test(name) &&
    !RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix)) &&
    !RESERVED_SUFFIXES.some((suffix) => name.endsWith(suffix));
  if (!valid) throw new S3Error("InvalidBucketName", "The specified bucket is not valid.", { BucketName: name });
}

const MAX_KEY_BYTES = 1024;
/** With the u flag a surrogate pair is one code point, so this matches only lone surrogates. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Throws unless `key` is a usable S3 object key: non-empty, valid Unicode, at most 1024 UTF-8 bytes. */
export function validateKey(key: string): void {
  if (key === "") throw new S3Error("InvalidArgument", "Object key must not be empty.", { ArgumentName: "key", ArgumentValue: "" });
  if (LONE_SURROGATE.test(key)) {
    throw new S3Error("InvalidArgument", "Object key is not valid UTF-8.", { ArgumentName: "key" });
  }
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) {
    throw new S3Error("KeyTooLongError", "Your key is too long", { Size: String(bytes), MaxSizeAllowed: String(MAX_KEY_BYTES) });
  }
}
