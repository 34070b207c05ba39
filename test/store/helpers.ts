// Shared helpers for the store tests: real temp directories and real streams.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach } from "vitest";
import type { NewObject } from "../../src/store/types.js";

const dirs: string[] = [];

/** A fresh data dir under os.tmpdir(), removed after the test. */
export async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "s3-overlay-store-"));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A body delivered in several chunks, like a network upload. */
export function bodyOf(data: Buffer | string, chunkSize = 7): Readable {
  const bytes = Buffer.from(data);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  return Readable.from(chunks, { objectMode: false });
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function localMeta(etag = "0123456789abcdef0123456789abcdef"): NewObject {
  return { etag, headers: {}, userMetadata: {}, origin: "local" };
}

/** Names of the files under `<dataDir>/blobs` or `<dataDir>/tmp`. */
export async function filesIn(dataDir: string, sub: "blobs" | "tmp"): Promise<string[]> {
  const entries = await readdir(join(dataDir, sub), { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

/** Retries `check` until it passes or 3 s have gone by: unlinking dead blobs is not awaited by the store. */
export async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Gives a wrong deletion time to happen, before asserting that something is still there. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
