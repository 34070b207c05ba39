import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  BLOCK_SIZE, BlockCrcs, blockExtent, blockMatches, crcsFromBytes, crcsToBytes, decodeBlockChecksums, encodeBlockChecksums,
} from "../src/block-crc.js";

describe("block CRC32s", () => {
  const bytes = randomBytes(3 * BLOCK_SIZE + 12345);
  const expected = [0, 1, 2, 3].map((index) => crc32(bytes.subarray(index * BLOCK_SIZE, (index + 1) * BLOCK_SIZE)) >>> 0);

  it("one CRC per block whatever pieces the bytes arrive in, the last block short", () => {
    for (const piece of [1 << 16, 7777, BLOCK_SIZE, BLOCK_SIZE + 1, bytes.length]) {
      const crcs = new BlockCrcs();
      for (let offset = 0; offset < bytes.length; offset += piece) crcs.update(bytes.subarray(offset, offset + piece));
      expect(crcs.finish()).toEqual(expected);
    }
    expect(new BlockCrcs().finish()).toEqual([]);
    const exact = new BlockCrcs();
    exact.update(bytes.subarray(0, BLOCK_SIZE));
    expect(exact.finish()).toEqual([expected[0]]);
  });

  it("a block matches only its own bytes, whole", () => {
    const check = { blockSize: BLOCK_SIZE, crcs: expected, size: bytes.length };
    expect(blockMatches(check, 3, bytes.subarray(3 * BLOCK_SIZE))).toBe(true);
    expect(blockMatches(check, 2, bytes.subarray(3 * BLOCK_SIZE))).toBe(false);
    // a short read of a block is not the block
    expect(blockMatches(check, 1, bytes.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE - 1))).toBe(false);
    const flipped = Buffer.from(bytes.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE));
    flipped[4242]! ^= 1;
    expect(blockMatches(check, 1, flipped)).toBe(false);
  });

  it("a range is widened to the whole blocks it touches, never past the end", () => {
    const check = { blockSize: BLOCK_SIZE, crcs: expected, size: bytes.length };
    expect(blockExtent(check, 0, 0)).toEqual({ start: 0, end: BLOCK_SIZE - 1 });
    expect(blockExtent(check, BLOCK_SIZE - 1, BLOCK_SIZE)).toEqual({ start: 0, end: 2 * BLOCK_SIZE - 1 });
    expect(blockExtent(check, 3 * BLOCK_SIZE + 5, 3 * BLOCK_SIZE + 6)).toEqual({ start: 3 * BLOCK_SIZE, end: bytes.length - 1 });
    expect(blockExtent({ ...check, size: 10 }, 2, 3)).toEqual({ start: 0, end: 9 });
  });

  it("encodings round-trip", () => {
    expect(crcsFromBytes(crcsToBytes(expected))).toEqual(expected);
    expect(decodeBlockChecksums(encodeBlockChecksums(BLOCK_SIZE * 2, expected))).toEqual({ blockSize: BLOCK_SIZE * 2, crcs: expected });
  });
});
