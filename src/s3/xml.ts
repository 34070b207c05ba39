// S3 XML: response documents (written by hand, escaped for any key) and the
// three request bodies S3 clients send (parsed strictly: MalformedXML on anything off).
// Listing documents live in xml-listing.ts, the writing primitives in xml-write.ts.
import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { Checksum, ChecksumAlgorithm, PartInfo, UploadInfo } from "./model.js";
import { S3Error, errors } from "./errors.js";
import { checksumTypeOf } from "./multipart-checksum.js";
import {
  DECLARATION, NAMESPACE, checksumElements, document, element, escapeXml, optional, ownerElement, quotedEtag, timestamp, type Owner,
} from "./xml-write.js";

export { escapeXml, s3UrlEncode, type Owner } from "./xml-write.js";
export * from "./xml-listing.js";

// ---------------------------------------------------------------- responses

export interface ErrorXmlInput {
  code: string;
  message: string;
  /** the path the request named, e.g. "/bucket/key" */
  resource?: string;
  requestId: string;
  hostId?: string;
  /** extra elements, e.g. BucketName, Key, ActualObjectSize */
  details?: Record<string, string>;
}

/** The body of an error response (S3 sends it without a namespace). */
export function errorXml(input: ErrorXmlInput): string {
  let body = element("Code", input.code) + element("Message", input.message);
  for (const [name, value] of Object.entries(input.details ?? {})) body += element(name, value);
  body += optional("Resource", input.resource) + element("RequestId", input.requestId) + optional("HostId", input.hostId);
  return `${DECLARATION}<Error>${body}</Error>`;
}

/** GetBucketLocation: us-east-1 is an empty LocationConstraint, as in S3. */
export function locationXml(region: string): string {
  return `${DECLARATION}<LocationConstraint xmlns="${NAMESPACE}">${region === "us-east-1" ? "" : escapeXml(region)}</LocationConstraint>`;
}

export interface DeletedEntry {
  key: string;
  versionId?: string;
}

export interface DeleteErrorEntry {
  key: string;
  versionId?: string;
  code: string;
  message: string;
}

/** DeleteObjects. In quiet mode S3 reports only the errors. */
export function deleteResultXml(deleted: DeletedEntry[], failed: DeleteErrorEntry[], quiet: boolean): string {
  let body = "";
  if (!quiet) {
    for (const entry of deleted) body += `<Deleted>${element("Key", entry.key)}${optional("VersionId", entry.versionId)}</Deleted>`;
  }
  for (const entry of failed) {
    body += `<Error>${element("Key", entry.key)}${optional("VersionId", entry.versionId)}${element("Code", entry.code)}${element("Message", entry.message)}</Error>`;
  }
  return document("DeleteResult", body);
}

/** GetBucketVersioning of a bucket that was never versioned: no Status at all. */
export function emptyVersioningXml(): string {
  return document("VersioningConfiguration", "");
}

/** GetBucketAcl / GetObjectAcl: the owner's FULL_CONTROL grant, S3's default ("private") ACL. */
export function ownerAclXml(owner: Owner): string {
  const grantee =
    `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">` +
    `${element("ID", owner.id)}${element("DisplayName", owner.displayName)}</Grantee>`;
  return document(
    "AccessControlPolicy",
    `${ownerElement("Owner", owner)}<AccessControlList><Grant>${grantee}${element("Permission", "FULL_CONTROL")}</Grant></AccessControlList>`,
  );
}

/** GetObjectTagging: objects here carry no tags. */
export function emptyTaggingXml(): string {
  return document("Tagging", "<TagSet></TagSet>");
}

/** CopyObject */
export function copyObjectResultXml(etag: string, lastModified: Date, checksum?: Checksum): string {
  return document(
    "CopyObjectResult",
    quotedEtag(etag) + element("LastModified", timestamp(lastModified)) + checksumElements(checksum, true),
  );
}

/** UploadPartCopy */
export function copyPartResultXml(etag: string, lastModified: Date, checksum?: Checksum): string {
  return document(
    "CopyPartResult",
    quotedEtag(etag) + element("LastModified", timestamp(lastModified)) + checksumElements(checksum, false),
  );
}

/** CreateMultipartUpload */
export function initiateMultipartUploadXml(bucket: string, key: string, uploadId: string): string {
  return document("InitiateMultipartUploadResult", element("Bucket", bucket) + element("Key", key) + element("UploadId", uploadId));
}

/** CompleteMultipartUpload. `location` is the object's URL. */
export function completeMultipartUploadXml(location: string, bucket: string, key: string, etag: string, checksum?: Checksum): string {
  return document(
    "CompleteMultipartUploadResult",
    element("Location", location) + element("Bucket", bucket) + element("Key", key) + quotedEtag(etag) + checksumElements(checksum, true),
  );
}

/** ListParts of `upload`. */
export function listPartsXml(
  upload: UploadInfo,
  params: { partNumberMarker: number; maxParts: number },
  page: { parts: PartInfo[]; isTruncated: boolean; nextPartNumberMarker?: number },
  owner: Owner,
): string {
  let parts = "";
  for (const part of page.parts) {
    parts +=
      "<Part>" +
      element("PartNumber", part.partNumber) +
      element("LastModified", timestamp(part.lastModified)) +
      quotedEtag(part.etag) +
      element("Size", part.size) +
      checksumElements(part.checksum, false) +
      "</Part>";
  }
  return document(
    "ListPartsResult",
    element("Bucket", upload.bucket) +
      element("Key", upload.key) +
      element("UploadId", upload.uploadId) +
      element("PartNumberMarker", params.partNumberMarker) +
      optional("NextPartNumberMarker", page.nextPartNumberMarker) +
      element("MaxParts", params.maxParts) +
      element("IsTruncated", page.isTruncated) +
      parts +
      ownerElement("Initiator", owner) +
      ownerElement("Owner", owner) +
      element("StorageClass", "STANDARD") +
      optional("ChecksumAlgorithm", upload.checksumAlgorithm) +
      optional("ChecksumType", checksumTypeOf(upload)),
  );
}

