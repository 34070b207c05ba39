// The S3 values every layer shares: what a client sees of buckets, objects,
// uploads and parts. The protocol layer owns them (it imports nothing from
// the store); the store extends them with what it keeps besides.

export type ChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";

export interface Checksum {
  algorithm: ChecksumAlgorithm;
  /** base64 of the digest; for a COMPOSITE multipart checksum it ends in "-N" */
  value: string;
  type: "FULL_OBJECT" | "COMPOSITE";
}

/** The standard content headers S3 stores with an object and returns on GET/HEAD. */
export interface ContentHeaders {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
}

/** An object as S3 clients see it (listings, GET/HEAD headers). */
export interface S3Object {
  bucket: string;
  key: string;
  size: number;
  /** without quotes: 32 hex chars, or "<hex>-<parts>" for multipart objects */
  etag: string;
  lastModified: Date;
  headers: ContentHeaders;
  /** x-amz-meta-* with the prefix removed, names lower-cased */
  userMetadata: Record<string, string>;
  checksum?: Checksum;
  /** sizes of the parts, in order, for objects completed from a multipart upload */
  partSizes?: number[];
}

export interface BucketInfo {
  name: string;
  createdAt: Date;
  region: string;
}

export interface UploadInfo {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: Date;
  headers: ContentHeaders;
  userMetadata: Record<string, string>;
  checksumAlgorithm?: ChecksumAlgorithm;
  /** with checksumAlgorithm: how the object's checksum is made from the parts' */
  checksumType?: Checksum["type"];
}

export interface PartInfo {
  partNumber: number;
  size: number;
  /** without quotes */
  etag: string;
  lastModified: Date;
  checksum?: Checksum;
}

/** An inclusive byte range inside an object. */
export interface ByteRange {
  start: number;
  end: number;
}
