// What a request handler gets: the parsed, authenticated request and the engine.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { ServeConfig } from "../config.js";
import type { Engine } from "../engine/engine.js";
import { S3Error } from "../s3/errors.js";
import type { Operation, S3Target } from "../s3/route.js";
import type { AuthResult } from "../s3/sigv4.js";
import type { S3Response } from "./respond.js";

export interface S3Context {
  requestId: string;
  method: string;
  operation: Operation;
  target: S3Target;
  headers: IncomingHttpHeaders;
  /** the raw request: its body is read only through s3/payload */
  req: IncomingMessage;
  auth: AuthResult;
  engine: Engine;
  config: ServeConfig;
}

export type Handler = (context: S3Context) => Promise<S3Response>;

export function bucketOf(context: S3Context): string {
  if (context.target.bucket === undefined) throw new S3Error("InvalidRequest", "A bucket name is required");
  return context.target.bucket;
}

export function keyOf(context: S3Context): string {
  if (context.target.key === undefined) throw new S3Error("InvalidRequest", "An object key is required");
  return context.target.key;
}

/** A single header value (the first when repeated). */
export function header(context: S3Context, name: string): string | undefined {
  const value = context.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function queryParam(context: S3Context, name: string): string | undefined {
  return context.target.query.get(name) ?? undefined;
}

/** An integer query parameter within [min, max]; InvalidArgument otherwise. */
export function intParam(context: S3Context, name: string, fallback: number, min: number, max: number): number {
  const raw = queryParam(context, name);
  if (raw === undefined || raw === "") return fallback;
  if (!/^-?\d+$/.test(raw) || Number(raw) < min) {
    throw new S3Error("InvalidArgument", `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: raw });
  }
  return Math.min(Number(raw), max);
}