// ---------------------------------------------------------------- request bodies

/** Elements that may repeat, by path; any other repeated element is malformed. */
const REPEATED = new Set(["Delete.Object", "CompleteMultipartUpload.Part"]);

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  trimValues: false, // keys may start or end with spaces
  processEntities: false, // decoded below, exactly as XML defines (and never DTD entities)
  tagValueProcessor: (_name, value) => decodeXmlText(value),
  isArray: (_name, path) => REPEATED.has(String(path)),
});

const REFERENCE = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));|&/g;
const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Text with XML's five entities and character references decoded; anything else starting with "&" is malformed. */
function decodeXmlText(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(REFERENCE, (_match, hex: string | undefined, decimal: string | undefined, name: string | undefined) => {
    if (name !== undefined) return PREDEFINED[name]!;
    if (hex === undefined && decimal === undefined) throw errors.malformedXml(); // bare "&" or an undefined entity
    const code = hex !== undefined ? parseInt(hex, 16) : parseInt(decimal!, 10);
    if (!(code > 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw errors.malformedXml();
    return String.fromCodePoint(code);
  });
}

const CDATA = /<!\[CDATA\[([\s\S]*?)\]\]>/g;

/** Parses `xml`, checks its root element, and returns the root's content. */
function parseDocument(xml: string, root: string): unknown {
  // DTDs (and so entity expansion) have no place in S3 bodies.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw errors.malformedXml();
  // CDATA becomes escaped text, so all text goes through one decoder.
  const text = xml.replace(CDATA, (_match, content: string) => escapeXml(content));
  if (XMLValidator.validate(text) !== true) throw errors.malformedXml();
  let parsed: Record<string, unknown>;
  try {
    parsed = parser.parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof S3Error) throw error;
    throw errors.malformedXml();
  }
  const roots = Object.keys(parsed);
  if (roots.length !== 1 || roots[0] !== root) throw errors.malformedXml();
  return parsed[root];
}

/** The children of an element ("" for an empty one). */
function children(node: unknown): Record<string, unknown> {
  if (node === "") return {};
  if (typeof node !== "object" || node === null || Array.isArray(node)) throw errors.malformedXml();
  return node as Record<string, unknown>;
}

/** The text of a child element that must hold only text, or undefined when it is absent. */
function textOf(node: Record<string, unknown>, name: string): string | undefined {
  const value = node[name];
  if (value === undefined || typeof value === "string") return value;
  throw errors.malformedXml();
}

const MAX_DELETE_OBJECTS = 1000;

/** The body of DeleteObjects (POST ?delete): 1 to 1000 keys. */
export function parseDeleteObjects(xml: string): { quiet: boolean; objects: { key: string; versionId?: string }[] } {
  const root = children(parseDocument(xml, "Delete"));
  const quietText = textOf(root, "Quiet")?.trim().toLowerCase();
  if (quietText !== undefined && quietText !== "true" && quietText !== "false") throw errors.malformedXml();
  const entries = (root["Object"] ?? []) as unknown[];
  if (entries.length === 0 || entries.length > MAX_DELETE_OBJECTS) throw errors.malformedXml();
  const objects = entries.map((entry) => {
    const object = children(entry);
    const key = textOf(object, "Key");
    if (key === undefined) throw errors.malformedXml();
    const versionId = textOf(object, "VersionId");
    return versionId === undefined ? { key } : { key, versionId };
  });
  return { quiet: quietText === "true", objects };
}

export interface CompletedPart {
  partNumber: number;
  /** without quotes */
  etag: string;
  checksums?: Partial<Record<ChecksumAlgorithm, string>>;
}

const CHECKSUM_ALGORITHMS: ChecksumAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

/**
 * The body of CompleteMultipartUpload, in document order. Ordering rules
 * (InvalidPartOrder) and matching against the uploaded parts are the caller's.
 */
export function parseCompleteMultipartUpload(xml: string): CompletedPart[] {
  const root = children(parseDocument(xml, "CompleteMultipartUpload"));
  const entries = (root["Part"] ?? []) as unknown[];
  if (entries.length === 0) throw errors.malformedXml();
  return entries.map((entry) => {
    const part = children(entry);
    const numberText = textOf(part, "PartNumber")?.trim();
    const etag = textOf(part, "ETag")?.trim();
    if (numberText === undefined || !/^\d{1,9}$/.test(numberText) || etag === undefined) throw errors.malformedXml();
    const partNumber = Number(numberText);
    if (partNumber < 1 || partNumber > 10000) {
      throw errors.invalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", numberText);
    }
    const completed: CompletedPart = { partNumber, etag: etag.replace(/^"(.*)"$/, "$1") };
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = textOf(part, `Checksum${algorithm}`)?.trim();
      if (value !== undefined) (completed.checksums ??= {})[algorithm] = value;
    }
    return completed;
  });
}

/** The optional body of CreateBucket; an empty body means the default region. */
export function parseCreateBucketConfiguration(xml: string): { locationConstraint?: string } {
  if (xml.trim() === "") return {};
  const root = children(parseDocument(xml, "CreateBucketConfiguration"));
  const location = textOf(root, "LocationConstraint")?.trim();
  return location === undefined || location === "" ? {} : { locationConstraint: location };
}
