// A response body that is requested on the stream's first read and then
// forwarded chunk by chunk with backpressure. Cheaper than wrapping the body in
// an async generator (Readable.from): no promise per chunk on the data path.
import { Readable } from "node:stream";

export function openedOnFirstRead(open: () => Promise<Readable>): Readable {
  let source: Readable | undefined;
  let opening = false;
  const out = new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (source) return void source.resume();
      if (opening) return;
      opening = true;
      open().then((body) => {
        if (out.destroyed) return void body.destroy();
        source = body;
        body.on("data", (data: Buffer) => {
          if (!out.push(data)) body.pause();
        });
        body.once("end", () => out.push(null));
        body.once("error", (error) => out.destroy(error));
      }, (error: Error) => out.destroy(error));
    },
    destroy(error, callback) {
      source?.destroy();
      callback(error);
    },
  });
  return out;
}
