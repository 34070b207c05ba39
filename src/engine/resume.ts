// A byte range of a remote object that survives dropped connections: when a
// body breaks off because the connection was lost, the rest is asked for again
// with If-Match, so the bytes still come from one version. A body that fell
// silent is not resumed: a stalled remote would stall the retry too, and every
// retry would add another timeout to what a client waits.
import type { Readable } from "node:stream";
import { S3Error } from "../s3/errors.js";
import type { ByteRange } from "../store/types.js";
import type { RemoteApi } from "./remote.js";

/** resumes per range (a chunk, or a whole-object fill) before the loss is the reader's */
export const MAX_RESUMES = 3;

const LOST = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE", "ECONNABORTED"]);

/** Did a body fail because its connection was cut (not by silence, a bad answer or our own abort)? */
export function connectionLost(error: unknown): boolean {
  const err = error as { code?: string; cause?: { code?: string } } | undefined;
  return LOST.has(err?.code ?? "") || LOST.has(err?.cause?.code ?? "");
}

/**
 * The bytes of `range` of bucket/key at version `etag`, in order. `first` is a
 * body already open at range.start; it may end early by design (the fill's
 * first request asks for one chunk's worth): the rest is then fetched.
 * A 404 or 412 on a later request throws PreconditionFailed: the object changed.
 */
export async function* remoteRange(remote: RemoteApi, bucket: string, key: string, etag: string, range: ByteRange, first?: Readable): AsyncGenerator<Buffer> {
  let offset = range.start;
  let body = first;
  let skip = 0;
  let resumes = 0;
  try {
    while (offset <= range.end) {
      const wasFirst = body !== undefined && body === first;
      if (!body) {
        const read = await remote.get(bucket, key, { range: { start: offset, end: range.end }, ifMatch: etag });
        if (!read) throw new S3Error("PreconditionFailed", `${bucket}/${key} disappeared from the remote during the read`);
        body = read.body;
        // a remote that ignores Range answers 200 with the whole object
        skip = read.status === 200 ? offset : 0;
      }
      let lost: unknown;
      try {
        for await (let data of body as AsyncIterable<Buffer>) {
          if (skip > 0) {
            const dropped = Math.min(skip, data.length);
            skip -= dropped;
            data = data.subarray(dropped);
          }
          if (data.length > range.end + 1 - offset) data = data.subarray(0, range.end + 1 - offset);
          if (data.length === 0) continue;
          offset += data.length;
          yield data;
          if (offset > range.end) break;
        }
      } catch (error) {
        if (!connectionLost(error)) throw error;
        lost = error;
      } finally {
        discard(body);
        body = undefined;
      }
      if (offset > range.end || (wasFirst && lost === undefined)) continue;
      if (resumes === MAX_RESUMES) {
        throw lost ?? new Error(`remote sent ${offset - range.start} of ${range.end - range.start + 1} bytes of ${bucket}/${key}`);
      }
      resumes++;
    }
  } finally {
    if (body) discard(body);
    if (first) discard(first);
  }
}

/** Closes a body we are done with; undici reports an unread body's destruction as an error event, which nobody must hear. */
export function discard(body: Readable): void {
  if (body.destroyed) return;
  body.on("error", () => undefined);
  body.destroy();
}
