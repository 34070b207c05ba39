// One finished request -> one access log line and its metrics. Runs on the
// Node response's 'close', so the duration and bytes are those of the whole
// body, and an aborted response is told apart from a delivered one.
import type { ServerResponse } from "node:http";
import { log, logs, type LogLevel } from "../log.js";
import type { Metrics } from "./metrics.js";

export interface RequestFacts {
  requestId: string;
  method: string;
  /** the S3 operation once routed; "Unrouted" for a request refused before that */
  operation: string;
  bucket?: string;
}

export interface Observer {
  metrics?: Metrics;
  accessLog: LogLevel | "off";
}

export function observe(res: ServerResponse, facts: RequestFacts, observer: Observer): void {
  const started = process.hrtime.bigint();
  // a header set before writeHead() makes Node merge writeHead's headers into the
  // response's own (documented), so getHeader() sees Content-Length and X-Cache below
  res.setHeader("x-amz-request-id", facts.requestId);
  res.once("close", () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // end() was called: the whole body was produced. (writableFinished, "flushed to the OS", loses a race
    // with a client that closes its connection as soon as it has the last byte.)
    const aborted = !res.writableEnded;
    const length = Number(res.getHeader("content-length") ?? 0);
    const bytes = aborted || facts.method === "HEAD" || !Number.isFinite(length) ? 0 : length;
    const cacheHeader = res.getHeader("x-cache");
    const cache = typeof cacheHeader === "string" ? cacheHeader : undefined;
    observer.metrics?.record({ operation: facts.operation, status: res.statusCode, bytes, seconds, cache, aborted });
    if (observer.accessLog !== "off" && logs(observer.accessLog)) {
      log[observer.accessLog]("request", {
        id: facts.requestId, op: facts.operation, bucket: facts.bucket, status: res.statusCode,
        bytes, ms: Math.round(seconds * 1e4) / 10, cache, aborted: aborted || undefined,
      });
    }
  });
}
