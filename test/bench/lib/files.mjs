// Test data files and page-cache control for benchmarks.
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { open, writeFile } from "node:fs/promises";

const BLOCK = 1 << 20;

/**
 * Write `bytes` of incompressible data to path, fast: one random 1 MiB block,
 * written again and again with its first 16 bytes changed each time, so no two
 * blocks are equal (nothing can compress or deduplicate it).
 */
export async function makeFile(path, bytes) {
  const block = randomBytes(BLOCK);
  const file = await open(path, "w");
  try {
    for (let offset = 0, n = 0; offset < bytes; offset += BLOCK, n++) {
      block.writeBigUInt64LE(BigInt(n), 0);
      block.writeDoubleLE(Math.random(), 8);
      const length = Math.min(BLOCK, bytes - offset);
      await file.write(block, 0, length, offset);
    }
  } finally {
    await file.close();
  }
  return path;
}

/**
 * Best effort: flush dirty pages and drop the page cache so the next read comes
 * from disk. Needs root; returns false (silently) where it is not permitted.
 */
export async function dropCaches() {
  spawnSync("sync");
  try {
    await writeFile("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}
