import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { openFsStore } from "../../src/store/fs/index.js";
import { bodyOf, eventually, filesIn, localMeta, readAll, settle, tempDataDir } from "./helpers.js";

describe("staging", () => {
  it("an erroring body rejects and leaves tmp/ empty", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    async function* failing() {
      yield Buffer.alloc(3 << 20, 1);
      throw new Error("connection reset");
    }
    await expect(store.stage(Readable.from(failing(), { objectMode: false }))).rejects.toThrow("connection reset");
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await store.close();
  });

  it("a body destroyed mid-upload (client gone) rejects and leaves tmp/ empty", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(1 << 20, 2));
    const staging = store.stage(body);
    setTimeout(() => body.destroy(), 20);
    await expect(staging).rejects.toThrow();
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await store.close();
  });
});

describe("adoptFile", () => {
  async function adoptAndRead(spoolDir: string) {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const content = randomBytes(3 << 20);
    const spoolFile = join(spoolDir, `spool-${randomBytes(4).toString("hex")}`);
    await writeFile(spoolFile, content);
    const staged = await store.adoptFile(spoolFile);
    expect(staged.size).toBe(content.length);
    expect(existsSync(spoolFile)).toBe(false); // moved, not left behind
    expect(await filesIn(dir, "tmp")).toHaveLength(1);
    const info = await store.commitObject("b", "k", [staged], localMeta());
    expect((await readAll(store.readObject(info))).equals(content)).toBe(true);

    await writeFile(spoolFile, "discard me");
    await (await store.adoptFile(spoolFile)).discard();
    expect(await filesIn(dir, "tmp")).toEqual([]);
    await expect(store.adoptFile(spoolFile)).rejects.toMatchObject({ code: "ENOENT" });
    await store.close();
  }

  it("moves a file from the same filesystem", async () => {
    await adoptAndRead(await tempDataDir());
  });

  it.skipIf(!existsSync("/dev/shm"))("copies a file from another filesystem (tmpfs) and removes the original", async () => {
    const spoolDir = await mkdtemp("/dev/shm/s3-overlay-spool-");
    try {
      await adoptAndRead(spoolDir);
    } finally {
      await rm(spoolDir, { recursive: true, force: true });
    }
  });
});

describe("crash recovery", () => {
  it("removes tmp/ leftovers and unreferenced blobs at open; keeps objects and parts", async () => {
    const dir = await tempDataDir();
    let store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    await store.commitObject("b", "single", [await store.stage(bodyOf("single object"))], localMeta());
    const multi = await Promise.all(["part one,", " part two"].map((text) => store.stage(bodyOf(text))));
    await store.commitObject("b", "multi", multi, localMeta());
    const upload = await store.createUpload("b", "pending", { headers: {}, userMetadata: {} });
    await store.putPart(upload.uploadId, 1, await store.stage(bodyOf("pending part")), { etag: "e1" });
    await store.stage(bodyOf("staged, never committed"));
    await store.close();
    const realBlobs = (await filesIn(dir, "blobs")).sort();
    expect(realBlobs).toHaveLength(4);

    // what a crash leaves: half-written uploads in tmp/, a blob renamed but never committed
    await writeFile(join(dir, "tmp", "half-written"), "partial");
    await mkdir(join(dir, "tmp", "odd-dir"));
    const orphan = randomBytes(16).toString("hex");
    await writeFile(join(dir, "blobs", orphan.slice(0, 2), orphan), "orphan bytes");

    store = await openFsStore(dir);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
    expect((await filesIn(dir, "blobs")).sort()).toEqual(realBlobs);
    const single = await store.headObject("b", "single");
    expect((await readAll(store.readObject(single!))).toString()).toBe("single object");
    const whole = await store.headObject("b", "multi");
    expect((await readAll(store.readObject(whole!))).toString()).toBe("part one, part two");
    const completed = await store.completeUpload(upload.uploadId, [1], localMeta());
    expect((await readAll(store.readObject(completed))).toString()).toBe("pending part");
    await store.close();
  });
});

