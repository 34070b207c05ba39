// S3 XML writing primitives shared by the response documents: escaping, elements,
// the document frame, and the encoding-type=url encoder of listings.
import type { Checksum } from "./model.js";

export const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
export const NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/";

// ---------------------------------------------------------------- escaping

/**
 * Markup characters, characters XML 1.0 cannot carry raw (C0 controls, U+FFFE/F)
 * and the line-break characters a parser would normalize (\t \n \r). S3 writes
 * the non-markup ones as character references too (a key with \u0001 comes back as &#x1;).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: XML 1.0 forbids these characters; finding them is the point
const ESCAPED = /[&<>"'\u0000-\u001F\uFFFE\uFFFF]/g;
const ENTITY: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** Text content for an XML element. */
export function escapeXml(text: string): string {
  return text.replace(ESCAPED, (char) => ENTITY[char] ?? `&#x${char.charCodeAt(0).toString(16).toUpperCase()};`);
}

/** `<name>text</name>` */
export function element(name: string, text: string | number | boolean): string {
  return `<${name}>${typeof text === "string" ? escapeXml(text) : String(text)}</${name}>`;
}

/** `<name>text</name>` or nothing when there is no value. */
export function optional(name: string, text: string | number | undefined): string {
  return text === undefined ? "" : element(name, text);
}

export function document(root: string, body: string): string {
  return `${DECLARATION}<${root} xmlns="${NAMESPACE}">${body}</${root}>`;
}

export function timestamp(date: Date): string {
  return date.toISOString(); // "2024-01-01T00:00:00.000Z", S3's form
}

export function quotedEtag(etag: string): string {
  return element("ETag", `"${etag}"`);
}

/**
 * encoding-type=url: every UTF-8 byte percent-encoded except letters, digits and
 * - _ . / * (the API reference's example: "test_file(3).png" is "test_file%283%29.png").
 * A space is %20, which every client decoder (unquote, unquote_plus, URLDecoder,
 * QueryUnescape) turns back into a space; "+" would survive plain unquote as a plus.
 */
export function s3UrlEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()~]|%2F/g, (match) => URL_ENCODE_FIXUPS[match]!);
}
const URL_ENCODE_FIXUPS: Record<string, string> = {
  "%2F": "/", "!": "%21", "'": "%27", "(": "%28", ")": "%29", "~": "%7E",
};

export function encoder(encodingType: "url" | undefined): (text: string) => string {
  return encodingType === "url" ? s3UrlEncode : (text) => text;
}

export function checksumElements(checksum: Checksum | undefined, withType: boolean): string {
  if (checksum === undefined) return "";
  const value = element(`Checksum${checksum.algorithm}`, checksum.value);
  return withType ? value + element("ChecksumType", checksum.type) : value;
}

// ---------------------------------------------------------------- responses

export interface Owner {
  id: string;
  displayName: string;
}

export function ownerElement(name: "Owner" | "Initiator", owner: Owner): string {
  return `<${name}>${element("ID", owner.id)}${element("DisplayName", owner.displayName)}</${name}>`;
}
