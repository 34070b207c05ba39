// md5(): the same digest as node:crypto whichever thread hashes, for any way
// the bytes are split, with several hashes interleaved on the one worker;
// ready() holds a writer back while too much is queued.
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { md5, OFFLOAD_FROM } from "../src/digests.js";

const MiB = 1024 * 1024;
const reference = (data: Buffer) => createHash("md5").update(data).digest("hex");

/** Feeds `data` in pieces of random sizes (up to maxPiece), waiting on ready() as a stream would. */
async function hashInPieces(data: Buffer, maxPiece: number, seed: number): Promise<string> {
  const hash = md5(data.length);
  let state = seed;
  for (let offset = 0; offset < data.length;) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const piece = 1 + (state % maxPiece);
    hash.update(data.subarray(offset, offset + piece));
    offset += piece;
    await hash.ready();
  }
  return (await hash.digest()).toString("hex");
}

describe("md5", () => {
  it.each([0, 1, 1000, OFFLOAD_FROM - 1, OFFLOAD_FROM, OFFLOAD_FROM + 1, 3 * OFFLOAD_FROM + 12345])("matches node:crypto for %i bytes", async (size) => {
    const data = randomBytes(size);
    expect(await hashInPieces(data, 300 * 1024, size)).toBe(reference(data));
  });

  it("keeps interleaved hashes apart", async () => {
    const inputs = [randomBytes(9 * MiB), randomBytes(12 * MiB + 5), randomBytes(OFFLOAD_FROM)];
    const digests = await Promise.all(inputs.map((data, index) => hashInPieces(data, 64 * 1024 + index, index + 1)));
    expect(digests).toEqual(inputs.map(reference));
  });

  it("more hashes at once than the worker has slots wait their turn and stay correct", async () => {
    const inputs = Array.from({ length: 24 }, (_, index) => randomBytes(OFFLOAD_FROM + index * 4099));
    const digests = await Promise.all(inputs.map((data, index) => hashInPieces(data, 700 * 1024, 100 + index)));
    expect(digests).toEqual(inputs.map(reference));
  });

  it("ready() makes a writer wait while more than a few MiB are queued, then lets it go on", async () => {
    const data = randomBytes(16 * MiB);
    const hash = md5(data.length);
    hash.update(data); // all at once: 16 buffers queued on the worker
    const waiting = hash.ready();
    expect(waiting).toBeInstanceOf(Promise);
    await waiting;
    expect((await hash.digest()).toString("hex")).toBe(reference(data));
  });

  it("a cancelled hash leaves the worker able to hash the next one", async () => {
    const abandoned = md5(OFFLOAD_FROM);
    abandoned.update(randomBytes(3 * MiB));
    abandoned.cancel();
    const data = randomBytes(OFFLOAD_FROM + 77);
    expect(await hashInPieces(data, MiB, 5)).toBe(reference(data));
  });
});
