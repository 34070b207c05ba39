// The x-amz-copy-source-range header of UploadPartCopy.
import { S3Error } from "../../s3/errors.js";
import type { ByteRange } from "../../store/types.js";

/** x-amz-copy-source-range: "bytes=first-last", both required and inside the source. */
export function parseCopySourceRange(value: string | undefined, size: number): ByteRange | undefined {
  if (value === undefined) return undefined;
  const match = /^bytes=(\d+)-(\d+)$/.exec(value.trim());
  if (!match) {
    throw new S3Error("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", { ArgumentName: "x-amz-copy-source-range", ArgumentValue: value });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start > end || end >= size) {
    throw new S3Error("InvalidRange", "The requested range is not satisfiable", { RangeRequested: value, ActualObjectSize: String(size) }, { "content-range": `bytes */${size}` });
  }
  return { start, end };
}
