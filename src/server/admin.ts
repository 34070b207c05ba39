// The admin API of a running serve: how `warm`, `evict`, `status`, `verify`, `diff` and `reset` work on a
// data dir that serve holds (the store allows one process). Requests are POSTs
// of JSON to /_s3-overlay/<command>, SigV4-signed with the local credentials,
// payload hash included; bucket names cannot start with "_", so no S3 request
// is ever mistaken for one. The work runs on the server's own engine.
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ConfigError, type ServeConfig } from "../config.js";
import type { Engine } from "../engine/engine.js";
import { evict, parseEvictInput, type EvictInput } from "../engine/evict.js";
import { diff, parseChangesInput, reset, type ChangesInput } from "../engine/changes.js";
import { cacheStatus, memoryFigures, parseScope } from "../engine/status.js";
import { parseWarmInput, warm, type WarmEvent, type WarmInput } from "../engine/warm.js";
import { parseVerifyInput, verify, type VerifyInput } from "../engine/verify.js";
import { S3Error } from "../s3/errors.js";
import { verifyRequest, type CredentialLookup } from "../s3/sigv4.js";

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
    const input = parseInput(body);
    switch (rawPath.slice(ADMIN_PREFIX.length)) {
      case "status": {
        const status = await cacheStatus(engine, parseScope(input.target as string | undefined));
        const memory = await memoryFigures(input.gc === true);
        return json(200, { ...status, server: { maxCacheSize: config.maxCacheSize, counters: engine.counters(), memory } });
      }
      case "evict":
        return json(200, await evict(engine, parseEvictInput(input as unknown as EvictInput)));
      case "diff":
        return json(200, await diff(engine, parseChangesInput(input as unknown as ChangesInput).scope));
      case "reset":
        return json(200, await reset(engine, parseChangesInput(input as unknown as ChangesInput)));
      case "verify":
        return json(200, await verify(engine, parseVerifyInput(input as unknown as VerifyInput)));
      case "warm":
        return warmStream(engine, parseWarmInput(input as unknown as WarmInput), res);
      default:
        throw new S3Error("InvalidRequest", `no admin command ${rawPath}`);
    }
  } catch (error) {
    if (error instanceof S3Error) return json(error.status, { error: { code: error.code, message: error.message } });
    if (error instanceof ConfigError || error instanceof SyntaxError) return json(400, { error: { code: "InvalidArgument", message: error.message } });
    return json(500, { error: { code: "InternalError", message: (error as Error).message } });
  }
}

/** Warm progress as NDJSON lines (WarmEvent), the summary last; a client that goes away stops the warm. */
function warmStream(engine: Engine, request: ReturnType<typeof parseWarmInput>, res: ServerResponse | undefined): Response {
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

const STRING_LISTS = ["targets", "manifest", "include", "exclude"];

/**
 * The JSON body as a command's input, in the shape the CLI sends: any other shape
 * is the client's mistake (400), not a crash deep in a command (500).
 */
function parseInput(body: Buffer): Record<string, unknown> {
  const input: unknown = JSON.parse(body.toString("utf8") || "{}");
  const invalid = (why: string) => new S3Error("InvalidArgument", `admin request body: ${why}`);
  if (!isObject(input)) throw invalid("must be a JSON object");
  input.flags ??= {};
  if (!isObject(input.flags)) throw invalid('"flags" must be an object');
  if (input.target !== undefined && typeof input.target !== "string") throw invalid('"target" must be a string');
  input.targets ??= [];
  for (const name of STRING_LISTS) {
    const list = input[name];
    if (list !== undefined && !(Array.isArray(list) && list.every((item) => typeof item === "string"))) throw invalid(`"${name}" must be a list of strings`);
  }
  return input;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
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
