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
        // undici's body answers destroy() with an 'error' (RequestAbortedError): with no listener that
        // would crash the process, e.g. whenever a client hangs up while the tier's GET is opening
        if (out.destroyed) return void body.on("error", ignore).destroy();
        source = body;
        body.on("data", (data: Buffer) => {
          if (!out.push(data)) body.pause();
        });
        body.once("end", () => out.push(null));
        body.once("error", (error) => out.destroy(error));
      }, (error: Error) => out.destroy(error));
    },
    destroy(error, callback) {
      source?.on("error", ignore).destroy();
      callback(error);
    },
  });
  return out;
}

function ignore(): void {}
