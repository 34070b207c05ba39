// The admin API's request bodies: the typed requests the CLI builds (src/cli/requests.ts),
// as JSON. Each is checked against its shape before any work, so a body the CLI would
// never send is the caller's mistake (400 InvalidArgument naming the field), never
// a crash deep in a command (500). Left-out fields take the CLI's defaults; unknown
// fields are refused, so a CLI and a serve of different versions fail loudly.
import type { ChunkPick } from "../config.js";
import type { ChangesRequest } from "../engine/changes.js";
import type { EvictRequest } from "../engine/evict.js";
import type { LockEntry } from "../engine/lockfile.js";
import type { StatusRequest } from "../engine/status.js";
import type { VerifyRequest } from "../engine/verify.js";
import { globToRegExp, type WarmRequest } from "../engine/warm.js";
import { S3Error } from "../s3/errors.js";
import { validateBucketName } from "../s3/names.js";

/** The admin API's commands and the request each takes. */
export interface AdminRequests {
  status: StatusRequest;
  evict: EvictRequest;
  warm: WarmRequest;
  verify: VerifyRequest;
  diff: ChangesRequest;
  reset: ChangesRequest;
}

export type AdminCommand = keyof AdminRequests;

/** Checks `value` at `path` (for the message) and returns it typed. */
type Check<T> = (value: unknown, path: string) => T;

function invalid(path: string, why: string): S3Error {
  return new S3Error("InvalidArgument", `admin request body${path === "" ? "" : ` field ${path}`} ${why}`);
}

const boolean =
  (fallback: boolean): Check<boolean> =>
  (value, path) => {
    if (value === undefined) return fallback;
    if (typeof value !== "boolean") throw invalid(path, "must be true or false");
    return value;
  };

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check<number> =>
  (value, path) => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) throw invalid(path, `must be an integer from ${min} to ${max}`);
    return value as number;
  };

const text: Check<string> = (value, path) => {
  if (typeof value !== "string") throw invalid(path, "must be a string");
  return value;
};

const bucketName: Check<string> = (value, path) => {
  const name = text(value, path);
  try {
    validateBucketName(name);
  } catch {
    throw invalid(path, `"${name}" is not a valid bucket name`);
  }
  return name;
};

const glob: Check<string> = (value, path) => {
  const pattern = text(value, path);
  try {
    globToRegExp(pattern);
  } catch (error) {
    throw invalid(path, `is not a glob: ${(error as Error).message}`);
  }
  return pattern;
};

function optional<T>(check: Check<T>): Check<T | undefined> {
  return (value, path) => (value === undefined ? undefined : check(value, path));
}

function list<T>(check: Check<T>): Check<T[]> {
  return (value, path) => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw invalid(path, "must be a list");
    return value.map((item, index) => check(item, `${path}[${index}]`));
  };
}

type Shape<T> = { [K in keyof T]-?: Check<T[K]> };

/** An object with exactly these fields (undefined ones left out, so the result equals what the CLI built). */
function object<T>(shape: Shape<T>): Check<T> {
  return (value, path) => {
    if (value === undefined) value = {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(path, "must be a JSON object");
    const fields = value as Record<string, unknown>;
    const unknown = Object.keys(fields).find((name) => !(name in shape));
    if (unknown !== undefined) throw invalid(path, `has no field "${unknown}"`);
    const result: Record<string, unknown> = {};
    for (const [name, check] of Object.entries(shape) as [string, Check<unknown>][]) {
      const checked = check(fields[name], path === "" ? name : `${path}.${name}`);
      if (checked !== undefined) result[name] = checked;
    }
    return result as T;
  };
}

const chunkPick: Check<ChunkPick> = (value, path) => {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind === "index") return object<ChunkPick & { kind: "index" }>({ kind: text as Check<"index">, from: integer(-Number.MAX_SAFE_INTEGER), to: integer(-Number.MAX_SAFE_INTEGER) })(value, path);
  if (kind === "head" || kind === "tail") return object<ChunkPick & { kind: "head" | "tail" }>({ kind: text as Check<"head" | "tail">, bytes: integer(0) })(value, path);
  throw invalid(`${path}.kind`, 'must be "index", "head" or "tail"');
};

const scope = object<{ bucket?: string; prefix?: string }>({ bucket: optional(bucketName), prefix: optional(text) });

const changes = object<ChangesRequest>({ scope, dryRun: boolean(false) });

const REQUESTS: { [C in AdminCommand]: Check<AdminRequests[C]> } = {
  status: object<StatusRequest>({ scope, gc: optional(boolean(false)) }),
  evict: object<EvictRequest>({
    scope,
    olderThanMs: optional(integer(0)),
    toSize: optional(integer(0)),
    chunksOnly: boolean(false),
    tombstones: boolean(false),
    clientWrites: boolean(false),
    dryRun: boolean(false),
  }),
  warm: object<WarmRequest>({
    targets: list(object({ bucket: bucketName, prefix: (value, path) => (value === undefined ? "" : text(value, path)) })),
    keys: list(object({ bucket: bucketName, key: text })),
    include: list(glob),
    exclude: list(glob),
    concurrency: (value, path) => (value === undefined ? 8 : integer(1, 256)(value, path)),
    chunks: optional(list(chunkPick)),
    dryRun: boolean(false),
    lock: boolean(false),
    locked: optional(list(object<LockEntry>({ bucket: bucketName, key: text, size: integer(0), etag: text, versionId: optional(text) }))),
  }),
  verify: object<VerifyRequest>({ scope, repair: boolean(false) }),
  diff: changes,
  reset: changes,
};

export function isAdminCommand(name: string): name is AdminCommand {
  return Object.hasOwn(REQUESTS, name);
}

/** The JSON body of an admin request for `command`, checked; throws InvalidArgument. */
export function readAdminRequest<C extends AdminCommand>(command: C, body: string): AdminRequests[C] {
  let value: unknown;
  try {
    value = JSON.parse(body === "" ? "{}" : body);
  } catch (error) {
    throw new S3Error("InvalidArgument", `admin request body is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("", "must be a JSON object");
  return REQUESTS[command](value, "");
}
