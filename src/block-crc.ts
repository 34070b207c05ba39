// Block checksums: one CRC32 per fixed-size block of a file, computed when the
// bytes are written and checked before a block is sent. Used by the chunk cache
// (its chunks) and by the embedded store (its blobs). A block is the unit of
// verification: a read checks every whole block it touches, reading a little
// more at the edges of a range.
import { crc32 } from "node:zlib";

/** 1 MiB: the size of the pooled send buffers, so one buffer is one block */
export const BLOCK_SIZE = 1 << 20;

/** Feeds bytes in order; finish() gives one CRC32 per block (the last one may be short). */
export class BlockCrcs {
  private readonly crcs: number[] = [];
  private crc = 0;
  private filled = 0;

  constructor(readonly blockSize = BLOCK_SIZE) {}

  update(data: Buffer): void {
    for (let offset = 0; offset < data.length;) {
      const take = Math.min(data.length - offset, this.blockSize - this.filled);
      this.crc = crc32(data.subarray(offset, offset + take), this.crc);
      this.filled += take;
      offset += take;
      if (this.filled === this.blockSize) this.push();
    }
  }

  finish(): number[] {
    if (this.filled > 0) this.push();
    return this.crcs;
  }

  private push(): void {
    this.crcs.push(this.crc >>> 0);
    this.crc = 0;
    this.filled = 0;
  }
}

/** The expected block CRCs of one file (blocks start at file offset 0). */
export interface BlockCheck {
  blockSize: number;
  crcs: number[];
  /** the file's size: the last block ends there */
  size: number;
}

/** Does block `index` of the file hold exactly `bytes`? */
export function blockMatches(check: BlockCheck, index: number, bytes: Buffer): boolean {
  const length = Math.min(check.blockSize, check.size - index * check.blockSize);
  return bytes.length === length && crc32(bytes) >>> 0 === check.crcs[index];
}

/** The whole blocks covering the inclusive file range [start, end], as an inclusive range. */
export function blockExtent(check: BlockCheck, start: number, end: number): { start: number; end: number } {
  const first = Math.floor(start / check.blockSize) * check.blockSize;
  const last = Math.min(check.size, (Math.floor(end / check.blockSize) + 1) * check.blockSize) - 1;
  return { start: first, end: last };
}

/** Thrown (or destroyed with) when stored bytes fail their block check. */
export class CorruptBlockError extends Error {
  constructor(readonly file: string, readonly block: number) {
    super(`block ${block} of ${file} does not match its CRC32`);
  }
}

/** CRCs as stored: 4 bytes each, big-endian. */
export function crcsToBytes(crcs: number[]): Buffer {
  const bytes = Buffer.alloc(crcs.length * 4);
  crcs.forEach((crc, index) => bytes.writeUInt32BE(crc, index * 4));
  return bytes;
}

export function crcsFromBytes(bytes: Uint8Array): number[] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const crcs: number[] = [];
  for (let offset = 0; offset + 4 <= view.length; offset += 4) crcs.push(view.readUInt32BE(offset));
  return crcs;
}

/** A chunk's checksum text: "<block size>:" + base64 of the CRCs. */
export function encodeBlockChecksums(blockSize: number, crcs: number[]): string {
  return `${blockSize}:${crcsToBytes(crcs).toString("base64")}`;
}

export function decodeBlockChecksums(text: string): { blockSize: number; crcs: number[] } {
  const [size, encoded] = text.split(":");
  return { blockSize: Number(size), crcs: crcsFromBytes(Buffer.from(encoded ?? "", "base64")) };
}
