// Sending file-backed bodies with reused buffers. A file read stream allocates
// a new Buffer per chunk; at GB/s that external memory makes V8 run a full GC
// every 64 MB, whose cost grows with the heap (the AWS SDK's is large): it was
// measured to halve GET throughput. Here a few pooled buffers go round: read a
// span of the file into one, write it to the socket, reuse it once written.
import { close, open, read } from "node:fs";
import type { ServerResponse } from "node:http";
import { pipeline, type Readable } from "node:stream";
import { onCorruptOf, restAfterCorruptOf, type FileSpan } from "../store/types.js";
import { blockExtent, blockMatches, CorruptBlockError } from "../block-crc.js";
import { S3Error } from "../s3/errors.js";
import { log } from "../log.js";

const BUFFER_SIZE = 1 << 20;
/** buffers one response may have written but not yet flushed to the socket */
const IN_FLIGHT = 4;
/** free buffers kept for later responses (more are allocated while busy, then dropped) */
const POOL_LIMIT = 16;
const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(BUFFER_SIZE);
}

function giveBack(buffer: Buffer): void {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
}

const openFile = (path: string) => new Promise<number>((resolve, reject) => open(path, "r", (error, fd) => (error ? reject(error) : resolve(fd))));
const closeFile = (fd: number) => new Promise<void>((resolve) => close(fd, () => resolve()));
const readInto = (fd: number, buffer: Buffer, length: number, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, buffer, 0, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))));

/**
 * A body srvx pipes into the Node response (it calls pipe() for a body without
 * stream events, destroy() when the response is gone or a HEAD): the spans are
 * sent from pooled buffers, and `stream` (which pins the files and may own an
 * open fd) is destroyed unread at the end, whichever way it comes.
 */
export interface PipedBody {
  pipe(res: ServerResponse): ServerResponse;
  destroy(): void;
}

/**
 * Checked spans have their first block verified here, before any header goes
 * out: corruption there (all of a small object's) is an S3 error, handled by
 * the stream's owner first (a dropped mirror is fetched again by the client's retry).
 * Corruption found later can only abort the response: never a short 200. A
 * stream that knows where to get its bytes again (REST_AFTER_CORRUPT: chunks)
 * goes on from there instead, either way.
 */
export async function fileSpansBody(spans: FileSpan[], stream: Readable, what: string): Promise<PipedBody> {
  const rest = restAfterCorruptOf(stream);
  let first: FirstBlock | undefined;
  try {
    first = await readFirstBlock(spans[0]);
  } catch (error) {
    stream.destroy();
    if (!(error instanceof CorruptBlockError)) throw error;
    if (rest) return streamedBody(rest(0), `${what}: ${error.message}; sent from a fresh fetch`);
    await onCorruptOf(stream)?.(error);
    throw new S3Error("InternalError", `The stored bytes of ${what.replace(/^\S+ \//, "")} are corrupt`);
  }
  const progress = { sent: 0 };
  return {
    pipe(res) {
      const taken = first;
      first = undefined;
      sendSpans(spans, res, taken, progress).then(
        () => stream.destroy(),
        (error: Error) => {
          if (error instanceof CorruptBlockError && rest && !res.destroyed) {
            stream.destroy();
            return void streamedBody(rest(progress.sent), `${what}: ${error.message}; the rest sent from a fresh fetch`).pipe(res);
          }
          // headers are out: aborting is the only way to say the body is incomplete
          log.warn(`${what} aborted mid-body: ${error.message}`);
          res.destroy(error);
          stream.destroy();
          if (error instanceof CorruptBlockError) void onCorruptOf(stream)?.(error);
        },
      );
      return res;
    },
    destroy: () => {
      if (first !== undefined) releaseFirst(spans[0]!, first);
      first = undefined;
      stream.destroy();
    },
  };
}

/** A plain stream as the (rest of the) body: its end ends the response, its failure aborts it. */
function streamedBody(body: Readable, why: string): PipedBody {
  log.warn(why);
  return {
    pipe(res) {
      pipeline(body, res, (error) => {
        if (error) log.warn(`${why}: aborted mid-body: ${error.message}`);
      });
      return res;
    },
    destroy: () => body.destroy(),
  };
}

