// Requests answered before their body was read (an error: 507 for a full disk,
// NoSuchBucket, a bad signature...). A client that waits for "100 Continue" is
// answered before it sends anything, and the connection closes (listen.ts); one
// that already sends its body has the rest read and dropped, so it gets to read
// the answer instead of a reset connection, and its connection stays usable.
import type { IncomingMessage, ServerResponse } from "node:http";

/** how long a client may go on sending a body that was already answered before its connection is cut */
const DISCARD_MS = 15_000;

/** Reads and drops what is left of the request body; cuts the connection if it takes too long. */
export function discardUnreadBody(req: IncomingMessage): void {
  if (req.complete) return;
  req.unpipe();
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), DISCARD_MS);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once("end", done);
  req.once("close", done);
}

/**
 * With "Expect: 100-continue", sends the 100 when the body is first read (every
 * way of reading a stream goes through read()), not before the request is even
 * looked at as Node would: a request refused up front never has its body sent.
 */
export function continueOnFirstRead(req: IncomingMessage, res: ServerResponse): void {
  const read = req.read;
  req.read = function (this: IncomingMessage, size?: number) {
    req.read = read;
    if (!res.headersSent && !res.writableEnded) res.writeContinue();
    return read.call(this, size);
  };
}
