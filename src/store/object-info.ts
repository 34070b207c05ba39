// The ObjectInfo a driver records for a new object: shared by every Store driver.
import type { NewObject, ObjectInfo } from "./types.js";

/** A copy of `meta` as the object's info (nothing shared with the caller's objects). */
export function describeObject(bucket: string, key: string, size: number, meta: NewObject, lastModified = meta.lastModified ?? new Date()): ObjectInfo {
  const info: ObjectInfo = {
    bucket,
    key,
    size,
    etag: meta.etag,
    lastModified,
    headers: { ...meta.headers },
    userMetadata: { ...meta.userMetadata },
    origin: meta.origin,
  };
  if (meta.checksum !== undefined) info.checksum = { ...meta.checksum };
  if (meta.partSizes !== undefined) info.partSizes = [...meta.partSizes];
  if (meta.remote !== undefined) info.remote = { ...meta.remote };
  if (meta.chunkSize !== undefined) info.chunkSize = meta.chunkSize;
  return info;
}
