// S3 XML of the listings: ListBuckets, ListObjects v1/v2, ListMultipartUploads.
import type { BucketInfo, S3Object, UploadInfo } from "./model.js";
import { document, element, encoder, optional, ownerElement, quotedEtag, timestamp, type Owner } from "./xml-write.js";
import { checksumTypeOf } from "./multipart-checksum.js";

/**
 * ListBuckets: Owner and Buckets as S3 has always sent them, then ContinuationToken
 * (where the next page starts, only when truncated) and Prefix (echoed when sent).
 */
export function listBucketsXml(buckets: BucketInfo[], owner: Owner, page: { continuationToken?: string; prefix?: string } = {}): string {
  let list = "";
  for (const bucket of buckets) {
    list += `<Bucket>${element("Name", bucket.name)}${element("CreationDate", timestamp(bucket.createdAt))}${element("BucketRegion", bucket.region)}</Bucket>`;
  }
  return document(
    "ListAllMyBucketsResult",
    `${ownerElement("Owner", owner)}<Buckets>${list}</Buckets>` + optional("ContinuationToken", page.continuationToken) + optional("Prefix", page.prefix),
  );
}

/** One page of a listing: what the engine found. */
export interface ListObjectsPage {
  contents: S3Object[];
  /** rolled-up prefixes (each ending in the delimiter), sorted */
  commonPrefixes: string[];
  isTruncated: boolean;
}

/** The request parameters a ListObjects answer echoes. */
export interface ListObjectsParams {
  bucket: string;
  prefix: string;
  /** omitted from the answer when empty, as S3 does */
  delimiter?: string;
  maxKeys: number;
  encodingType?: "url";
}

function contentsElements(contents: S3Object[], encode: (text: string) => string, owner: Owner | undefined): string {
  let xml = "";
  for (const object of contents) {
    xml +=
      "<Contents>" +
      element("Key", encode(object.key)) +
      element("LastModified", timestamp(object.lastModified)) +
      quotedEtag(object.etag) +
      (object.checksum === undefined
        ? ""
        : element("ChecksumAlgorithm", object.checksum.algorithm) + element("ChecksumType", object.checksum.type)) +
      element("Size", object.size) +
      (owner === undefined ? "" : ownerElement("Owner", owner)) +
      element("StorageClass", "STANDARD") +
      "</Contents>";
  }
  return xml;
}

function commonPrefixElements(prefixes: string[], encode: (text: string) => string): string {
  let xml = "";
  for (const prefix of prefixes) xml += `<CommonPrefixes>${element("Prefix", encode(prefix))}</CommonPrefixes>`;
  return xml;
}

function delimiterElement(delimiter: string | undefined, encode: (text: string) => string): string {
  return delimiter === undefined || delimiter === "" ? "" : element("Delimiter", encode(delimiter));
}

/**
 * ListObjects (v1). `nextMarker` is sent by S3 only for a truncated listing with a delimiter.
 * With encoding-type=url, v1 echoes Prefix raw (only Delimiter, Marker, NextMarker, keys and
 * common prefixes are encoded): botocore decodes just those, so an encoded Prefix reached boto3 users as "%0A".
 */
export function listObjectsV1Xml(
  params: ListObjectsParams & { marker: string },
  page: ListObjectsPage & { nextMarker?: string },
  owner: Owner,
): string {
  const encode = encoder(params.encodingType);
  return document(
    "ListBucketResult",
    element("Name", params.bucket) +
      element("Prefix", params.prefix) +
      element("Marker", encode(params.marker)) +
      (page.nextMarker === undefined ? "" : element("NextMarker", encode(page.nextMarker))) +
      element("MaxKeys", params.maxKeys) +
      delimiterElement(params.delimiter, encode) +
      optional("EncodingType", params.encodingType) +
      element("IsTruncated", page.isTruncated) +
      contentsElements(page.contents, encode, owner) +
      commonPrefixElements(page.commonPrefixes, encode),
  );
}

/** ListObjectsV2. KeyCount counts keys and common prefixes, as S3 does. */
export function listObjectsV2Xml(
  params: ListObjectsParams & { continuationToken?: string; startAfter?: string; fetchOwner: boolean },
  page: ListObjectsPage & { nextContinuationToken?: string },
  owner: Owner,
): string {
  const encode = encoder(params.encodingType);
  return document(
    "ListBucketResult",
    element("Name", params.bucket) +
      element("Prefix", encode(params.prefix)) +
      optional("ContinuationToken", params.continuationToken) +
      optional("NextContinuationToken", page.nextContinuationToken) +
      (params.startAfter === undefined ? "" : element("StartAfter", encode(params.startAfter))) +
      element("KeyCount", page.contents.length + page.commonPrefixes.length) +
      element("MaxKeys", params.maxKeys) +
      delimiterElement(params.delimiter, encode) +
      optional("EncodingType", params.encodingType) +
      element("IsTruncated", page.isTruncated) +
      contentsElements(page.contents, encode, params.fetchOwner ? owner : undefined) +
      commonPrefixElements(page.commonPrefixes, encode),
  );
}

/** ListMultipartUploads */
export function listMultipartUploadsXml(
  params: { bucket: string; prefix: string; delimiter?: string; keyMarker: string; uploadIdMarker: string; maxUploads: number; encodingType?: "url" },
  page: { uploads: UploadInfo[]; commonPrefixes: string[]; isTruncated: boolean; nextKeyMarker?: string; nextUploadIdMarker?: string },
  owner: Owner,
): string {
  const encode = encoder(params.encodingType);
  let uploads = "";
  for (const upload of page.uploads) {
    uploads +=
      "<Upload>" +
      element("Key", encode(upload.key)) +
      element("UploadId", upload.uploadId) +
      ownerElement("Initiator", owner) +
      ownerElement("Owner", owner) +
      element("StorageClass", "STANDARD") +
      element("Initiated", timestamp(upload.initiated)) +
      optional("ChecksumAlgorithm", upload.checksumAlgorithm) +
      optional("ChecksumType", checksumTypeOf(upload)) +
      "</Upload>";
  }
  return document(
    "ListMultipartUploadsResult",
    element("Bucket", params.bucket) +
      element("KeyMarker", encode(params.keyMarker)) +
      element("UploadIdMarker", params.uploadIdMarker) +
      (page.nextKeyMarker === undefined ? "" : element("NextKeyMarker", encode(page.nextKeyMarker))) +
      optional("NextUploadIdMarker", page.nextUploadIdMarker) +
      delimiterElement(params.delimiter, encode) +
      element("Prefix", encode(params.prefix)) +
      element("MaxUploads", params.maxUploads) +
      optional("EncodingType", params.encodingType) +
      element("IsTruncated", page.isTruncated) +
      uploads +
      commonPrefixElements(page.commonPrefixes, encode),
  );
}
