// GetObjectAttributes: which attributes the request names (x-amz-object-attributes),
// and the GetObjectAttributesResponse document S3 answers with.
import { S3Error } from "./errors.js";
import type { S3Object } from "./model.js";
import { checksumElements, document, element, optional } from "./xml-write.js";

const ATTRIBUTES = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"] as const;
export type ObjectAttribute = (typeof ATTRIBUTES)[number];

/** The comma-separated x-amz-object-attributes header; absent, empty or with an unknown name is 400 InvalidArgument. */
export function parseObjectAttributes(value: string | undefined): Set<ObjectAttribute> {
  const names = (value ?? "").split(",").map((name) => name.trim()).filter((name) => name !== "");
  if (names.length === 0) {
    throw new S3Error("InvalidArgument", "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty", { ArgumentName: "x-amz-object-attributes", ArgumentValue: value ?? "" });
  }
  for (const name of names) {
    if (!(ATTRIBUTES as readonly string[]).includes(name)) {
      throw new S3Error("InvalidArgument", "Invalid attribute name specified.", { ArgumentName: "x-amz-object-attributes", ArgumentValue: name });
    }
  }
  return new Set(names as ObjectAttribute[]);
}

/** A page of a multipart object's parts: those after `partNumberMarker`, at most `maxParts`. */
export interface PartsPage {
  partNumberMarker: number;
  maxParts: number;
}

/**
 * The answer, its elements in S3's order. The ETag has no quotes. A COMPOSITE checksum is
 * shown without its "-N" (the part count is PartsCount). Parts are listed, by number and size,
 * only for an object with a checksum, as S3 does; the parts' own checksums are not kept.
 */
export function objectAttributesXml(info: S3Object, wanted: Set<ObjectAttribute>, page: PartsPage): string {
  let body = "";
  if (wanted.has("ETag")) body += element("ETag", info.etag);
  if (wanted.has("Checksum") && info.checksum !== undefined) {
    const value = info.checksum.type === "COMPOSITE" ? info.checksum.value.replace(/-\d+$/, "") : info.checksum.value;
    body += `<Checksum>${checksumElements({ ...info.checksum, value }, true)}</Checksum>`;
  }
  if (wanted.has("ObjectParts") && info.partSizes !== undefined) body += partsElement(info, page);
  if (wanted.has("StorageClass")) body += element("StorageClass", "STANDARD");
  if (wanted.has("ObjectSize")) body += element("ObjectSize", info.size);
  return document("GetObjectAttributesResponse", body);
}

function partsElement(info: S3Object, page: PartsPage): string {
  const sizes = info.partSizes ?? [];
  const listed = info.checksum === undefined ? [] : sizes.map((size, index) => ({ partNumber: index + 1, size }))
    .filter((part) => part.partNumber > page.partNumberMarker);
  const shown = listed.slice(0, page.maxParts);
  const isTruncated = listed.length > shown.length;
  let parts = "";
  for (const part of shown) parts += `<Part>${element("PartNumber", part.partNumber)}${element("Size", part.size)}</Part>`;
  return "<ObjectParts>" +
    element("PartsCount", sizes.length) +
    element("PartNumberMarker", page.partNumberMarker) +
    optional("NextPartNumberMarker", isTruncated ? shown[shown.length - 1]?.partNumber : undefined) +
    element("MaxParts", page.maxParts) +
    element("IsTruncated", isTruncated) +
    parts +
    "</ObjectParts>";
}
