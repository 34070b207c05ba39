// One stream of several chunks' bytes, one chunk after the other: the next is
// opened when the current one ends, with backpressure relayed by pause/resume.
import { Readable } from "node:stream";

/**
 * Chunks `first`..`last`, each from `open(index)` (called as its turn comes, after
 * `starting(index)`). `cleanup` runs when the stream is destroyed, at its end too.
 */
export function chunkAfterChunk(first: number, last: number, open: (index: number) => Promise<Readable>, starting: (index: number) => void, cleanup: () => void): Readable {
  let index = first;
  let current: Readable | undefined;
  let opening = false;

  // Next chunk, once the current one has ended. Called from the stream's own
  // events, not only from read(): read() is not called again while a push is pending.
  const pull = (): void => {
    if (current || opening || out.destroyed) return;
    if (index > last) return void out.push(null);
    const thisIndex = index++;
    starting(thisIndex);
    opening = true;
    open(thisIndex).then((stream) => {
      opening = false;
      if (out.destroyed) return void stream.destroy();
      current = stream;
      stream.on("data", (data: Buffer) => {
        if (!out.push(data)) stream.pause();
      });
      stream.once("end", () => {
        current = undefined;
        pull();
      });
      stream.once("error", (error) => out.destroy(error));
    }, (error: Error) => out.destroy(error));
  };
  const out = new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (current) current.resume();
      else pull();
    },
    destroy(error, callback) {
      current?.destroy();
      cleanup();
      callback(error);
    },
  });
  return out;
}
