// A lockfile: the exact remote versions a test suite reads, in a text format
// that diffs well: a header line with the format version, then one line per
// object, sorted by bucket and key (UTF-8 byte order, as S3 lists), fields
// separated by tabs: bucket, key (escaped), size, ETag, and the version ID when
// the remote is versioned. Keys may hold any character, so backslash, tab,
// CR, LF and the other control characters are escaped; the rest (unicode
// included) stays as it is, readable in a diff.
import { readFile } from "node:fs/promises";
import { ConfigError } from "../config.js";
import { compareKeys } from "../store/fs/key-order.js";

export const LOCK_HEADER = "# s3-overlay lock 1";

export interface LockEntry {
  bucket: string;
  key: string;
  size: number;
  /** without quotes */
  etag: string;
  /** undefined: the remote is not versioned (or said "null") */
  versionId?: string;
}

/** A usage error (exit 2), like any bad setting. */
export class LockfileError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = "LockfileError";
  }
}

const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

export function escapeKey(key: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this escapes
  return key.replace(/[\\\t\n\r\x00-\x1f\x7f]/g, (char) => ESCAPES[char] ?? `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export function unescapeKey(text: string, where: string): string {
  return text.replace(/\\(x[0-9a-f]{2}|.|$)/g, (_, code: string) => {
    if (code === "\\") return "\\";
    if (code === "t") return "\t";
    if (code === "n") return "\n";
    if (code === "r") return "\r";
    if (code.length === 3) return String.fromCharCode(Number.parseInt(code.slice(1), 16));
    throw new LockfileError(`${where}: ${code === "" ? "the key ends in a lone backslash" : `unknown escape "\\${code}" in the key`}`);
  });
}

export function compareEntries(a: Pick<LockEntry, "bucket" | "key">, b: Pick<LockEntry, "bucket" | "key">): number {
  return compareKeys(a.bucket, b.bucket) || compareKeys(a.key, b.key);
}

/** The lockfile's text: sorted, one line per object, ending in a newline. */
export function formatLockfile(entries: LockEntry[]): string {
  const lines = [...entries].sort(compareEntries).map((entry) => {
    const fields = [entry.bucket, escapeKey(entry.key), String(entry.size), entry.etag];
    if (entry.versionId !== undefined) fields.push(entry.versionId);
    return fields.join("\t");
  });
  return `${[LOCK_HEADER, ...lines].join("\n")}\n`;
}

/** Parses a lockfile's text; `origin` (its path) names it in errors. Each bucket/key appears once. */
export function parseLockfile(text: string, origin: string): LockEntry[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines[0] !== LOCK_HEADER) throw new LockfileError(`${origin} is not an s3-overlay lockfile: its first line must be "${LOCK_HEADER}"`);
  const entries: LockEntry[] = [];
  const seen = new Set<string>();
  lines.slice(1).forEach((line, index) => {
    const where = `${origin} line ${index + 2}`;
    const fields = line.split("\t");
    if (fields.length !== 4 && fields.length !== 5) throw new LockfileError(`${where}: expected bucket, key, size, ETag and an optional version ID separated by tabs`);
    const [bucket, key, size, etag, versionId] = fields as [string, string, string, string, string | undefined];
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new LockfileError(`${where}: "${bucket}" is not a bucket name`);
    if (!/^\d+$/.test(size) || !Number.isSafeInteger(Number(size))) throw new LockfileError(`${where}: size "${size}" is not a byte count`);
    if (etag === "" || versionId === "") throw new LockfileError(`${where}: the ETag and version ID must not be empty`);
    const entry: LockEntry = { bucket, key: unescapeKey(key, where), size: Number(size), etag };
    if (entry.key === "") throw new LockfileError(`${where}: the key is empty`);
    if (versionId !== undefined) entry.versionId = versionId;
    const id = `${bucket}\n${entry.key}`;
    if (seen.has(id)) throw new LockfileError(`${where}: ${bucket}/${escapeKey(entry.key)} is locked twice`);
    seen.add(id);
    entries.push(entry);
  });
  return entries;
}

/** Reads and parses a lockfile; a missing or unreadable file is a LockfileError naming it. */
export async function readLockfile(file: string): Promise<LockEntry[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new LockfileError(`cannot read the lockfile ${file}: ${(error as Error).message}`);
  }
  return parseLockfile(text, file);
}