describe("readers and replacement", () => {
  it("a reader that has started keeps streaming the old version after replace and delete", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    // three blobs of 3 MiB each, so the reader has more than one file ahead of it
    const oldParts = [randomBytes(3 << 20), randomBytes(3 << 20), randomBytes(3 << 20)];
    const staged = await Promise.all(oldParts.map((part) => store.stage(bodyOf(part, 1 << 20))));
    const old = await store.commitObject("b", "k", staged, localMeta("00000000000000000000000000000001"));

    const chunks = store.readObject(old)[Symbol.asyncIterator]();
    const received: Buffer[] = [(await chunks.next()).value as Buffer];

    const replacement = await store.commitObject("b", "k", [await store.stage(bodyOf("new", 1))], localMeta("00000000000000000000000000000002"));
    await settle();
    // the old blobs stay while the reader needs them
    expect(await filesIn(dir, "blobs")).toHaveLength(4);
    // a reader opened now for the old version finds it gone
    await expect(readAll(store.readObject(old))).rejects.toMatchObject({ code: "NoSuchKey" });

    await store.deleteObject("b", "k");
    for (let chunk = await chunks.next(); !chunk.done; chunk = await chunks.next()) received.push(chunk.value as Buffer);
    expect(Buffer.concat(received).equals(Buffer.concat(oldParts))).toBe(true);

    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([])); // all released once the reader closed
    expect(replacement.size).toBe(3);
    await store.close();
  });

  it("a reader destroyed early releases its blobs", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const info = await store.commitObject("b", "k", [await store.stage(bodyOf(randomBytes(4 << 20), 1 << 20))], localMeta());
    const openFiles = async () => (await readdir("/proc/self/fd")).length;
    const filesBefore = await openFiles();
    const reader = store.readObject(info);
    expect((await reader[Symbol.asyncIterator]().next()).done).toBe(false);
    await store.deleteObject("b", "k");
    await settle();
    expect(await filesIn(dir, "blobs")).toHaveLength(1);
    reader.destroy();
    await eventually(async () => expect(await filesIn(dir, "blobs")).toEqual([]));
    await eventually(async () => expect(await openFiles()).toBe(filesBefore)); // the blob's descriptor was closed too
    await store.close();
  });

  it("a blob file missing on disk reads as NoSuchKey", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const info = await store.commitObject("b", "k", [await store.stage(bodyOf("lost"))], localMeta());
    const [blob] = await filesIn(dir, "blobs");
    await rm(join(dir, "blobs", blob!.slice(0, 2), blob!));
    await expect(readAll(store.readObject(info))).rejects.toMatchObject({ code: "NoSuchKey", status: 404 });
    await store.close();
  });
});

describe("large objects", () => {
  it("stages, commits and reads 1 GiB with bounded memory", async () => {
    const dir = await tempDataDir();
    const store = await openFsStore(dir);
    await store.createBucket("b", "us-east-1");
    const block = randomBytes(1 << 20);
    const blocks = 1024;
    const expectedHash = createHash("sha256");
    for (let i = 0; i < blocks; i++) expectedHash.update(block);
    const expected = expectedHash.digest("hex");
    async function* generate() {
      for (let i = 0; i < blocks; i++) yield block;
    }

    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    try {
      let started = performance.now();
      const staged = await store.stage(Readable.from(generate(), { objectMode: false }));
      const stageSeconds = (performance.now() - started) / 1000;
      expect(staged.size).toBe(blocks << 20);
      const info = await store.commitObject("b", "huge", [staged], localMeta());

      started = performance.now();
      const hash = createHash("sha256");
      await pipeline(store.readObject(info), hash);
      const readSeconds = (performance.now() - started) / 1000;
      expect(hash.digest("hex")).toBe(expected);

      const range = await readAll(store.readObject(info, { start: (512 << 20) - 5, end: (512 << 20) + 4 }));
      expect(range.equals(Buffer.concat([block.subarray((1 << 20) - 5), block.subarray(0, 5)]))).toBe(true);

      const growthMiB = (rssPeak - rssBefore) / (1 << 20);
      console.log(
        `1 GiB: stage ${(1024 / stageSeconds).toFixed(0)} MiB/s, read ${(1024 / readSeconds).toFixed(0)} MiB/s, ` +
          `RSS before ${(rssBefore / (1 << 20)).toFixed(0)} MiB, peak growth ${growthMiB.toFixed(0)} MiB`,
      );
      expect(growthMiB).toBeLessThan(128);
    } finally {
      clearInterval(sampler);
      await store.close();
    }
  }, 180_000);
});
