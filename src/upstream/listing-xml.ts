// The two listing answers the remote is asked for, ListBucketResult
// (ListObjectsV2) and ListVersionsResult (ListObjectVersions), read straight
// from their XML. They are flat, machine-written documents, so a scan for the
// few elements used here is enough; loading the SDK for them cost ~300 ms at
// the start of every warm and serve, and a general XML parser another ~50 ms.
// Anything that is not the whole expected document is refused, never read as
// an empty listing: an HTML error page from a proxy must not look like an empty bucket.

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface ObjectListing {
  objects: ListedObject[];
  isTruncated: boolean;
}

export interface ListedVersion extends ListedObject {
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
}

export interface VersionListing {
  versions: ListedVersion[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/** Why an answer is not the listing asked for; the caller names the remote and the call. */
export class UnparsableListing extends Error {}

export function parseObjectListing(xml: string): ObjectListing {
  const body = documentBody(xml, "ListBucketResult");
  return {
    objects: elements(body, "Contents").map((entry) => listedObject(entry)),
    isTruncated: booleanOf(body, "IsTruncated"),
  };
}

export function parseVersionListing(xml: string): VersionListing {
  const body = documentBody(xml, "ListVersionsResult");
  const version = (deleteMarker: boolean) => (entry: string): ListedVersion => ({
    ...listedObject(entry, deleteMarker),
    versionId: text(entry, "VersionId") ?? "null",
    isLatest: booleanOf(entry, "IsLatest"),
    deleteMarker,
  });
  // versions and delete markers come interleaved in S3 order; scanned one kind at a time, the caller sorts
  return {
    versions: [...elements(body, "Version").map(version(false)), ...elements(body, "DeleteMarker").map(version(true))],
    isTruncated: booleanOf(body, "IsTruncated"),
    nextKeyMarker: text(body, "NextKeyMarker"),
    nextVersionIdMarker: text(body, "NextVersionIdMarker"),
  };
}

/** The content of the root element, which must be `root` and closed; an XML declaration may come first. */
function documentBody(xml: string, root: string): string {
  const start = /^\s*(?:<\?xml[^>]*\?>\s*)?<([A-Za-z]+)(\s[^>]*)?>/.exec(xml);
  if (!start) throw new UnparsableListing(xml.trim() === "" ? "an empty body" : "it is not XML");
  if (start[1] !== root) throw new UnparsableListing(`its root element is ${start[1]}`);
  const end = xml.lastIndexOf(`</${root}>`);
  if (end < start[0].length || xml.slice(end + root.length + 3).trim() !== "") throw new UnparsableListing(`it does not end with </${root}>`);
  return xml.slice(start[0].length, end);
}

function listedObject(entry: string, deleteMarker = false): ListedObject {
  const key = text(entry, "Key");
  if (key === undefined) throw new UnparsableListing("an entry has no Key");
  const size = deleteMarker ? 0 : Number(text(entry, "Size") ?? Number.NaN);
  if (!Number.isSafeInteger(size) || size < 0) throw new UnparsableListing(`the Size of ${JSON.stringify(key)} is not a byte count`);
  const modified = text(entry, "LastModified");
  const lastModified = new Date(modified ?? 0);
  if (Number.isNaN(lastModified.getTime())) throw new UnparsableListing(`the LastModified of ${JSON.stringify(key)} is not a date`);
  return { key, size, etag: text(entry, "ETag") ?? "", lastModified };
}

/** The contents of every <name> element directly in `body` (these documents do not nest an element in one of its own name). */
function elements(body: string, name: string): string[] {
  const found: string[] = [];
  const open = `<${name}>`;
  const close = `</${name}>`;
  for (let at = body.indexOf(open); at !== -1; at = body.indexOf(open, at)) {
    const end = body.indexOf(close, at + open.length);
    if (end === -1) throw new UnparsableListing(`a ${name} element is not closed`);
    found.push(body.slice(at + open.length, end));
    at = end + close.length;
  }
  return found;
}

/**
 * The text of the first <name> element in `body`, entities decoded; an empty
 * element (<Prefix/>) is "". Only the first level matters here, and the names
 * read are not reused inside nested elements (Owner holds ID and DisplayName).
 */
function text(body: string, name: string): string | undefined {
  const open = body.indexOf(`<${name}>`);
  if (open === -1) return body.includes(`<${name}/>`) ? "" : undefined;
  const from = open + name.length + 2;
  const end = body.indexOf(`</${name}>`, from);
  if (end === -1) throw new UnparsableListing(`a ${name} element is not closed`);
  return decodeEntities(body.slice(from, end));
}

function booleanOf(body: string, name: string): boolean {
  return text(body, name) === "true";
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** XML's five named entities and character references (&#13; &#x1F600;); anything else is refused. */
export function decodeEntities(value: string): string {
  if (value.includes("<")) throw new UnparsableListing("an element holds markup where text belongs");
  if (!value.includes("&")) return value;
  return value.replace(/&([^;]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(";")) throw new UnparsableListing(`a bare "&" in ${JSON.stringify(value.slice(0, 80))}`);
    const named = NAMED[name];
    if (named !== undefined) return named;
    const code = /^#x([0-9a-fA-F]+)$/.exec(name)?.[1] ?? /^#([0-9]+)$/.exec(name)?.[1];
    const point = code === undefined ? Number.NaN : Number.parseInt(code, name.startsWith("#x") ? 16 : 10);
    if (!Number.isInteger(point) || point > 0x10ffff) throw new UnparsableListing(`an unknown entity &${name};`);
    return String.fromCodePoint(point);
  });
}
