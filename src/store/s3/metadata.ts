// What the overlay remembers about an object, kept on the tier's object itself
// as x-amz-meta-s3o-* metadata (user metadata keeps its own x-amz-meta-* names;
// the s3o- prefix is reserved and never shown to clients). Objects written
// directly into the tier (no s3o metadata) read as plain client objects.
import { CONTENT_HEADERS } from "../../s3/headers.js";
import { unquoteEtag } from "../../s3/signer.js";
import { describeObject as describeInfo } from "../object-info.js";
import type { ChecksumAlgorithm, NewObject, ObjectInfo } from "../types.js";

const META = "x-amz-meta-";
const OURS = "x-amz-meta-s3o-";
const ENCODED = `${OURS}b64-`;

type HeaderValue = string | string[] | undefined;

/** Request headers that store `meta` (and, for a manifest, its logical size) on a tier object. */
export function headersFor(meta: NewObject, lastModified: Date, logicalSize?: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const set: string[] = [];
  for (const [field, name] of CONTENT_HEADERS) {
    const value = meta.headers[field];
    if (value === undefined) continue;
    headers[name] = value;
    set.push(field);
  }
  for (const [name, value] of Object.entries(meta.userMetadata)) {
    if (name.toLowerCase().startsWith("s3o-")) continue;
    // Values are bytes as latin1 strings: the tier's signed request cannot carry bytes above 0x7F
    // intact (the signer hashes their UTF-8), so those travel base64-encoded under a name of ours.
    if (/^[\x20-\x7e\t]*$/.test(value)) headers[`${META}${name}`] = value;
    else headers[`${ENCODED}${name}`] = Buffer.from(value, "latin1").toString("base64");
  }
  // The tier adds a Content-Type of its own when none is given: remember which headers are ours.
  headers[`${OURS}headers`] = set.join(",");
  headers[`${OURS}etag`] = meta.etag;
  headers[`${OURS}origin`] = meta.origin;
  headers[`${OURS}mtime`] = String(lastModified.getTime());
  if (meta.checksum) headers[`${OURS}checksum`] = `${meta.checksum.algorithm} ${meta.checksum.type} ${meta.checksum.value}`;
  if (meta.partSizes) headers[`${OURS}parts`] = encodePartSizes(meta.partSizes);
  if (meta.remote) {
    const r = meta.remote;
    headers[`${OURS}remote`] = `${r.etag} ${r.lastModified.getTime()} ${r.size} ${r.fetchedAt.getTime()}`;
  }
  if (meta.chunkSize !== undefined) headers[`${OURS}chunk-size`] = String(meta.chunkSize);
  if (logicalSize !== undefined) headers[`${OURS}size`] = String(logicalSize);
  return headers;
}

/** ObjectInfo from the headers of a tier HEAD/GET (or undefined values from a listing). */
export function infoFromHeaders(bucket: string, key: string, headers: Record<string, HeaderValue>): ObjectInfo {
  const one = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const contentRange = one("content-range");
  const storedSize = contentRange ? Number(contentRange.split("/")[1]) : Number(one("content-length") ?? 0);
  const ours = one(`${OURS}etag`) !== undefined;
  const info: ObjectInfo = {
    bucket,
    key,
    size: Number(one(`${OURS}size`) ?? storedSize),
    etag: one(`${OURS}etag`) ?? unquoteEtag(one("etag") ?? ""),
    lastModified: new Date(ours ? Number(one(`${OURS}mtime`)) : (one("last-modified") ?? 0)),
    headers: {},
    userMetadata: {},
    origin: one(`${OURS}origin`) === "remote" ? "remote" : "local",
  };
  const setHeaders = ours ? new Set((one(`${OURS}headers`) ?? "").split(",")) : undefined;
  for (const [field, name] of CONTENT_HEADERS) {
    const value = one(name);
    if (value !== undefined && (setHeaders === undefined || setHeaders.has(field))) info.headers[field] = value;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(META) && !name.startsWith(OURS) && value !== undefined) {
      info.userMetadata[name.slice(META.length)] = Array.isArray(value) ? value.join(",") : value;
    } else if (name.startsWith(ENCODED) && typeof value === "string") {
      info.userMetadata[name.slice(ENCODED.length)] = Buffer.from(value, "base64").toString("latin1");
    }
  }
  const checksum = one(`${OURS}checksum`)?.split(" ");
  if (checksum?.length === 3) {
    info.checksum = { algorithm: checksum[0] as ChecksumAlgorithm, type: checksum[1] as "FULL_OBJECT" | "COMPOSITE", value: checksum[2]! };
  }
  const parts = one(`${OURS}parts`);
  if (parts) info.partSizes = decodePartSizes(parts);
  const remote = one(`${OURS}remote`)?.split(" ");
  if (remote?.length === 4) {
    info.remote = { etag: remote[0]!, lastModified: new Date(Number(remote[1])), size: Number(remote[2]), fetchedAt: new Date(Number(remote[3])) };
  }
  const chunkSize = one(`${OURS}chunk-size`);
  if (chunkSize !== undefined) info.chunkSize = Number(chunkSize);
  return info;
}

/** Our info for a new object: client metadata named s3o-* is reserved for us and dropped. */
export function describeObject(bucket: string, key: string, size: number, meta: NewObject, lastModified: Date): ObjectInfo {
  const userMetadata = Object.fromEntries(Object.entries(meta.userMetadata).filter(([name]) => !name.toLowerCase().startsWith("s3o-")));
  return describeInfo(bucket, key, size, { ...meta, userMetadata }, lastModified);
}

/** Same stored version: what a reader opened is still what the tier holds. */
export function sameVersion(a: ObjectInfo, b: ObjectInfo): boolean {
  return a.etag === b.etag && a.size === b.size && a.lastModified.getTime() === b.lastModified.getTime() && a.chunkSize === b.chunkSize;
}

/** Part sizes are nearly always n equal parts and a smaller last one: "size*count,size,..." keeps 10,000 of them short. */
export function encodePartSizes(sizes: number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < sizes.length; ) {
    let j = i;
    while (j < sizes.length && sizes[j] === sizes[i]) j++;
    runs.push(j - i > 1 ? `${sizes[i]}*${j - i}` : String(sizes[i]));
    i = j;
  }
  return runs.join(",");
}

export function decodePartSizes(text: string): number[] {
  return text.split(",").flatMap((run) => {
    const [size, count] = run.split("*");
    return Array<number>(count === undefined ? 1 : Number(count)).fill(Number(size));
  });
}

