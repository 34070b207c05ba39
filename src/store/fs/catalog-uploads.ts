// Multipart uploads: the uploads and parts tables. Completing an upload hands its
// parts' blobs to the object in the same transaction, so these run on the
// Catalog's connection and transactions (a CatalogScope), never their own.
import { errors, S3Error } from "../../s3/errors.js";
import type { ListUploadsOptions, ObjectInfo, PartInfo, UploadInfo } from "../types.js";
import type { BlobRef } from "./blobs.js";
import { keyRange } from "./key-order.js";
import { optionalJson, toPartInfo, toUploadInfo, type CatalogScope, type PartRow, type UploadRow } from "./catalog-rows.js";

/** Builds the completed object from its upload, total size and the chosen parts' sizes. */
export type DescribeCompleted = (upload: UploadInfo, size: number, partSizes: number[]) => ObjectInfo;

export function createUpload(c: CatalogScope, upload: UploadInfo): void {
  return c.inTransaction(() => {
    c.requireBucket(upload.bucket);
    c.sql("INSERT INTO uploads (id, bucket, key, initiated, headers, user_metadata, checksum_algorithm, checksum_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(
      upload.uploadId,
      upload.bucket,
      upload.key,
      upload.initiated.getTime(),
      JSON.stringify(upload.headers),
      JSON.stringify(upload.userMetadata),
      upload.checksumAlgorithm ?? null,
      upload.checksumType ?? null,
    );
  });
}

export function getUpload(c: CatalogScope, uploadId: string): UploadInfo | undefined {
  const row = c.sql<UploadRow>("SELECT * FROM uploads WHERE id = ?").get(uploadId);
  return row && toUploadInfo(row);
}

function requireUpload(c: CatalogScope, uploadId: string): UploadInfo {
  const upload = getUpload(c, uploadId);
  if (upload === undefined) throw errors.noSuchUpload(uploadId);
  return upload;
}

/** Inserts or replaces a part; `blob` is undefined for an empty part. Returns the dead blob ids. */
export function putPart(c: CatalogScope, uploadId: string, part: PartInfo, blob: BlobRef | undefined): string[] {
  return c.inTransaction(() => {
    requireUpload(c, uploadId);
    if (blob !== undefined) c.sql("INSERT INTO blob_refs (id, refs, size) VALUES (?, 1, ?)").run(blob.id, blob.size);
    const previous = c.sql<{ blob: string | null }>("SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?").get(uploadId, part.partNumber);
    c.sql("INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, last_modified, checksum, blob) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
      uploadId,
      part.partNumber,
      part.size,
      part.etag,
      part.lastModified.getTime(),
      optionalJson(part.checksum),
      blob?.id ?? null,
    );
    return previous?.blob ? c.dropRefs([previous.blob]) : [];
  });
}

export function listParts(c: CatalogScope, uploadId: string): PartInfo[] {
  requireUpload(c, uploadId);
  return partRows(c, uploadId).map(toPartInfo);
}

function partRows(c: CatalogScope, uploadId: string): PartRow[] {
  return c.sql<PartRow>("SELECT part_number, size, etag, last_modified, checksum, blob FROM parts WHERE upload_id = ? ORDER BY part_number").all(uploadId);
}

/** Sorted by key, initiation time and id; after (keyMarker, uploadIdMarker) as S3's ListMultipartUploads defines. */
export function listUploads(c: CatalogScope, bucket: string, options: ListUploadsOptions): UploadInfo[] {
  const range = keyRange(options.prefix);
  const conditions = ["bucket = ?", "key >= ?"];
  const params: unknown[] = [bucket, range.lower];
  if (range.upper !== undefined) {
    conditions.push("key < ?");
    params.push(range.upper);
  }
  if (options.keyMarker !== undefined) {
    const marker = options.uploadIdMarker === undefined ? undefined : getUpload(c, options.uploadIdMarker);
    if (marker !== undefined && marker.key === options.keyMarker) {
      conditions.push("(key, initiated, id) > (?, ?, ?)");
      params.push(marker.key, marker.initiated.getTime(), marker.uploadId);
    } else {
      conditions.push("key > ?");
      params.push(options.keyMarker);
    }
  }
  const statement = c.sql<UploadRow>(`SELECT * FROM uploads WHERE ${conditions.join(" AND ")} ORDER BY key, initiated, id LIMIT ?`);
  return statement.all(...params, options.limit).map(toUploadInfo);
}

/**
 * The object takes over the chosen parts' blobs (in the given order) and every
 * part and the upload are removed, all in one transaction: no data is copied.
 * Returns the object and the dead blob ids (unchosen parts, the replaced version).
 */
export function completeUpload(c: CatalogScope, uploadId: string, partNumbers: number[], describe: DescribeCompleted): { info: ObjectInfo; dead: string[] } {
  return c.inTransaction(() => {
    const upload = requireUpload(c, uploadId);
    const parts = new Map(partRows(c, uploadId).map((row) => [row.part_number, row]));
    const chosen = partNumbers.map((partNumber) => {
      const part = parts.get(partNumber);
      if (part === undefined) {
        throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded.", { UploadId: uploadId, PartNumber: String(partNumber) });
      }
      return part;
    });
    const blobs = chosen.flatMap((part) => (part.blob === null ? [] : [{ id: part.blob, size: part.size }]));
    const partSizes = chosen.map((part) => part.size);
    const info = describe(upload, partSizes.reduce((sum, size) => sum + size, 0), partSizes);
    // The object adds its references before the parts drop theirs, so chosen blobs stay alive.
    const dead = c.putObject(info, blobs);
    dead.push(...removeUpload(c, uploadId, [...parts.values()]));
    return { info, dead };
  });
}

export function abortUpload(c: CatalogScope, uploadId: string): string[] {
  return c.inTransaction(() => {
    requireUpload(c, uploadId);
    return removeUpload(c, uploadId, partRows(c, uploadId));
  });
}

function removeUpload(c: CatalogScope, uploadId: string, parts: PartRow[]): string[] {
  c.sql("DELETE FROM parts WHERE upload_id = ?").run(uploadId);
  c.sql("DELETE FROM uploads WHERE id = ?").run(uploadId);
  return c.dropRefs(parts.flatMap((part) => (part.blob === null ? [] : [part.blob])));
}
