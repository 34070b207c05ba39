// The h3 application: HTTP in -> s3/ (target, auth, operation) -> handlers ->
// engine -> HTTP out. Every response carries x-amz-request-id; every error is S3 XML.
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { H3, type H3Event } from "h3";
import { toNodeHandler } from "h3/node";
import type { ServeConfig } from "../config.js";
import type { Engine } from "../engine/engine.js";
import { S3Error, errors } from "../s3/errors.js";
import { isNoSpace } from "../engine/disk-space.js";
import { handleAdmin, isAdminRequest } from "./admin.js";
import { parseTarget, resolveOperation } from "../s3/route.js";
import { verifyRequest } from "../s3/sigv4.js";
import type { S3Context } from "./context.js";
import { HANDLERS } from "./handlers/index.js";
import { log } from "../log.js";
import { errorResponse, toHttpResponse } from "./respond.js";
import { isPreflight, preflightError } from "./preflight.js";
import { fileSpansBody } from "./send-file.js";
import { discardUnreadBody } from "./unread-body.js";
import { newRequestId } from "./request-id.js";
import { fileSpansOf, objectBytesOf } from "../store/types.js";
import type { NodeHandler } from "./listen.js";
import { Metrics } from "./metrics.js";
import { observe, type Observer, type RequestFacts } from "./observe.js";

export function createApp(engine: Engine, config: ServeConfig): H3 {
  const lookup = (accessKeyId: string) =>
    accessKeyId === config.credentials.accessKeyId ? config.credentials.secretAccessKey : undefined;
  const observer: Observer = { metrics: config.metrics ? new Metrics(engine) : undefined, accessLog: config.accessLog };

  const handle = async (event: H3Event): Promise<Response> => {
    const req = event.runtime!.node!.req as IncomingMessage;
    const method = req.method ?? "GET";
    const requestId = newRequestId();
    const rawUrl = req.url ?? "/";
    if (isHealthCheck(req, rawUrl)) {
      return toHttpResponse({ headers: { "content-type": "text/plain" }, body: "ok\n" }, requestId, method);
    }
    if (observer.metrics && isMetricsRequest(req, rawUrl)) return metricsResponse(req, observer.metrics, config.metrics?.token, requestId, method);
    const res = event.runtime!.node!.res as ServerResponse | undefined;
    const facts: RequestFacts = { requestId, method, operation: "Unrouted" };
    if (res) observe(res, facts, observer);
    if (isAdminRequest(rawUrl)) {
      facts.operation = "Admin";
      return handleAdmin(req, res, engine, config, lookup);
    }
    let resource = rawUrl.split("?")[0]!;
    try {
      const target = parseTarget(rawUrl, req.headers.host, config.domain);
      resource = target.bucket === undefined ? "/" : `/${target.bucket}${target.key === undefined ? "" : `/${target.key}`}`;
      facts.bucket = target.bucket;
      if (isPreflight(method)) throw preflightError(req.headers, target.key !== undefined);
      const virtualHostBucket = target.virtualHosted ? target.bucket : undefined;
      const auth = verifyRequest({ method, rawPath: target.rawPath, rawQuery: target.rawQuery, headers: req.headers, virtualHostBucket }, lookup);
      const operation = resolveOperation(method, target, req.headers);
      facts.operation = operation;
      const context: S3Context = { requestId, method, operation, target, headers: req.headers, req, auth, engine, config };
      const result = await HANDLERS[operation](context);
      const body = result.body;
      if (body instanceof Readable) {
        // bytes in memory go out as they are
        const bytes = method === "GET" ? objectBytesOf(body) : undefined;
        if (bytes) {
          body.destroy();
          return toHttpResponse({ ...result, body: bytes }, requestId, method);
        }
        // a body of plain file spans is sent from reused buffers (send-file.ts)
        const spans = method === "GET" ? fileSpansOf(body) : undefined;
        if (spans) return toHttpResponse({ ...result, body: await fileSpansBody(spans, body, `${method} ${resource}`) }, requestId, method);
        // once headers are out, a failing body can only abort the response: say why in the log
        body.once("error", (error) => log.warn(`${method} ${resource} aborted mid-body: ${error.message}`));
        if (res && method === "GET" && result.headers?.["x-cache"] !== "hit") {
          const response = toHttpResponse(result, requestId, method);
          sendHeadNow(res, response, body);
          return response;
        }
      }
      return toHttpResponse(result, requestId, method);
    } catch (thrown) {
      // a full disk anywhere (staging, the catalog) is the client's 507, not an internal error
      const error = isNoSpace(thrown) ? errors.storageFull() : thrown;
      if (!(error instanceof S3Error)) log.error(`${method} ${resource} failed: ${(error as Error)?.stack ?? String(error)}`);
      // a body still arriving is read to its end first, or the connection closes with the answer
      const drained = await discardUnreadBody(req);
      return errorResponse(error, requestId, method, resource, drained ? {} : { connection: "close" });
    }
  };

  // S3 keys may contain anything: the S3 layer decides what a malformed path is (InvalidURI)
  return new H3({
    allowMalformedURL: true,
    // anything h3 itself rejects still gets S3 error XML
    onError: (error, event) => errorResponse(error, newRequestId(), event.req.method, "/"),
  }).all("/**", handle);
}

