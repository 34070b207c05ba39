// How one setting's value is read: a flag or an S3_OVERLAY_* variable (flags
// win), then parsed; a bad value is a ConfigError naming where it came from.
// Which settings exist is config.ts's business.

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Values given on the command line (commander's camelCase option names). */
export type Flags = Record<string, string | number | boolean | undefined>;
export type Env = Record<string, string | undefined>;

export interface Source {
  value: string;
  /** "--port" or "S3_OVERLAY_PORT": named in error messages */
  origin: string;
}

export function pick(flags: Flags, env: Env, flag: string, envName: string, fallback?: string): Source | undefined {
  const fromFlag = flags[camel(flag)];
  if (fromFlag !== undefined && fromFlag !== false) return { value: String(fromFlag), origin: `--${flag}` };
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== "") return { value: fromEnv, origin: envName };
  if (fallback !== undefined) return { value: fallback, origin: `default of --${flag}` };
  return undefined;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function invalid(source: Source, why: string): ConfigError {
  // a URL's userinfo may hold a secret: never echo it
  const value = source.value.replace(/\/\/.*@/, "//…@");
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return new ConfigError(`invalid ${source.origin} "${shown}": ${why}`);
}

export function parsePort(source: Source): number {
  if (!/^\d+$/.test(source.value)) throw invalid(source, "must be an integer from 0 to 65535");
  const port = Number(source.value);
  if (port > 65535) throw invalid(source, "must be an integer from 0 to 65535");
  return port;
}

/** "30s", "5m", "2h", "1d", "500ms" or plain seconds -> milliseconds */
export function parseDuration(source: Source): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(source.value.trim());
  if (!match) throw invalid(source, "must be a duration like 30s, 5m, 2h or 1d");
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] ?? "s"]!;
  return Math.round(Number(match[1]) * unit);
}

export function parseHost(source: Source): string {
  const host = source.value.trim();
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(host)) throw invalid(source, "must be a host name or IP address");
  return host.replace(/^\[(.*)\]$/, "$1");
}

export function parseDomain(source: Source): string {
  const domain = source.value.trim().toLowerCase().replace(/\.$/, "");
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(domain)) throw invalid(source, "must be a DNS domain like s3.local");
  return domain;
}

export function parseRegion(source: Source): string {
  if (!/^[a-z0-9-]{1,64}$/.test(source.value)) throw invalid(source, "must be a region name like us-east-1");
  return source.value;
}

export function nonEmpty(source: Source): string {
  if (source.value.length === 0) throw invalid(source, "must not be empty");
  return source.value;
}

export function parseBoolean(source: Source): boolean {
  const value = source.value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  throw invalid(source, "must be true or false");
}

export function parseUrl(source: Source): string {
  let url: URL;
  try {
    url = new URL(source.value);
  } catch {
    throw invalid(source, "must be a URL like https://s3.eu-central-1.amazonaws.com");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(source, "must be an http:// or https:// URL");
  if (url.search || url.hash || url.username) throw invalid(source, "must not have a query, fragment or credentials");
  return url.href.replace(/\/$/, "");
}

/** Bytes per unit: binary for K/M/G/T and KiB…, decimal for kB/KB/MB/GB/TB, as users type them. */
const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1,
  k: 1024, ki: 1024, kib: 1024, m: 1024 ** 2, mi: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gi: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, ti: 1024 ** 4, tib: 1024 ** 4,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
};

/** A byte count: 1048576, 64MiB, 16M, 1.5GiB (binary), 16MB, 1GB (decimal). */
export function parseSize(source: Source): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(source.value.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw invalid(source, "must be a size like 16777216, 16MiB, 16MB or 1GiB");
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw invalid(source, "is too large");
  return bytes;
}

export function parseCount(source: Source, min: number, max: number): number {
  if (!/^\d+$/.test(source.value.trim()) || Number(source.value) < min || Number(source.value) > max) {
    throw invalid(source, `must be an integer from ${min} to ${max}`);
  }
  return Number(source.value);
}

/** A network timeout: 0 would mean "wait forever", which is what these settings exist to prevent. */
export function parseChoice<T extends string>(source: Source, choices: readonly T[]): T {
  const value = source.value.trim().toLowerCase();
  if (!(choices as readonly string[]).includes(value)) throw invalid(source, `must be one of ${choices.join(", ")}`);
  return value as T;
}

export function parseOptional<T>(source: Source | undefined, parse: (source: Source) => T): T | undefined {
  return source && parse(source);
}
