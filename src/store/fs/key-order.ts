// Key ranges in UTF-8 byte order, the order S3 lists in and SQLite's BINARY
// collation compares TEXT in. For well-formed strings UTF-8 byte order equals
// code point order (not JS's UTF-16 code unit order), which is what we compute on.

/** Compares two keys in UTF-8 byte order (negative, zero or positive). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

const LONE_SURROGATE = /\p{Surrogate}/u;

/** False for strings with a lone surrogate: they have no UTF-8 form and would not round-trip through SQLite. */
export function isWellFormedKey(key: string): boolean {
  return !LONE_SURROGATE.test(key);
}

/**
 * The smallest string greater than every string starting with `prefix` (UTF-8 byte
 * order), or undefined when no such bound exists (empty prefix, or only U+10FFFF).
 * Increments the last code point, skipping the surrogate range; a trailing U+10FFFF
 * cannot be incremented, so it is dropped and the one before it is incremented.
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const codePoints = Array.from(prefix, (char) => char.codePointAt(0)!);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return String.fromCodePoint(...codePoints, next);
    }
  }
  return undefined;
}

/** A range of keys: `lower` (inclusive or not) up to `upper` (exclusive); undefined bounds are open. */
export interface KeyRange {
  lower: string;
  lowerInclusive: boolean;
  upper?: string;
}

/** The keys that start with `prefix` and are strictly after `startAfter`. */
export function keyRange(prefix = "", startAfter?: string): KeyRange {
  const upper = prefixSuccessor(prefix);
  if (startAfter !== undefined && compareKeys(startAfter, prefix) >= 0) {
    return { lower: startAfter, lowerInclusive: false, upper };
  }
  return { lower: prefix, lowerInclusive: true, upper };
}
