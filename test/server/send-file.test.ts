// The pooled-buffer file sender, through a real node:http server and client:
// bytes of several spans arrive in order, the owning stream is always
// destroyed (at the end, on a client abort, on a short file), and a file that
// ends early aborts the response instead of sending a short 200. Checked spans
// are read in whole blocks and a block that fails its CRC is never sent.
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSpansBody } from "../../src/server/send-file.js";
import { ON_CORRUPT, REST_AFTER_CORRUPT, type FileSpan } from "../../src/store/types.js";
import { BlockCrcs, CorruptBlockError, type BlockCheck } from "../../src/block-crc.js";
import { S3Error } from "../../src/s3/errors.js";

const MiB = 1 << 20;
let dir: string;
let fileA: string;
let fileB: string;
const dataA = randomBytes(3 * MiB + 123);
const dataB = randomBytes(5 * MiB + 7);

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "s3o-send-file-"));
  fileA = path.join(dir, "a");
  fileB = path.join(dir, "b");
  writeFileSync(fileA, dataA);
  writeFileSync(fileB, dataB);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Serves one response made of `spans`; resolves with the owner stream once the server is listening. */
async function serveSpans(spans: FileSpan[], length: number, reported: Error[] = [], rest?: (offset: number) => Readable) {
  const owner = new PassThrough();
  Object.assign(owner, { [ON_CORRUPT]: async (error: Error) => void reported.push(error) }, rest && { [REST_AFTER_CORRUPT]: rest });
  const destroyed = new Promise<void>((resolve) => owner.once("close", () => resolve()));
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-length": String(length) });
    void fileSpansBody(spans, owner, "GET /test").then((body) => body.pipe(res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { owner, destroyed, port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function get(port: number): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => http.get({ host: "127.0.0.1", port, path: "/", agent: false }, resolve).on("error", reject));
}

async function readAll(res: http.IncomingMessage): Promise<{ body: Buffer; error?: Error }> {
  const parts: Buffer[] = [];
  try {
    for await (const part of res) parts.push(part as Buffer);
    return { body: Buffer.concat(parts) };
  } catch (error) {
    return { body: Buffer.concat(parts), error: error as Error };
  }
}

describe("fileSpansBody", () => {
  it("sends spans of several files in order, then destroys the owning stream", async () => {
    const spans: FileSpan[] = [
      { path: fileA, start: 100, end: dataA.length - 1 },
      { path: fileB, start: 0, end: 2 * MiB + 5 },
      { path: fileA, start: 7, end: 7 },
    ];
    const expected = Buffer.concat([dataA.subarray(100), dataB.subarray(0, 2 * MiB + 6), dataA.subarray(7, 8)]);
    const served = await serveSpans(spans, expected.length);
    try {
      const { body, error } = await readAll(await get(served.port));
      expect(error).toBeUndefined();
      expect(body.equals(expected)).toBe(true);
      await served.destroyed;
    } finally {
      await served.close();
    }
  });

  it("uses an fd the stream already opened and leaves closing it to the stream", async () => {
    const fd = openSync(fileB, "r");
    const served = await serveSpans([{ path: fileB, fd, start: MiB, end: 4 * MiB - 1 }], 3 * MiB);
    try {
      const { body } = await readAll(await get(served.port));
      expect(body.equals(dataB.subarray(MiB, 4 * MiB))).toBe(true);
      await served.destroyed;
    } finally {
      await served.close();
    }
  });

  it("a client that goes away mid-body gets the owning stream destroyed", async () => {
    const spans: FileSpan[] = Array.from({ length: 40 }, () => ({ path: fileB, start: 0, end: dataB.length - 1 }));
    const served = await serveSpans(spans, 40 * dataB.length);
    try {
      const res = await get(served.port);
      await new Promise((resolve) => res.once("data", resolve));
      res.destroy();
      const outcome = await Promise.race([served.destroyed.then(() => "destroyed"), sleep(5000).then(() => "still open")]);
      expect(outcome).toBe("destroyed");
    } finally {
      await served.close();
    }
  });

  it("a file shorter than its span aborts the response (never a short 200)", async () => {
    const served = await serveSpans([{ path: fileA, start: 0, end: dataA.length + MiB }], dataA.length + MiB + 1);
    try {
      const { body, error } = await readAll(await get(served.port));
      expect(error).toBeDefined();
      expect(body.length).toBeLessThan(dataA.length + MiB + 1);
      await served.destroyed;
    } finally {
      await served.close();
    }
  });

  it("checked spans send exactly the range, reading the whole blocks around it", async () => {
    const served = await serveSpans([{ path: fileB, start: MiB - 3, end: 3 * MiB + 2, check: checkOf(dataB) }], 2 * MiB + 6);
    try {
      const { body, error } = await readAll(await get(served.port));
      expect(error).toBeUndefined();
      expect(body.equals(dataB.subarray(MiB - 3, 3 * MiB + 3))).toBe(true);
    } finally {
      await served.close();
    }
  });

  it("a block that fails its CRC after the headers aborts the response and reports it to the stream's owner", async () => {
    const wrong = checkOf(dataB);
    wrong.crcs[2] = (wrong.crcs[2]! + 1) >>> 0;
    const reported: Error[] = [];
    const served = await serveSpans([{ path: fileB, start: 0, end: dataB.length - 1, check: wrong }], dataB.length, reported);
    try {
      const { body, error } = await readAll(await get(served.port));
      expect(error).toBeDefined();
      expect(body.length).toBeLessThanOrEqual(2 * MiB);
      await served.destroyed;
      expect(reported[0]).toBeInstanceOf(CorruptBlockError);
    } finally {
      await served.close();
    }
  });

  it("a first block that fails its CRC is an S3 InternalError before any header, handled first", async () => {
    const wrong = checkOf(dataA);
    wrong.crcs[1] = (wrong.crcs[1]! + 1) >>> 0;
    const owner = new PassThrough();
    const reported: Error[] = [];
    Object.assign(owner, { [ON_CORRUPT]: async (error: Error) => void reported.push(error) });
    const failure = await fileSpansBody([{ path: fileA, start: MiB + 5, end: MiB + 9, check: wrong }], owner, "GET /b/k").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(S3Error);
    expect((failure as S3Error).code).toBe("InternalError");
    expect((failure as S3Error).message).toMatch("b/k");
    expect(reported).toHaveLength(1);
    expect(owner.destroyed).toBe(true);
  });

  it("a block failing its CRC after the headers, on a stream that knows where its bytes come from again (chunks), goes on from there", async () => {
    const wrong = checkOf(dataB);
    wrong.crcs[2] = (wrong.crcs[2]! + 1) >>> 0;
    const expected = Buffer.concat([dataA.subarray(5), dataB]);
    const offsets: number[] = [];
    const rest = (offset: number) => {
      offsets.push(offset);
      return Readable.from([expected.subarray(offset)]);
    };
    const reported: Error[] = [];
    const spans: FileSpan[] = [{ path: fileA, start: 5, end: dataA.length - 1, check: checkOf(dataA) }, { path: fileB, start: 0, end: dataB.length - 1, check: wrong }];
    const served = await serveSpans(spans, expected.length, reported, rest);
    try {
      const { body, error } = await readAll(await get(served.port));
      expect(error).toBeUndefined();
      expect(body.equals(expected)).toBe(true);
      // everything before the bad block went out from the files, the rest from the stream
      expect(offsets).toEqual([dataA.length - 5 + 2 * MiB]);
      await served.destroyed;
      expect(reported).toEqual([]);
    } finally {
      await served.close();
    }
  });

  it("a first block failing its CRC, on such a stream, sends the whole body from it instead of an error", async () => {
    const wrong = checkOf(dataA);
    wrong.crcs[0] = (wrong.crcs[0]! + 1) >>> 0;
    const offsets: number[] = [];
    const rest = (offset: number) => {
      offsets.push(offset);
      return Readable.from([dataA.subarray(100 + offset)]);
    };
    const served = await serveSpans([{ path: fileA, start: 100, end: dataA.length - 1, check: wrong }], dataA.length - 100, [], rest);
    try {
      const { body, error } = await readAll(await get(served.port));
      expect(error).toBeUndefined();
      expect(body.equals(dataA.subarray(100))).toBe(true);
      expect(offsets).toEqual([0]);
      await served.destroyed;
    } finally {
      await served.close();
    }
  });
});

function checkOf(data: Buffer): BlockCheck {
  const crcs = new BlockCrcs();
  crcs.update(data);
  return { blockSize: MiB, crcs: crcs.finish(), size: data.length };
}
