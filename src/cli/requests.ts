// The cache commands' flags and S3_OVERLAY_* variables, parsed once into the
// typed requests the engine takes. The same request runs here or goes as JSON to
// a running serve's admin API (src/server/admin-requests.ts checks its shape), so
// the server never sees a flag and both paths read the environment the same way.
import { ConfigError, loadEvictSettings, loadWarmSettings, parseCacheTarget, type Env, type Flags } from "../config.js";
import type { ChangesRequest } from "../engine/changes.js";
import type { EvictRequest } from "../engine/evict.js";
import type { LockEntry } from "../engine/lockfile.js";
import type { StatusRequest } from "../engine/status.js";
import type { VerifyRequest } from "../engine/verify.js";
import { globToRegExp, type WarmRequest } from "../engine/warm.js";
import type { UsageOptions } from "../store/types.js";

/** "bucket" or "bucket/prefix" -> the scope a command works on (undefined: everything). */
export function scopeOf(target: string | undefined): UsageOptions {
  if (target === undefined) return {};
  const parsed = parseCacheTarget(target, "target");
  return parsed.prefix === "" ? { bucket: parsed.bucket } : { bucket: parsed.bucket, prefix: parsed.prefix };
}

export function statusRequest(target: string | undefined): StatusRequest {
  return { scope: scopeOf(target) };
}

export function evictRequest(target: string | undefined, flags: Flags, env: Env = process.env): EvictRequest {
  return { scope: scopeOf(target), ...loadEvictSettings(flags, env) };
}

export function changesRequest(target: string | undefined, flags: Flags): ChangesRequest {
  return { scope: scopeOf(target), dryRun: flags.dryRun === true };
}

export function verifyRequest(target: string | undefined, flags: Flags): VerifyRequest {
  return { scope: scopeOf(target), repair: flags.repair === true };
}

export interface WarmArguments {
  /** positional "bucket" or "bucket/prefix" */
  targets: string[];
  /** the lines of a --manifest file, "bucket/key" each */
  manifest?: string[];
  include?: string[];
  exclude?: string[];
  /** the entries of a --locked lockfile */
  locked?: LockEntry[];
}

export function warmRequest(args: WarmArguments, flags: Flags, env: Env = process.env): WarmRequest {
  const settings = loadWarmSettings(flags, env);
  const keys = (args.manifest ?? []).flatMap((line, index) => {
    const text = line.trim();
    if (text === "" || text.startsWith("#")) return [];
    const target = parseCacheTarget(text, `--manifest line ${index + 1}`);
    if (target.prefix === "") throw new ConfigError(`invalid --manifest line ${index + 1} "${text}": must be <bucket>/<key>`);
    return [{ bucket: target.bucket, key: target.prefix }];
  });
  const globs = (flag: string, list: string[] = []) =>
    list.map((glob) => {
      try {
        globToRegExp(glob);
      } catch (error) {
        throw new ConfigError(`invalid --${flag} "${glob}": ${(error as Error).message}`);
      }
      return glob;
    });
  return {
    targets: args.targets.map((target) => parseCacheTarget(target, "target")),
    keys,
    include: globs("include", args.include),
    exclude: globs("exclude", args.exclude),
    concurrency: settings.concurrency,
    ...(settings.chunks === undefined ? {} : { chunks: settings.chunks }),
    dryRun: settings.dryRun,
    lock: flags.lock !== undefined && flags.lock !== false,
    ...(args.locked === undefined ? {} : { locked: args.locked }),
  };
}
