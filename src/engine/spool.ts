// A spool file that one writer fills from the remote while any number of
// readers stream byte ranges of it as the bytes arrive. This is what makes a
// miss stream through (first byte out as soon as it is in) and lets late
// joiners of a fill be served without a second download.
import { EventEmitter } from "node:events";
import { open, rm, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ByteRange } from "../store/types.js";

const READ_SIZE = 1 << 20;
/** appends wait once this much is queued for the disk (backpressure toward the remote) */
const MAX_QUEUED = 4 << 20;

export class Spool {
  /** bytes on disk so far, all readable */
  written = 0;
  /** appended but not yet on disk: written together in one writev */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | undefined;
  private writeError: Error | undefined;
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

  /**
   * Queues bytes for the file. Network chunks are small (~64 KiB): writing what
   * has queued up in one writev keeps the syscalls few while a write is in flight.
   */
  async append(chunk: Buffer): Promise<void> {
    if (this.writeError) throw this.writeError;
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    this.flushing ??= this.flush();
    if (this.queuedBytes >= MAX_QUEUED) await this.drain();
  }

  /** Waits until everything appended is on disk. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.writeError) throw this.writeError;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued;
        const bytes = this.queuedBytes;
        this.queued = [];
        this.queuedBytes = 0;
        let done = 0;
        while (done < bytes) {
          const { bytesWritten } = await this.file.writev(remaining(batch, done), this.written + done);
          done += bytesWritten;
        }
        this.written += bytes;
        this.progress.emit("change");
      }
    } catch (error) {
      this.writeError = error as Error;
    } finally {
      this.flushing = undefined;
    }
  }

  /** All bytes are on disk (after drain()): readers finish at the end of their range. */
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
    // One pump at a time: read() may be called again while a pump runs. Such a
    // call is answered by pumping again, not by stream.read(0): the stream
    // counts that read() as still pending and would not call it once more.
    let pumping = false;
    let wanted = false;
    const spool = this;
    const run = (): void => {
      pumping = true;
      wanted = false;
      void pump().finally(() => {
        pumping = false;
        if (wanted && !stream.destroyed) run();
      });
    };
    const stream = new Readable({
      highWaterMark: READ_SIZE,
      read() {
        if (pumping) wanted = true;
        else run();
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

/** The buffers of `batch` after its first `skip` bytes. */
function remaining(batch: Buffer[], skip: number): Buffer[] {
  if (skip === 0) return batch;
  const rest: Buffer[] = [];
  for (const buffer of batch) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
