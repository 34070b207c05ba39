// A spool file that one writer fills from the remote while any number of
// readers stream byte ranges of it as the bytes arrive. This is what makes a
// miss stream through (first byte out as soon as it is in) and lets late
// joiners of a fill be served without a second download.
import { EventEmitter } from "node:events";
import { open, rm, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ByteRange } from "../store/types.js";

const READ_SIZE = 1 << 20;

export class Spool {
  /** bytes written so far, all readable */
  written = 0;
  private finished = false;
  private failure: Error | undefined;
  private readers = 0;
  private released = false;
  private readonly progress = new EventEmitter();

  private constructor(readonly path: string, private readonly file: FileHandle) {
    this.progress.setMaxListeners(0);
  }

  static async create(path: string): Promise<Spool> {
    return new Spool(path, await open(path, "w+"));
  }

  async append(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, offset, chunk.length - offset, this.written + offset);
      offset += bytesWritten;
    }
    this.written += chunk.length;
    this.progress.emit("change");
  }

  /** All bytes are in: readers finish at the end of their range. */
  finish(): void {
    this.finished = true;
    this.progress.emit("change");
  }

  /** The fill failed: every reader errors with `error` (a client sees an aborted response, never a short one). */
  fail(error: Error): void {
    this.failure = error;
    this.progress.emit("change");
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** A stream of bytes [start, end] that waits for bytes not yet written. */
  reader(range: ByteRange): Readable {
    this.readers++;
    let position = range.start;
    const last = range.end;
    let waiting: (() => void) | undefined;
    // one pump at a time: read() may be called again while a pump is awaiting I/O
    let pumping = false;
    let wanted = false;
    const spool = this;
    const stream = new Readable({
      highWaterMark: READ_SIZE,
      read() {
        if (pumping) {
          wanted = true;
          return;
        }
        pumping = true;
        void pump().finally(() => {
          pumping = false;
          if (wanted && !stream.destroyed) {
            wanted = false;
            stream.read(0);
          }
        });
      },
      destroy(error, callback) {
        if (waiting) spool.progress.off("change", waiting);
        spool.readerDone();
        callback(error);
      },
    });
    const pump = async (): Promise<void> => {
      try {
        for (;;) {
          if (spool.failure) return void stream.destroy(spool.failure);
          if (position > last) return void stream.push(null);
          const available = Math.min(spool.written, last + 1) - position;
          if (available > 0) {
            const buffer = Buffer.allocUnsafe(Math.min(available, READ_SIZE));
            const { bytesRead } = await spool.file.read(buffer, 0, buffer.length, position);
            position += bytesRead;
            if (!stream.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead))) return;
            continue;
          }
          if (spool.finished) {
            return void stream.destroy(new Error(`spool ended at ${spool.written} bytes before byte ${position}`));
          }
          await new Promise<void>((resolve) => {
            waiting = () => {
              spool.progress.off("change", waiting!);
              waiting = undefined;
              resolve();
            };
            spool.progress.on("change", waiting);
          });
          if (stream.destroyed) return;
        }
      } catch (error) {
        stream.destroy(error as Error);
      }
    };
    return stream;
  }

  /** The writer is done with the file (committed elsewhere or failed): close it once no reader needs it. */
  async release(removeFile: boolean): Promise<void> {
    this.released = true;
    if (removeFile) await rm(this.path, { force: true });
    if (this.readers === 0) await this.file.close().catch(() => undefined);
  }

  private readerDone(): void {
    this.readers--;
    if (this.released && this.readers === 0) void this.file.close().catch(() => undefined);
  }
}
