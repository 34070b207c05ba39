// undici agents for benchmarks: a stalled server fails the run within a minute
// or two instead of hanging it for undici's default 5 minutes.
import { Agent } from "undici";

const TIMEOUTS = { headersTimeout: 120_000, bodyTimeout: 60_000 };

/** A keep-alive agent with `connections` connections per origin and stall timeouts. */
export function benchAgent(connections = 1) {
  return new Agent({ connections, ...TIMEOUTS });
}
