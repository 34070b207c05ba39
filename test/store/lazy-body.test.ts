// openedOnFirstRead: the tier's GET is sent only when the body is read, its
// bytes arrive in order under backpressure, and a failure or an early destroy
// reaches the other side (no response body left dangling on a tier socket).
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { openedOnFirstRead } from "../../src/store/s3/lazy-body.js";

function chunksOf(data: Buffer, size: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) parts.push(data.subarray(offset, offset + size));
  return parts;
}

describe("openedOnFirstRead", () => {
  it("opens only when read, and passes every byte in order through a slow reader", async () => {
    const data = randomBytes(5 * 1024 * 1024 + 3);
    let opened = 0;
    const stream = openedOnFirstRead(async () => {
      opened++;
      return Readable.from(chunksOf(data, 64 * 1024), { objectMode: false });
    });
    await sleep(20);
    expect(opened).toBe(0);
    const received: Buffer[] = [];
    for await (const part of stream) {
      received.push(part as Buffer);
      if (received.length % 16 === 0) await sleep(1); // a reader slower than the source
    }
    expect(opened).toBe(1);
    expect(Buffer.concat(received).equals(data)).toBe(true);
  });

  it("a failed open is the stream's error", async () => {
    const stream = openedOnFirstRead(async () => {
      throw new Error("tier said no");
    });
    await expect(async () => {
      for await (const _ of stream) void _;
    }).rejects.toThrow("tier said no");
  });

  it("an error mid-body is the stream's error", async () => {
    const source = new Readable({ read() {} });
    const stream = openedOnFirstRead(async () => source);
    const failed = new Promise<Error>((resolve) => stream.once("error", resolve));
    stream.resume();
    await sleep(10);
    source.push(Buffer.from("partial"));
    source.destroy(new Error("connection reset"));
    expect((await failed).message).toBe("connection reset");
  });

  /** undici's response body: destroy() without an error emits RequestAbortedError; records one nobody listens to */
  const unheard: Error[] = [];
  const undiciLike = () =>
    new (class extends Readable {
      override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
        callback(error ?? Object.assign(new Error("Request aborted"), { code: "UND_ERR_ABORTED" }));
      }
      override emit(event: string | symbol, ...args: unknown[]): boolean {
        if (event === "error" && this.listenerCount("error") === 0) {
          unheard.push(args[0] as Error);
          return false;
        }
        return super.emit(event, ...args);
      }
    })({ read() {} });
  const bodies: [string, () => Readable][] = [
    ["a plain stream", () => new Readable({ read() {} })],
    ["an undici-like body, whose destroy() is an error event that must not go unheard", undiciLike],
  ];

  it.each(bodies)("destroyed while opening, the body that arrives later is destroyed; destroyed mid-body, so is the body (%s)", async (_, makeBody) => {
    unheard.length = 0;
    const late = makeBody();
    let release!: () => void;
    const stream = openedOnFirstRead(() => new Promise<Readable>((resolve) => (release = () => resolve(late))));
    stream.resume();
    await sleep(10);
    stream.destroy();
    release();
    await sleep(10);
    expect(late.destroyed).toBe(true);

    const body = makeBody();
    const reading = openedOnFirstRead(async () => body);
    reading.resume();
    await sleep(10);
    body.push(Buffer.from("some"));
    reading.destroy();
    await sleep(10);
    expect(body.destroyed).toBe(true);
    expect(unheard.map((error) => error.message)).toEqual([]);
  });
});
