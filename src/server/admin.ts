// The admin API of a running serve: how `warm`, `evict`, `status`, `verify`, `diff` and `reset` work on a
// data dir that serve holds (the store allows one process). Requests are POSTs
// of JSON to /_s3-overlay/<command>, SigV4-signed with the local credentials,
// payload hash included; bucket names cannot start with "_", so no S3 request
// is ever mistaken for one. The work runs on the server's own engine.
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError, type ServeConfig } from "../config.js";
import type { Engine } from "../engine/engine.js";
import { evict } from "../engine/evict.js";
import { diff, reset } from "../engine/changes.js";
import { cacheStatus, memoryFigures } from "../engine/status.js";
import { warm, type WarmEvent, type WarmRequest } from "../engine/warm.js";
import { verify } from "../engine/verify.js";
import { S3Error } from "../s3/errors.js";
import { verifyRequest, type CredentialLookup } from "../s3/sigv4.js";
import { isAdminCommand, readAdminRequest } from "./admin-requests.js";

export const ADMIN_PREFIX = "/_s3-overlay/";
/** manifests of many keys come in the warm request */
const MAX_BODY = 64 * 1024 * 1024;

export function isAdminRequest(rawUrl: string): boolean {
  return rawUrl.startsWith(ADMIN_PREFIX);
}

export async function handleAdmin(req: IncomingMessage, res: ServerResponse | undefined, engine: Engine, config: ServeConfig, lookup: CredentialLookup): Promise<Response> {
  try {
    const [rawPath, rawQuery = ""] = (req.url ?? "/").split("?", 2) as [string, string?];
    const auth = verifyRequest({ method: req.method ?? "GET", rawPath, rawQuery, headers: req.headers }, lookup);
    if (req.method !== "POST") throw new S3Error("MethodNotAllowed", "The admin API takes POST requests");
    if (auth.payload.mode !== "signed") throw new S3Error("AccessDenied", "The admin API needs a signed payload (x-amz-content-sha256 of the body)");
    const body = await readBody(req);
    if (createHash("sha256").update(body).digest("hex") !== auth.payload.sha256) {
      throw new S3Error("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    const command = rawPath.slice(ADMIN_PREFIX.length);
    if (!isAdminCommand(command)) throw new S3Error("InvalidRequest", `no admin command ${rawPath}`);
    const text = body.toString("utf8");
    switch (command) {
      case "status": {
        const request = readAdminRequest(command, text);
        const status = await cacheStatus(engine, request.scope);
        const memory = await memoryFigures(request.gc === true);
        return json(200, { ...status, server: { maxCacheSize: config.maxCacheSize, counters: engine.counters(), memory } });
      }
      case "evict":
        return json(200, await evict(engine, readAdminRequest(command, text)));
      case "diff":
        return json(200, await diff(engine, readAdminRequest(command, text).scope));
      case "reset":
        return json(200, await reset(engine, readAdminRequest(command, text)));
      case "verify":
        return json(200, await verify(engine, readAdminRequest(command, text)));
      case "warm":
        return warmStream(engine, readAdminRequest(command, text), res);
    }
  } catch (error) {
    if (error instanceof S3Error) return json(error.status, { error: { code: error.code, message: error.message } });
    if (error instanceof ConfigError) return json(400, { error: { code: "InvalidArgument", message: error.message } });
    return json(500, { error: { code: "InternalError", message: (error as Error).message } });
  }
}

/** Warm progress as NDJSON lines (WarmEvent), the summary last; a client that goes away stops the warm. */
function warmStream(engine: Engine, request: WarmRequest, res: ServerResponse | undefined): Response {
  const abort = new AbortController();
  res?.once("close", () => abort.abort());
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (event: WarmEvent | { type: "error"; message: string }) => {
        if (!abort.signal.aborted) controller.enqueue(encoder.encode(`${JSON.stringify(event)}\n`));
      };
      warm(engine, request, send, abort.signal)
        .catch((error: Error) => send({ type: "error", message: error.message }))
        .finally(() => controller.close());
    },
  });
  return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > MAX_BODY) throw new S3Error("EntityTooLarge", "Admin request body too large");
    parts.push(part);
  }
  return Buffer.concat(parts);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}
