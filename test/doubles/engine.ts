// An Engine on the test doubles: a MemoryStore, a FakeRemote and a temp spool
// dir (fills spool real files, as in production). Settings are small so that
// chunking shows with objects of a few hundred KiB.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach } from "vitest";
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import type { ObjectInfo, StagedData } from "../../src/store/types.js";
import { FakeRemote } from "./fake-remote.js";
import { MemoryStore } from "./memory-store.js";
import { readAll } from "../store/helpers.js";

// a fill or chunk commits just after its last byte is read: assertions on the store retry a moment
export { eventually, readAll } from "../store/helpers.js";

export const CHUNK = 64 * 1024;

export interface Doubles {
  engine: Engine;
  store: MemoryStore;
  remote: FakeRemote;
}

const opened: { engine: Engine; dir: string }[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map(async ({ engine, dir }) => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }));
});

/** A fresh engine over the bucket "remote" of a fake remote; closed after the test. */
export async function engineOnDoubles(settings: Partial<EngineOptions> = {}, remote = new FakeRemote(["remote"])): Promise<Doubles> {
  const dir = await mkdtemp(join(tmpdir(), "s3-overlay-engine-"));
  const store = new MemoryStore();
  const options: EngineOptions = {
    cacheEnabled: true, negativeTtlMs: 60_000, chunkThreshold: 2 * CHUNK, chunkSize: CHUNK, maxInflightChunks: 2,
    spoolDir: join(dir, "spool"), region: "us-east-1", ...settings,
  };
  const engine = await Engine.create(store, options, remote);
  opened.push({ engine, dir });
  return { engine, store, remote };
}

/** The whole object as a GET sees it: where it came from, and its bytes. */
export async function getBytes(engine: Engine, bucket: string, key: string): Promise<{ cache?: string; bytes: Buffer; info: ObjectInfo }> {
  const read = await engine.getObject(bucket, key);
  const opened = await read.open();
  return { cache: opened.cache, bytes: await readAll(opened.body), info: read.info };
}

/** A client PUT of `data`. */
export function clientPut(engine: Engine, bucket: string, key: string, data: string): Promise<ObjectInfo> {
  return engine.putObject(bucket, key, Readable.from([Buffer.from(data)]), (_staged: StagedData) => ({
    etag: createHash("md5").update(data).digest("hex"), headers: {}, userMetadata: {}, origin: "local",
  }));
}

/** Deterministic bytes, different per seed. */
export function bytesOf(size: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}
