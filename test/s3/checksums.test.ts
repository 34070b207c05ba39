import { createHash, randomBytes } from "node:crypto";
import { Crc32, Crc32cJs, Crc64NvmeJs } from "@aws-sdk/checksums/crc";
import { Sha1 } from "@aws-sdk/checksums/sha";
import { Sha256 } from "@smithy/core/checksum";
import { describe, expect, it } from "vitest";
import {
  algorithmOfHeader,
  checksumHeaderName,
  compositeChecksum,
  createChecksum,
  DIGEST_LENGTH,
  parseChecksumAlgorithm,
} from "../../src/s3/checksums.js";
import { S3Error } from "../../src/s3/errors.js";
import type { ChecksumAlgorithm } from "../../src/store/types.js";

const ALL: ChecksumAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

// The AWS SDK's own implementations serve as the oracle.
async function sdkDigest(algorithm: ChecksumAlgorithm, pieces: Buffer[]): Promise<Buffer> {
  const oracle = {
    CRC32: () => new Crc32(),
    CRC32C: () => new Crc32cJs(),
    CRC64NVME: () => new Crc64NvmeJs(),
    SHA1: () => new Sha1(),
    SHA256: () => new Sha256(),
  }[algorithm]();
  for (const piece of pieces) oracle.update(piece);
  return Buffer.from(await oracle.digest());
}

function ourDigest(algorithm: ChecksumAlgorithm, pieces: Buffer[]): Buffer {
  const checksum = createChecksum(algorithm);
  for (const piece of pieces) checksum.update(piece);
  return checksum.digest();
}

describe("createChecksum", () => {
  it("matches the published check values for '123456789'", () => {
    const check = [Buffer.from("123456789")];
    expect(ourDigest("CRC32", check).toString("hex")).toBe("cbf43926");
    expect(ourDigest("CRC32C", check).toString("hex")).toBe("e3069283");
    expect(ourDigest("CRC64NVME", check).toString("hex")).toBe("ae8b14860a799888");
    expect(ourDigest("SHA1", check).toString("hex")).toBe(createHash("sha1").update("123456789").digest("hex"));
  });

  it("digests of empty input match the SDK", async () => {
    for (const algorithm of ALL) {
      expect(ourDigest(algorithm, []).equals(await sdkDigest(algorithm, [])), algorithm).toBe(true);
      expect(ourDigest(algorithm, []).length).toBe(DIGEST_LENGTH[algorithm]);
    }
  });

  it("matches the SDK on random data of every length up to 40, and split at odd offsets", async () => {
    for (const algorithm of ALL) {
      for (let length = 0; length <= 40; length++) {
        const data = randomBytes(length);
        const expected = await sdkDigest(algorithm, [data]);
        expect(ourDigest(algorithm, [data]).equals(expected), `${algorithm} length ${length}`).toBe(true);
        const cut = Math.floor(length / 3);
        const pieces = [data.subarray(0, cut), data.subarray(cut, cut + 5), data.subarray(cut + 5)];
        expect(ourDigest(algorithm, pieces).equals(expected), `${algorithm} split ${length}`).toBe(true);
      }
    }
  });

  it("matches the SDK on 3 MB of random data fed in uneven pieces (unaligned subarrays)", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 13);
    const pieces: Buffer[] = [];
    for (let offset = 0, size = 1; offset < data.length; offset += size, size = (size * 7 + 3) % 100_003) {
      pieces.push(data.subarray(offset, offset + size));
    }
    for (const algorithm of ALL) {
      expect(ourDigest(algorithm, pieces).equals(await sdkDigest(algorithm, [data])), algorithm).toBe(true);
    }
  });

  it("is fast enough for the data path (prints throughput)", () => {
    const data = randomBytes(64 * 1024 * 1024);
    for (const algorithm of ALL) {
      const checksum = createChecksum(algorithm);
      const start = performance.now();
      for (let offset = 0; offset < data.length; offset += 1 << 20) checksum.update(data.subarray(offset, offset + (1 << 20)));
      checksum.digest();
      const seconds = (performance.now() - start) / 1000;
      console.log(`${algorithm}: ${(64 / seconds).toFixed(0)} MB/s`);
    }
  });
});

describe("names", () => {
  it("maps algorithms to header names and back", () => {
    expect(checksumHeaderName("CRC64NVME")).toBe("x-amz-checksum-crc64nvme");
    expect(checksumHeaderName("SHA256")).toBe("x-amz-checksum-sha256");
    for (const algorithm of ALL) expect(algorithmOfHeader(checksumHeaderName(algorithm))).toBe(algorithm);
    expect(algorithmOfHeader("X-Amz-Checksum-CRC32C")).toBe("CRC32C");
    expect(algorithmOfHeader("x-amz-checksum-md5")).toBeUndefined();
  });

  it("parses algorithm names case-insensitively and rejects unknown ones", () => {
    expect(parseChecksumAlgorithm("crc32c")).toBe("CRC32C");
    expect(parseChecksumAlgorithm("Sha256")).toBe("SHA256");
    expect(parseChecksumAlgorithm(undefined)).toBeUndefined();
    expect(() => parseChecksumAlgorithm("md5")).toThrow(S3Error);
    expect(() => parseChecksumAlgorithm("crc16")).toThrow(expect.objectContaining({ code: "InvalidRequest", status: 400 }));
  });
});

describe("compositeChecksum", () => {
  it("is the checksum of the concatenated part digests plus the part count", async () => {
    const parts = [randomBytes(1000), randomBytes(5000), randomBytes(17)];
    for (const algorithm of ALL) {
      const digests = await Promise.all(parts.map((part) => sdkDigest(algorithm, [part])));
      const expected = (await sdkDigest(algorithm, [Buffer.concat(digests)])).toString("base64");
      expect(compositeChecksum(algorithm, digests)).toBe(`${expected}-3`);
    }
  });

  it("matches a hand-computed CRC32 composite", () => {
    // crc32("a") = e8b7be43, crc32("b") = 71beeff9; crc32 of those 8 bytes, base64
    const digests = [Buffer.from("e8b7be43", "hex"), Buffer.from("71beeff9", "hex")];
    const expected = createChecksum("CRC32");
    expected.update(Buffer.from("e8b7be4371beeff9", "hex"));
    expect(compositeChecksum("CRC32", digests)).toBe(`${expected.digest().toString("base64")}-2`);
    expect(ourDigest("CRC32", [Buffer.from("a")]).toString("hex")).toBe("e8b7be43");
  });
});
