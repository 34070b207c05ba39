// The lockfile's text format: stable (sorted, one line per object), and every
// key survives a round trip however odd its characters.
import { describe, expect, it } from "vitest";
import { formatLockfile, LOCK_HEADER, LockfileError, parseLockfile, type LockEntry } from "../../src/engine/lockfile.js";

const ODD_KEYS = ["with space.txt", "line\nbreak", "tab\there", "cr\r", "back\\slash\\t", "ünïcødé/日本語/🦀", "nul\u0000bell\u0007del\u007f", "\\x41 is not A", "trailing\\"];

describe("lockfile", () => {
  it("round-trips odd keys (spaces, newlines, tabs, backslashes, control characters, unicode)", () => {
    const entries: LockEntry[] = ODD_KEYS.map((key, index) => ({ bucket: "data", key, size: index, etag: `etag${index}`, versionId: index % 2 ? `v${index}` : undefined }));
    const text = formatLockfile(entries);
    const parsed = parseLockfile(text, "test.lock");
    expect(parsed).toHaveLength(entries.length);
    for (const entry of entries) {
      const back = parsed.find((candidate) => candidate.key === entry.key);
      expect(back).toEqual(entry.versionId === undefined ? { bucket: "data", key: entry.key, size: entry.size, etag: entry.etag } : entry);
    }
    // one line per object: no raw newline, tab or control character of a key reaches the file
    expect(text.split("\n")).toHaveLength(entries.length + 2);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: checking that none are left
    expect(text.split("\n").every((line) => !/[\r\x00-\x08\x0b-\x1f\x7f]/.test(line) && line.split("\t").length <= 5)).toBe(true);
    expect(text).toContain("ünïcødé/日本語/🦀");
  });

  it("is stable: sorted by bucket then key in UTF-8 byte order, whatever the input order", () => {
    const entries: LockEntry[] = [
      { bucket: "b-bucket", key: "a", size: 1, etag: "e1" },
      { bucket: "a-bucket", key: "z", size: 2, etag: "e2" },
      { bucket: "a-bucket", key: "\uffff", size: 3, etag: "e3" },
      { bucket: "a-bucket", key: "🦀", size: 4, etag: "e4" },
    ];
    const text = formatLockfile(entries);
    expect(formatLockfile([...entries].reverse())).toBe(text);
    expect(text).toBe(`${LOCK_HEADER}\na-bucket\tz\t2\te2\na-bucket\t\uffff\t3\te3\na-bucket\t🦀\t4\te4\nb-bucket\ta\t1\te1\n`);
  });

  it("refuses what it did not write, naming the line", () => {
    expect(() => parseLockfile("data\tk\t1\te\n", "x.lock")).toThrow(/x.lock is not an s3-overlay lockfile/);
    const bad = (line: string) => () => parseLockfile(`${LOCK_HEADER}\n${line}\n`, "x.lock");
    expect(bad("data\tk\t1")).toThrow(/x.lock line 2: expected bucket/);
    expect(bad("Data_\tk\t1\te")).toThrow(/not a bucket name/);
    expect(bad("data\tk\t-1\te")).toThrow(/not a byte count/);
    expect(bad("data\tk\\q\t1\te")).toThrow(/unknown escape/);
    expect(bad("data\tk\\\t1\te")).toThrow(/lone backslash/);
    expect(bad("data\t\t1\te")).toThrow(/key is empty/);
    expect(() => parseLockfile(`${LOCK_HEADER}\ndata\tk\t1\te\ndata\tk\t2\tf\n`, "x.lock")).toThrow(/line 3: data\/k is locked twice/);
    expect(bad("data\tk\t1\te")).not.toThrow();
    expect(() => bad("x")()).toThrow(LockfileError);
  });
});
