// Byte ranges of a GET: the Range header and ?partNumber, resolved against the object size.
import type { ByteRange } from "./model.js";
import { S3Error } from "./errors.js";

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * The range a Range header selects in an object of `size` bytes, or undefined for
 * the whole object. Like S3: a header that is not one valid byte range (bad
 * syntax, several ranges, end before start) is ignored; an end past the object
 * is clamped; a suffix longer than the object (or any suffix of an empty
 * object) is the whole object; a start at or past the end is InvalidRange (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = SINGLE_RANGE.exec(header.trim());
  if (match === null) return undefined;
  const first = match[1]!;
  const last = match[2]!;
  if (first === "") {
    if (last === "") return undefined;
    const suffix = Number(last);
    if (suffix === 0) throw invalidRange(header, size);
    if (size === 0) return undefined;
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Infinity : Number(last);
  if (end < start) return undefined;
  if (start >= size) throw invalidRange(header, size);
  return { start, end: Math.min(end, size - 1) };
}

function invalidRange(header: string, size: number): S3Error {
  return new S3Error(
    "InvalidRange",
    "The requested range is not satisfiable",
    { ActualObjectSize: String(size), RangeRequested: header },
    { "content-range": `bytes */${size}` },
  );
}

/** The Content-Range header of a 206 answer. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

/**
 * The bytes of part `partNumber` (GET/HEAD ?partNumber=). An object that was not
 * uploaded in parts has one part, the whole object; undefined means the whole
 * object when that object is empty (no byte range can describe it).
 */
export function partRange(partSizes: number[] | undefined, partNumber: number, size: number): ByteRange | undefined {
  const sizes = partSizes ?? [size];
  if (partNumber < 1 || partNumber > sizes.length) {
    // S3 answers a part the object does not have (any but 1 of a single-part object) as 400 InvalidPart
    throw new S3Error(
      "InvalidPart",
      "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
      { PartNumber: String(partNumber) },
    );
  }
  let start = 0;
  for (let i = 0; i < partNumber - 1; i++) start += sizes[i]!;
  const partSize = sizes[partNumber - 1]!;
  if (partSize === 0) return undefined;
  return { start, end: start + partSize - 1 };
}
