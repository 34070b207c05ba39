// Spool on a disk that fills up (a real 8 MiB tmpfs; needs root, as CI has):
// readers attached before ENOSPC get every byte (the rest from memory), slow or
// ranged ones too; no one new can join; a writer with no reader left stops; and
// the writer waits for the slowest reader instead of holding the object in memory.
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { Spool } from "../../src/engine/spool.js";

const MiB = 1024 * 1024;

function mountTmpfs(size: number): { dir?: string; reason?: string } {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return { reason: "mounting a tmpfs needs root on Linux" };
  const dir = mkdtempSync(path.join(tmpdir(), "s3o-spoolfull-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (mounted.status === 0) return { dir };
  rmSync(dir, { recursive: true, force: true });
  return { reason: `mount -t tmpfs failed: ${mounted.stderr.trim()}` };
}

const disk = mountTmpfs(8 * MiB);
if (disk.reason && process.env.CI) throw new Error(`spool disk-full tests must run in CI: ${disk.reason}`);
if (disk.reason) console.warn(`spool disk-full tests skipped: ${disk.reason}`);
let files = 0;

afterAll(() => {
  if (!disk.dir) return;
  spawnSync("umount", [disk.dir]);
  rmSync(disk.dir, { recursive: true, force: true });
});

async function collect(stream: Readable, slow = false): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) {
    parts.push(part as Buffer);
    if (slow) await sleep(1);
  }
  return Buffer.concat(parts);
}

async function appendAll(spool: Spool, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; offset += 64 * 1024) await spool.append(data.subarray(offset, offset + 64 * 1024));
  await spool.drain();
  spool.finish();
}

describe.skipIf(disk.dir === undefined)("Spool on a full disk", () => {
  it("gives attached readers every byte past ENOSPC, and lets no one join after it", async () => {
    const spool = await Spool.create(path.join(disk.dir!, `spool-${files++}`));
    const data = randomBytes(24 * MiB + 123);
    const fast = collect(spool.reader({ start: 0, end: data.length - 1 }));
    const slow = collect(spool.reader({ start: 7, end: data.length - 1 }), true);
    const ranged = collect(spool.reader({ start: 3 * MiB, end: 12 * MiB }));
    const writing = appendAll(spool, data);
    while (!spool.diskFull) await sleep(5);
    expect(spool.joinable).toBe(false);
    const [fastBytes, slowBytes, rangedBytes] = await Promise.all([fast, slow, ranged, writing]);
    expect(fastBytes.equals(data)).toBe(true);
    expect(slowBytes.equals(data.subarray(7))).toBe(true);
    expect(rangedBytes.equals(data.subarray(3 * MiB, 12 * MiB + 1))).toBe(true);
    expect(spool.received).toBe(data.length);
    expect(spool.written).toBeLessThanOrEqual(8 * MiB);
    await spool.release(true);
  });

  it("holds the writer back to the slowest reader, and stops it when no reader is left", async () => {
    const spool = await Spool.create(path.join(disk.dir!, `spool-${files++}`));
    const reader = spool.reader({ start: 0, end: 64 * MiB - 1 });
    let appended = 0;
    const writing = (async () => {
      for (;;) {
        await spool.append(randomBytes(256 * 1024));
        appended += 256 * 1024;
      }
    })();
    writing.catch(() => undefined);
    // nobody reads: the disk fills, then at most ~8 MiB more are taken
    await sleep(1500);
    expect(spool.diskFull).toBeDefined();
    expect(appended - spool.written).toBeLessThan(10 * MiB);
    reader.destroy();
    await expect(writing).rejects.toThrow(/no reader left/);
    await spool.release(true);
  });
});
