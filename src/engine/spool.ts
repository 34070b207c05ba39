// A spool file that one writer fills from the remote while any number of
// readers stream byte ranges of it as the bytes arrive. This is what makes a
// miss stream through (first byte out as soon as it is in) and lets late
// joiners of a fill be served without a second download.
//
// When the disk fills up (ENOSPC and kin) the bytes that do not fit are kept in
// memory for the readers already attached, and dropped once all of them have
// read them: those readers still get the whole object (pass-through), no one
// new joins, and the writer waits for the slowest reader, so memory stays bounded.
import { EventEmitter } from "node:events";
import { open, rm, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import type { ByteRange } from "../store/types.js";
import { isNoSpace } from "./disk-space.js";

const READ_SIZE = 1 << 20;
/** appends wait once this much is queued for the disk (backpressure toward the remote) */
const MAX_QUEUED = 4 << 20;
/** after a full disk, appends wait once this much is in memory that some reader has not read yet */
const MAX_IN_MEMORY = 8 << 20;

/** Where one reader is: memory before the slowest reader's position is dropped. */
interface ReaderMark {
  position: number;
  /** last byte the reader wants: past it, it needs nothing more */
  end: number;
}

export class Spool {
  /** bytes on disk so far, all readable */
  written = 0;
  private appended = 0;
  /** appended but not yet on disk: written together in one writev */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | undefined;
  private writeError: Error | undefined;
  /** the disk was full: bytes from `memoryStart` on are in `memory`, none go to the file any more */
  private noSpace: Error | undefined;
  private memory: Buffer[] = [];
  private memoryStart = 0;
  private memoryBytes = 0;
  private finished = false;
  private failure: Error | undefined;
  private readonly readers = new Set<ReaderMark>();
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
    this.appended += chunk.length;
    if (this.noSpace) return this.keep(chunk);
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    this.flushing ??= this.flush();
    if (this.queuedBytes >= MAX_QUEUED) await this.drain();
  }

  /** Bytes received so far, on disk or (after a full disk) in memory. */
  get received(): number {
    return this.appended;
  }

  /** The disk filled up during this spool: its bytes cannot be committed, and no new reader may join. */
  get diskFull(): Error | undefined {
    return this.noSpace;
  }

  /** A new reader can be served every byte of the object from here. */
  get joinable(): boolean {
    return !this.noSpace && !this.failure && !this.released;
  }

  /** After a full disk: holds the bytes for the attached readers, waiting while the slowest is far behind. */
  private async keep(chunk: Buffer): Promise<void> {
    // nobody to pass the bytes to (a prefetch, or every reader went away): stop, as a disk-full error
    if (this.readers.size === 0) throw Object.assign(new Error(`disk full and no reader left: ${this.noSpace!.message}`), { code: (this.noSpace as NodeJS.ErrnoException).code });
    this.memory.push(chunk);
    this.memoryBytes += chunk.length;
    this.progress.emit("change");
    while (this.memoryBytes > MAX_IN_MEMORY && this.readers.size > 0 && !this.failure) {
      await new Promise<void>((resolve) => this.progress.once("change", resolve));
    }
  }

  /** Drops the memory every attached reader has read. */
  private trim(): void {
    let slowest = Infinity;
    for (const reader of this.readers) if (reader.position <= reader.end) slowest = Math.min(slowest, reader.position);
    while (this.memory.length > 0 && this.memoryStart + this.memory[0]!.length <= slowest) {
      const dropped = this.memory.shift()!;
      this.memoryStart += dropped.length;
      this.memoryBytes -= dropped.length;
    }
  }

  /** Waits until everything appended is on disk. */
  async drain(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
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
        try {
          while (done < bytes) {
            const { bytesWritten } = await this.file.writev(remaining(batch, done), this.written + done);
            done += bytesWritten;
          }
        } catch (error) {
          if (!isNoSpace(error)) throw error;
          // what did get written stays readable from the file; the rest, and all that follows, from memory
          this.written += done;
          this.noSpace = error as Error;
          this.memoryStart = this.written;
          this.memory = [...remaining(batch, done), ...this.queued];
          this.memoryBytes = bytes - done + this.queuedBytes;
          this.queued = [];
          this.queuedBytes = 0;
          this.progress.emit("change");
          return;
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
    const mark: ReaderMark = { position: range.start, end: range.end };
    this.readers.add(mark);
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
        spool.readerDone(mark);
        callback(error);
      },
    });
    const pump = async (): Promise<void> => {
      try {
        for (;;) {
          if (spool.failure) return void stream.destroy(spool.failure);
          if (position > last) return void stream.push(null);
          const onDisk = Math.min(spool.written, last + 1) - position;
          if (onDisk > 0) {
            const buffer = Buffer.allocUnsafe(Math.min(onDisk, READ_SIZE));
            const { bytesRead } = await spool.file.read(buffer, 0, buffer.length, position);
            position += bytesRead;
            mark.position = position;
            if (!stream.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead))) return;
            continue;
          }
          const held = spool.fromMemory(position, last);
          if (held) {
            position += held.length;
            mark.position = position;
            spool.consumed();
            if (!stream.push(held)) return;
            continue;
          }
          if (spool.finished) {
            return void stream.destroy(new Error(`spool ended at ${spool.received} bytes before byte ${position}`));
          }
          if (spool.dropped(position)) {
            return void stream.destroy(new Error(`byte ${position} was dropped from memory after the disk filled up`));
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
    if (this.readers.size === 0) await this.file.close().catch(() => undefined);
  }

  /** The bytes held in memory from `position` (up to `last`), without copying; undefined if none are there yet. */
  private fromMemory(position: number, last: number): Buffer | undefined {
    if (!this.noSpace || position < this.memoryStart) return undefined;
    let offset = this.memoryStart;
    for (const buffer of this.memory) {
      if (position < offset + buffer.length) {
        const from = position - offset;
        return buffer.subarray(from, Math.min(buffer.length, from + last + 1 - position));
      }
      offset += buffer.length;
    }
    return undefined;
  }

  /** Was byte `position` neither written nor kept (a reader that joined after the disk filled up)? */
  private dropped(position: number): boolean {
    return this.noSpace !== undefined && position >= this.written && position < this.memoryStart;
  }

  /** A reader moved on: memory behind every reader can go, and a waiting writer may go on. */
  private consumed(): void {
    if (!this.noSpace) return;
    this.trim();
    this.progress.emit("change");
  }

  private readerDone(mark: ReaderMark): void {
    this.readers.delete(mark);
    this.consumed();
    if (this.released && this.readers.size === 0) void this.file.close().catch(() => undefined);
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
