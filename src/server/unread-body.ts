// Requests answered before their body was read (an error: 507 for a full disk,
// NoSuchBucket, a bad signature...). A client that waits for "100 Continue" is
// answered before it sends anything, and Node closes the connection after the
// answer. A client already sending has the rest of its body read and dropped
// before the answer goes out: a client that asked for "Connection: close" would
// otherwise have its connection closed under a body it is still writing, and
// see a reset (EPIPE) instead of the error.
import type { IncomingMessage, ServerResponse } from "node:http";

/** how long a client may go on sending a body that is only read to be dropped */
const DISCARD_MS = 15_000;

/** requests whose client waits for "100 Continue" that was not sent yet: no body is coming */
const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * Reads and drops what is left of the request body. Resolves true once the body
 * is over (or none is coming), false if it was still arriving after DISCARD_MS:
 * then the connection must close with the answer.
 */
export async function discardUnreadBody(req: IncomingMessage): Promise<boolean> {
  if (req.complete || awaitingContinue.has(req)) return true;
  req.unpipe();
  req.resume();
  let timer: NodeJS.Timeout | undefined;
  const over = await Promise.race([
    new Promise<boolean>((resolve) => {
      req.once("end", () => resolve(true));
      req.once("close", () => resolve(req.complete));
    }),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DISCARD_MS))),
  ]);
  clearTimeout(timer);
  return over;
}

/**
 * With "Expect: 100-continue", sends the 100 when the body is first read (every
 * way of reading a stream goes through read()), not before the request is even
 * looked at as Node would: a request refused up front never has its body sent.
 */
export function continueOnFirstRead(req: IncomingMessage, res: ServerResponse): void {
  awaitingContinue.add(req);
  const read = req.read;
  req.read = function (this: IncomingMessage, size?: number) {
    req.read = read;
    awaitingContinue.delete(req);
    if (!res.headersSent && !res.writableEnded) res.writeContinue();
    return read.call(this, size);
  };
}
