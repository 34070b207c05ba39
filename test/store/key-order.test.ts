import { describe, expect, it } from "vitest";
import { compareKeys, isWellFormedKey, keyRange, prefixSuccessor } from "../../src/store/fs/key-order.js";

const utf8 = (text: string) => Buffer.from(text, "utf8");

describe("compareKeys", () => {
  it("orders by UTF-8 bytes, not UTF-16 code units", () => {
    // U+FFFD is one UTF-16 unit above the surrogates used by U+1F600, but below it in UTF-8
    expect("\uFFFD" > "\u{1F600}").toBe(true);
    expect(compareKeys("\uFFFD", "\u{1F600}")).toBeLessThan(0);
    expect(compareKeys("a", "a")).toBe(0);
    expect(compareKeys("a", "ab")).toBeLessThan(0);
    expect(compareKeys("a\u0000", "a")).toBeGreaterThan(0);
  });
});

describe("prefixSuccessor", () => {
  it("handles the edge cases", () => {
    expect(prefixSuccessor("")).toBeUndefined();
    expect(prefixSuccessor("abc")).toBe("abd");
    expect(prefixSuccessor("a/")).toBe("a0");
    expect(prefixSuccessor("\u0000")).toBe("\u0001");
    expect(prefixSuccessor("a\u007F")).toBe("a\u0080"); // crosses from 1 to 2 UTF-8 bytes
    expect(prefixSuccessor("\u07FF")).toBe("\u0800");
    expect(prefixSuccessor("x\uD7FF")).toBe("x\uE000"); // skips the surrogate range
    expect(prefixSuccessor("\uFFFF")).toBe("\u{10000}");
    expect(prefixSuccessor("a\u{1F600}")).toBe("a\u{1F601}");
    expect(prefixSuccessor("a\u{10FFFF}")).toBe("b");
    expect(prefixSuccessor("a\u{10FFFF}\u{10FFFF}")).toBe("b");
    expect(prefixSuccessor("\u{10FFFF}")).toBeUndefined();
  });

  it("bounds exactly the keys with the prefix (random check against byte comparison)", () => {
    // small alphabet around the interesting boundaries so prefixes and keys collide often
    const alphabet = ["\u0000", "a", "b", "\u007F", "\u0080", "\uD7FF", "\uE000", "\uFFFF", "\u{10000}", "\u{1F600}", "\u{10FFFF}"];
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const randomKey = (maxLength: number) => Array.from({ length: random(maxLength + 1) }, () => alphabet[random(alphabet.length)]).join("");
    for (let i = 0; i < 20_000; i++) {
      const prefix = randomKey(3);
      const key = randomKey(5);
      const upper = prefixSuccessor(prefix);
      const inRange = Buffer.compare(utf8(key), utf8(prefix)) >= 0 && (upper === undefined || Buffer.compare(utf8(key), utf8(upper)) < 0);
      expect(inRange, `prefix ${JSON.stringify(prefix)} key ${JSON.stringify(key)}`).toBe(key.startsWith(prefix));
    }
  });
});

describe("keyRange", () => {
  it("starts at the prefix or strictly after startAfter, whichever is later", () => {
    expect(keyRange()).toEqual({ lower: "", lowerInclusive: true, upper: undefined });
    expect(keyRange("p/")).toEqual({ lower: "p/", lowerInclusive: true, upper: "p0" });
    expect(keyRange("p/", "a")).toEqual({ lower: "p/", lowerInclusive: true, upper: "p0" });
    expect(keyRange("p/", "p/")).toEqual({ lower: "p/", lowerInclusive: false, upper: "p0" });
    expect(keyRange("p/", "p/x")).toEqual({ lower: "p/x", lowerInclusive: false, upper: "p0" });
    expect(keyRange("", "\u{1F600}")).toEqual({ lower: "\u{1F600}", lowerInclusive: false, upper: undefined });
    // "\u{1F600}" < "\uFFFD" in UTF-16 but not in UTF-8: startAfter is before the prefix
    expect(keyRange("\u{1F600}", "\uFFFD")).toEqual({ lower: "\u{1F600}", lowerInclusive: true, upper: "\u{1F601}" });
  });
});

describe("isWellFormedKey", () => {
  it("rejects lone surrogates only", () => {
    expect(isWellFormedKey("a\u{1F600}b")).toBe(true);
    expect(isWellFormedKey("")).toBe(true);
    expect(isWellFormedKey("a\uD83D")).toBe(false);
    expect(isWellFormedKey("\uDE00a")).toBe(false);
  });
});
