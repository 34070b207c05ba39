// Bounds on our outgoing S3 calls (to the remote and to an S3 local tier): how
// long the other side may stay silent before a call fails, in the shapes undici
// and the AWS SDK take, and how such a failure is described.
import type { Agent } from "undici";
import { networkErrorName } from "./signer.js";

/** undici Agent options: connecting, waiting for the headers, and every gap between body bytes. */
export function agentTimeouts(ms: number): Pick<Agent.Options, "connect" | "headersTimeout" | "bodyTimeout"> {
  return { connect: { timeout: ms }, headersTimeout: ms, bodyTimeout: ms };
}

/**
 * The SDK's NodeHttpHandler options: connecting, and any silence of the socket
 * (headers or body). Without them the SDK waits for ever.
 */
export function sdkTimeouts(ms: number): { connectionTimeout: number; socketTimeout: number } {
  return { connectionTimeout: ms, socketTimeout: ms };
}

const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT", "TimeoutError"]);

/** Did the call fail because the other side stayed silent too long (not because it refused or answered)? */
export function isTimeout(error: unknown): boolean {
  const err = error as { code?: string; name?: string; cause?: { code?: string; name?: string } } | undefined;
  return [err?.code, err?.name, err?.cause?.code, err?.cause?.name].some((name) => name !== undefined && TIMEOUT_CODES.has(name));
}

/** 30000 -> "30 s", 500 -> "0.5 s" */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** What went wrong with a call that got no answer, for "<who> <problem>" messages. */
export function noAnswer(error: unknown, timeoutMs: number): string {
  return isTimeout(error) ? `did not answer within ${seconds(timeoutMs)}` : `is unreachable (${networkErrorName(error)})`;
}