/** The verified first block of a checked span, kept for sending so it is read once; `fd` is open (ours unless the span's own). */
interface FirstBlock {
  fd: number;
  buffer: Buffer;
  bytesRead: number;
}

async function readFirstBlock(span: FileSpan | undefined): Promise<FirstBlock | undefined> {
  if (span?.check === undefined) return undefined;
  const { start, end } = blockExtent(span.check, span.start, span.start);
  const fd = span.fd ?? (await openFile(span.path));
  const buffer = takeBuffer();
  const first = { fd, buffer, bytesRead: 0 };
  try {
    first.bytesRead = await readInto(fd, buffer, end - start + 1, start);
    if (!blockMatches(span.check, start / span.check.blockSize, buffer.subarray(0, first.bytesRead))) throw new CorruptBlockError(span.path, start / span.check.blockSize);
  } catch (error) {
    releaseFirst(span, first);
    throw error;
  }
  return first;
}

function releaseFirst(span: FileSpan, first: FirstBlock): void {
  giveBack(first.buffer);
  if (span.fd === undefined) void closeFile(first.fd);
}

/** `progress.sent`: body bytes handed to the response so far. */
async function sendSpans(spans: FileSpan[], res: ServerResponse, first: FirstBlock | undefined, progress: { sent: number }): Promise<void> {
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const settle = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const gone = () => res.destroyed || res.writableEnded;
  // memory is bounded by IN_FLIGHT buffers: a write's callback is what frees the next one
  res.on("close", settle);
  try {
    for (const span of spans) {
      const fd = (span === spans[0] ? first?.fd : undefined) ?? span.fd ?? (await openFile(span.path));
      const check = span.check;
      // a checked span is read in whole blocks (one block per buffer) and sends the part of each within the span
      const extent = check === undefined ? span : blockExtent(check, span.start, span.end);
      try {
        if (check !== undefined && check.blockSize !== BUFFER_SIZE) throw new Error(`${span.path}: blocks of ${check.blockSize} bytes, buffers of ${BUFFER_SIZE}`);
        let position = extent.start;
        while (position <= extent.end) {
          while (inFlight >= IN_FLIGHT && !gone()) await new Promise<void>((resolve) => (wake = resolve));
          if (gone()) return;
          // the first block was read and verified before the headers
          const preloaded = span === spans[0] && position === extent.start ? first : undefined;
          first = undefined;
          const buffer = preloaded?.buffer ?? takeBuffer();
          const bytesRead = preloaded?.bytesRead ?? (await readInto(fd, buffer, Math.min(BUFFER_SIZE, extent.end - position + 1), position));
          if (bytesRead === 0) throw new Error(`${span.path} ended ${extent.end - position + 1} bytes early`);
          let from = 0;
          let to = bytesRead;
          if (check !== undefined) {
            const index = position / BUFFER_SIZE;
            if (preloaded === undefined && !blockMatches(check, index, buffer.subarray(0, bytesRead))) {
              giveBack(buffer);
              throw new CorruptBlockError(span.path, index);
            }
            from = Math.max(span.start, position) - position;
            to = Math.min(span.end + 1, position + bytesRead) - position;
          }
          position += bytesRead;
          progress.sent += to - from;
          inFlight++;
          res.write(from === 0 && to === BUFFER_SIZE ? buffer : buffer.subarray(from, to), () => {
            inFlight--;
            giveBack(buffer);
            settle();
          });
        }
      } finally {
        // gone before the preloaded block went out: its buffer goes back (its fd is this `fd`)
        if (first !== undefined) giveBack(first.buffer);
        first = undefined;
        // an fd handed over by the stream is the stream's to close
        if (span.fd === undefined) await closeFile(fd);
      }
    }
    if (!gone()) await new Promise<void>((resolve) => res.end(resolve));
  } finally {
    res.off("close", settle);
  }
}
