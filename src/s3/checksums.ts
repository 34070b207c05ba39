// The checksums S3 accepts in x-amz-checksum-* headers and trailers, computed
// incrementally so they can run on the data path of a streamed upload.
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import type { ChecksumAlgorithm } from "./model.js";
import { S3Error } from "./errors.js";

export interface IncrementalChecksum {
  update(chunk: Buffer): void;
  digest(): Buffer;
}

const ALGORITHMS: readonly ChecksumAlgorithm[] = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"];

/** Length in bytes of each algorithm's digest. */
export const DIGEST_LENGTH: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };

export function createChecksum(algorithm: ChecksumAlgorithm): IncrementalChecksum {
  switch (algorithm) {
    case "CRC32":
      return new Crc32();
    case "CRC32C":
      return new Crc32c();
    case "CRC64NVME":
      return new Crc64Nvme();
    case "SHA1":
    case "SHA256": {
      const hash = createHash(algorithm === "SHA1" ? "sha1" : "sha256");
      return { update: (chunk) => void hash.update(chunk), digest: () => hash.digest() };
    }
  }
}

/** "CRC32" -> "x-amz-checksum-crc32" */
export function checksumHeaderName(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

/** The algorithm named by a header like x-amz-checksum-algorithm (case-insensitive); undefined when absent. */
export function parseChecksumAlgorithm(value: string | undefined): ChecksumAlgorithm | undefined {
  if (value === undefined || value === "") return undefined;
  const upper = value.toUpperCase() as ChecksumAlgorithm;
  if (ALGORITHMS.includes(upper)) return upper;
  throw new S3Error(
    "InvalidRequest",
    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
  );
}

/** The algorithm whose header this is ("x-amz-checksum-crc32" -> "CRC32"), or undefined. */
export function algorithmOfHeader(name: string): ChecksumAlgorithm | undefined {
  const lower = name.toLowerCase();
  return ALGORITHMS.find((algorithm) => checksumHeaderName(algorithm) === lower);
}

/** The multipart COMPOSITE checksum: the checksum of the concatenated part digests, then "-<part count>". */
export function compositeChecksum(algorithm: ChecksumAlgorithm, partDigests: Buffer[]): string {
  const checksum = createChecksum(algorithm);
  for (const digest of partDigests) checksum.update(digest);
  return `${checksum.digest().toString("base64")}-${partDigests.length}`;
}

class Crc32 implements IncrementalChecksum {
  private value = 0;
  update(chunk: Buffer): void {
    this.value = crc32(chunk, this.value);
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(this.value >>> 0);
    return out;
  }
}

// Slice-by-8 tables: table k maps a byte to the CRC of that byte followed by k zero bytes,
// so eight input bytes are folded in with eight lookups instead of eight dependent steps.

function crc32SliceTables(reflectedPolynomial: number): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let crc = i;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ reflectedPolynomial : crc >>> 1;
    tables[0][i] = crc >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const previous = tables[k - 1][i];
      tables[k][i] = (previous >>> 8) ^ tables[0][previous & 0xff];
    }
  }
  return tables;
}

const CRC32C_TABLES = crc32SliceTables(0x82f63b78);

class Crc32c implements IncrementalChecksum {
  private crc = 0xffffffff;
  update(chunk: Buffer): void {
    const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES;
    let crc = this.crc;
    let i = 0;
    const fastEnd = chunk.length - (chunk.length % 8);
    for (; i < fastEnd; i += 8) {
      const low = crc ^ (chunk[i] | (chunk[i + 1] << 8) | (chunk[i + 2] << 16) | (chunk[i + 3] << 24));
      crc =
        t7[low & 0xff] ^
        t6[(low >>> 8) & 0xff] ^
        t5[(low >>> 16) & 0xff] ^
        t4[low >>> 24] ^
        t3[chunk[i + 4]] ^
        t2[chunk[i + 5]] ^
        t1[chunk[i + 6]] ^
        t0[chunk[i + 7]];
    }
    for (; i < chunk.length; i++) crc = (crc >>> 8) ^ t0[(crc ^ chunk[i]) & 0xff];
    this.crc = crc;
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE((this.crc ^ 0xffffffff) >>> 0);
    return out;
  }
}

// CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5) kept as two 32-bit halves,
// because 64-bit BigInt arithmetic is far too slow for the data path.
const CRC64_POLY_HIGH = 0x9a6c9329;
const CRC64_POLY_LOW = 0xac4bc9b5;

function crc64SliceTables(): { high: Uint32Array[]; low: Uint32Array[] } {
  const high = Array.from({ length: 8 }, () => new Uint32Array(256));
  const low = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = (lo >>> 1) | ((hi & 1) << 31);
      hi = hi >>> 1;
      if (carry) {
        hi ^= CRC64_POLY_HIGH;
        lo ^= CRC64_POLY_LOW;
      }
    }
    high[0][i] = hi >>> 0;
    low[0][i] = lo >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const hi = high[k - 1][i];
      const lo = low[k - 1][i];
      const index = lo & 0xff;
      high[k][i] = (hi >>> 8) ^ high[0][index];
      low[k][i] = ((lo >>> 8) | (hi << 24)) ^ low[0][index];
    }
  }
  return { high, low };
}

const CRC64_TABLES = crc64SliceTables();

class Crc64Nvme implements IncrementalChecksum {
  private high = 0xffffffff;
  private low = 0xffffffff;
  update(chunk: Buffer): void {
    const [h0, h1, h2, h3, h4, h5, h6, h7] = CRC64_TABLES.high;
    const [l0, l1, l2, l3, l4, l5, l6, l7] = CRC64_TABLES.low;
    let hi = this.high;
    let lo = this.low;
    let i = 0;
    const fastEnd = chunk.length - (chunk.length % 8);
    for (; i < fastEnd; i += 8) {
      // Little-endian: the first four bytes meet the low half of the register.
      const a = lo ^ (chunk[i] | (chunk[i + 1] << 8) | (chunk[i + 2] << 16) | (chunk[i + 3] << 24));
      const b = hi ^ (chunk[i + 4] | (chunk[i + 5] << 8) | (chunk[i + 6] << 16) | (chunk[i + 7] << 24));
      const b0 = a & 0xff, b1 = (a >>> 8) & 0xff, b2 = (a >>> 16) & 0xff, b3 = a >>> 24;
      const b4 = b & 0xff, b5 = (b >>> 8) & 0xff, b6 = (b >>> 16) & 0xff, b7 = b >>> 24;
      hi = h7[b0] ^ h6[b1] ^ h5[b2] ^ h4[b3] ^ h3[b4] ^ h2[b5] ^ h1[b6] ^ h0[b7];
      lo = l7[b0] ^ l6[b1] ^ l5[b2] ^ l4[b3] ^ l3[b4] ^ l2[b5] ^ l1[b6] ^ l0[b7];
    }
    for (; i < chunk.length; i++) {
      const index = (lo ^ chunk[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ l0[index];
      hi = (hi >>> 8) ^ h0[index];
    }
    this.high = hi;
    this.low = lo;
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32BE((this.high ^ 0xffffffff) >>> 0, 0);
    out.writeUInt32BE((this.low ^ 0xffffffff) >>> 0, 4);
    return out;
  }
}
