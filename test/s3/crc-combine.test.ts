import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createChecksum } from "../../src/s3/checksums.js";
import { combineDigests, crcCombine, type CrcAlgorithm } from "../../src/s3/crc-combine.js";

const CRCS: CrcAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME"];

function digest(algorithm: CrcAlgorithm, data: Buffer): Buffer {
  const checksum = createChecksum(algorithm);
  checksum.update(data);
  return checksum.digest();
}

function value(digest: Buffer): bigint {
  return BigInt(`0x${digest.toString("hex")}`);
}

describe("crcCombine", () => {
  it("joins the published check input '123456789' cut anywhere", () => {
    const check = Buffer.from("123456789");
    const expected = { CRC32: 0xcbf43926n, CRC32C: 0xe3069283n, CRC64NVME: 0xae8b14860a799888n };
    for (const algorithm of CRCS) {
      for (let cut = 0; cut <= check.length; cut++) {
        const a = check.subarray(0, cut);
        const b = check.subarray(cut);
        expect(crcCombine(algorithm, value(digest(algorithm, a)), value(digest(algorithm, b)), b.length), `${algorithm} at ${cut}`)
          .toBe(expected[algorithm]);
      }
    }
  });

  it("property: combine(crc(a), crc(b), len(b)) === crc(a || b)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...CRCS), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (algorithm, a, b) => {
        const whole = value(digest(algorithm, Buffer.concat([a, b])));
        return crcCombine(algorithm, value(digest(algorithm, Buffer.from(a))), value(digest(algorithm, Buffer.from(b))), b.length) === whole;
      }),
      { numRuns: 500 },
    );
  });
});

describe("combineDigests", () => {
  it("is the digest of many parts of uneven sizes, a large one included", () => {
    const parts = [randomBytes(5 * 1024 * 1024 + 7), randomBytes(1), randomBytes(0), randomBytes(65_537)];
    for (const algorithm of CRCS) {
      const pieces = parts.map((part) => ({ digest: digest(algorithm, part), size: part.length }));
      expect(combineDigests(algorithm, pieces).toString("hex"), algorithm).toBe(digest(algorithm, Buffer.concat(parts)).toString("hex"));
    }
  });

  it("of no parts is the digest of no bytes, at full width", () => {
    for (const algorithm of CRCS) expect(combineDigests(algorithm, []).equals(digest(algorithm, Buffer.alloc(0))), algorithm).toBe(true);
  });

  it("combines 10,000 parts of 5 GiB quickly (the most S3 allows)", () => {
    const started = performance.now();
    const pieces = Array.from({ length: 10_000 }, (_, index) => ({ digest: Buffer.alloc(8, index), size: 5 * 1024 ** 3 }));
    combineDigests("CRC64NVME", pieces);
    const ms = performance.now() - started;
    console.log(`CRC64NVME combine of 10,000 parts: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(10_000);
  });
});
