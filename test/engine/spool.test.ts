// Spool: readers of a fill get exactly the bytes appended, in order, whether
// they keep up (served from memory), lag behind (served from the file) or wait
// for bytes not yet appended; and a reader consumed the way the chunk reader
// does it (pause on backpressure, resume on read) never stalls.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { Spool } from "../../src/engine/spool.js";

const MiB = 1024 * 1024;
const dir = mkdtempSync(path.join(tmpdir(), "s3o-spool-"));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function appendAll(spool: Spool, data: Buffer, piece: number, pauseEvery = 0): Promise<void> {
  let pieces = 0;
  for (let offset = 0; offset < data.length; offset += piece) {
    await spool.append(data.subarray(offset, offset + piece));
    if (pauseEvery && ++pieces % pauseEvery === 0) await sleep(1);
  }
  await spool.drain();
  spool.finish();
}

async function collect(stream: Readable, slow = false): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) {
    parts.push(part as Buffer);
    if (slow) await sleep(2);
  }
  return Buffer.concat(parts);
}

/** Consumes `source` the way ChunkCache.read does: flowing, paused when its own buffer is full, resumed on read. */
function relayed(source: Readable): Readable {
  const out: Readable = new Readable({
    highWaterMark: MiB,
    read() {
      source.resume();
    },
  });
  source.on("data", (data: Buffer) => {
    if (!out.push(data)) source.pause();
  });
  source.once("end", () => out.push(null));
  source.once("error", (error) => out.destroy(error));
  return out;
}

describe("Spool", () => {
  it("readers that keep up, lag behind or join late all get the exact bytes", async () => {
    const spool = await Spool.create(path.join(dir, `spool-${files++}`));
    const data = randomBytes(24 * MiB + 321);
    const fast = collect(spool.reader({ start: 0, end: data.length - 1 }));
    const slow = collect(spool.reader({ start: 5, end: data.length - 1 }), true);
    const writing = appendAll(spool, data, 64 * 1024, 16);
    await sleep(30);
    // joins once most of the start is out of the in-memory window: read from the file
    const late = collect(spool.reader({ start: 100, end: 12 * MiB }));
    const [fastBytes, slowBytes, lateBytes] = await Promise.all([fast, slow, late, writing]);
    expect(fastBytes.equals(data)).toBe(true);
    expect(slowBytes.equals(data.subarray(5))).toBe(true);
    expect(lateBytes.equals(data.subarray(100, 12 * MiB + 1))).toBe(true);
    await spool.release(true);
  });

  it("a reader relayed with pause and resume never stalls, however the appends are sized", async () => {
    for (const piece of [1000, 64 * 1024, 3 * MiB]) {
      const spool = await Spool.create(path.join(dir, `spool-${files++}`));
      const data = randomBytes(20 * MiB + 17);
      const reading = collect(relayed(spool.reader({ start: 0, end: data.length - 1 })), true);
      const outcome = await Promise.race([Promise.all([reading, appendAll(spool, data, piece)]).then(([bytes]) => bytes), sleep(20_000).then(() => "stalled")]);
      expect(outcome, `appends of ${piece} bytes`).not.toBe("stalled");
      expect((outcome as Buffer).equals(data)).toBe(true);
      await spool.release(true);
    }
  });

  it("a failed fill errors its readers instead of ending them short", async () => {
    const spool = await Spool.create(path.join(dir, `spool-${files++}`));
    const reading = collect(spool.reader({ start: 0, end: 10 * MiB - 1 }));
    await spool.append(randomBytes(MiB));
    spool.fail(new Error("remote went away"));
    await expect(reading).rejects.toThrow("remote went away");
    await spool.release(true);
  });
});