export function createNodeHandler(engine: Engine, config: ServeConfig): NodeHandler {
  return toNodeHandler(createApp(engine, config)) as NodeHandler;
}

/**
 * srvx writes a streamed response's head only once the body's first bytes are readable. A miss knows its
 * head (status, size, ETag) as soon as the remote's headers arrive, but its first body bytes can come much
 * later: on a kept-alive connection RGW sends a small body in a second segment that Nagle holds until the
 * client's delayed ACK, ~40 ms (measured: direct headers 5.9 ms, body 48 ms). Send the head now, as a
 * proxy does. Past this point a failing body can only abort the connection (a short body), never a 500.
 * An empty write sends the head, as latin1 like every head Node writes; flushHeaders() would send it as
 * UTF-8, doubling each non-ASCII byte of an x-amz-meta-* value.
 */
const EMPTY = Buffer.alloc(0);

function sendHeadNow(res: ServerResponse, response: Response, body: Readable): void {
  const head: string[] = [];
  for (const [name, value] of response.headers) head.push(name, value);
  res.writeHead(response.status, response.statusText, head);
  res.write(EMPTY);
  body.once("error", () => res.destroy());
}

/** `GET /metrics` unsigned (scrapers cannot sign SigV4) or with a bearer token; a signed one is a listing of bucket "metrics". */
function isMetricsRequest(req: IncomingMessage, rawUrl: string): boolean {
  const authorization = req.headers.authorization;
  return (req.method === "GET" || req.method === "HEAD") && rawUrl === "/metrics" && (authorization === undefined || /^Bearer /i.test(authorization));
}

async function metricsResponse(req: IncomingMessage, metrics: Metrics, token: string | undefined, requestId: string, method: string): Promise<Response> {
  if (token !== undefined && !sameSecret(req.headers.authorization ?? "", `Bearer ${token}`)) {
    return errorResponse(new S3Error("AccessDenied", "GET /metrics needs Authorization: Bearer <S3_OVERLAY_METRICS_TOKEN>"), requestId, method, "/metrics");
  }
  return toHttpResponse({ headers: { "content-type": metrics.contentType }, body: await metrics.text() }, requestId, method);
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `GET /health` without credentials; a signed GET /health is a listing of bucket "health". */
function isHealthCheck(req: IncomingMessage, rawUrl: string): boolean {
  return (req.method === "GET" || req.method === "HEAD") && rawUrl === "/health" && req.headers.authorization === undefined;
}
