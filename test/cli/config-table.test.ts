// The README's configuration table is the contract: every variable in it
// changes the configuration, every flag in it is a serve option that sets the
// same thing as its variable, and serve has no option the table does not list.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addServeCommand } from "../../src/cli/serve.js";
import { ConfigError, loadServeConfig, parseSize, type Flags } from "../../src/config.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

interface Row {
  variable: string;
  flag?: string;
}

function tableRows(): Row[] {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("### An S3-compatible local tier"));
  return [...section.matchAll(/^\| `(S3_OVERLAY_[A-Z0-9_]+)` \| (?:`(--[a-z-]+)`|–) \|/gm)].map((match) => ({ variable: match[1]!, flag: match[2] }));
}

/** A valid value for each setting that differs from its default. A new row needs one here. */
const SAMPLES: Record<string, string> = {
  S3_OVERLAY_HOST: "127.0.0.2",
  S3_OVERLAY_PORT: "8123",
  S3_OVERLAY_DATA_DIR: "/tmp/s3o-sample",
  S3_OVERLAY_DOMAIN: "s3.local",
  S3_OVERLAY_LOCAL_ACCESS_KEY: "sample-key",
  S3_OVERLAY_LOCAL_SECRET_KEY: "sample-secret",
  S3_OVERLAY_LOCAL_REGION: "eu-west-3",
  S3_OVERLAY_ALLOW_DEFAULT_CREDENTIALS: "true",
  S3_OVERLAY_REMOTE_ENDPOINT: "http://127.0.0.1:9000",
  S3_OVERLAY_REMOTE_REGION: "eu-central-1",
  S3_OVERLAY_REMOTE_ADDRESSING_STYLE: "path",
  S3_OVERLAY_REMOTE_ACCESS_KEY_ID: "AKIASAMPLE",
  S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: "remote-secret",
  S3_OVERLAY_REMOTE_SESSION_TOKEN: "token",
  S3_OVERLAY_BUCKET_MAPPING: "dev:prod-data",
  S3_OVERLAY_REMOTE_BUCKETS: "fixtures,logs",
  S3_OVERLAY_CACHE_ENABLED: "false",
  S3_OVERLAY_NEGATIVE_TTL: "5m",
  S3_OVERLAY_REVALIDATE: "1h",
  S3_OVERLAY_CHUNK_THRESHOLD: "100MB",
  S3_OVERLAY_CHUNK_SIZE: "8MiB",
  S3_OVERLAY_MAX_INFLIGHT_CHUNKS: "9",
  S3_OVERLAY_LOCAL_ENDPOINT: "http://127.0.0.1:9001",
  S3_OVERLAY_LOCAL_SESSION_TOKEN: "tier-token",
  S3_OVERLAY_DEFAULT_BUCKET_LOCATION: "eu-west-1",
  S3_OVERLAY_CACHE_BUCKET: "my-cache",
  S3_OVERLAY_MAX_CACHE_SIZE: "10GiB",
  S3_OVERLAY_REQUEST_TIMEOUT: "90s",
  S3_OVERLAY_SHUTDOWN_GRACE: "3s",
  S3_OVERLAY_LOG_LEVEL: "warn",
  S3_OVERLAY_LOG_FORMAT: "json",
  S3_OVERLAY_ACCESS_LOG: "info",
  S3_OVERLAY_METRICS: "false",
  S3_OVERLAY_METRICS_TOKEN: "scrape-secret",
  S3_OVERLAY_HTTPS: "true",
  S3_OVERLAY_REMOTE_TIMEOUT: "5s",
  S3_OVERLAY_LOCAL_TIMEOUT: "7s",
  S3_OVERLAY_TLS_CERT: "/etc/ssl/s3o.pem",
  S3_OVERLAY_TLS_KEY: "/etc/ssl/s3o.key",
  S3_OVERLAY_LOCK: "/tmp/s3o-fixtures.lock",
  S3_OVERLAY_LOCK_STRICT: "true",
  S3_OVERLAY_REMOTE_AS_OF: "2024-05-01T12:00:00Z",
};

/** a remote that overlays one bucket, so that remote settings are valid on their own */
const BASE_ENV = { S3_OVERLAY_REMOTE_BUCKETS: "base" };

/** settings that only mean something beside another one */
const CONTEXT: Record<string, Record<string, string>> = {
  S3_OVERLAY_REMOTE_ACCESS_KEY_ID: { S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: "remote-secret" },
  S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: { S3_OVERLAY_REMOTE_ACCESS_KEY_ID: "AKIASAMPLE" },
  S3_OVERLAY_REMOTE_SESSION_TOKEN: { S3_OVERLAY_REMOTE_ACCESS_KEY_ID: "AKIASAMPLE", S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: "remote-secret" },
  S3_OVERLAY_LOCAL_SESSION_TOKEN: { S3_OVERLAY_LOCAL_ENDPOINT: "http://127.0.0.1:9001" },
  S3_OVERLAY_DEFAULT_BUCKET_LOCATION: { S3_OVERLAY_LOCAL_ENDPOINT: "http://127.0.0.1:9001" },
  S3_OVERLAY_CACHE_BUCKET: { S3_OVERLAY_LOCAL_ENDPOINT: "http://127.0.0.1:9001" },
  S3_OVERLAY_LOCAL_TIMEOUT: { S3_OVERLAY_LOCAL_ENDPOINT: "http://127.0.0.1:9001" },
  S3_OVERLAY_TLS_CERT: { S3_OVERLAY_TLS_KEY: "/etc/ssl/s3o.key" },
  S3_OVERLAY_TLS_KEY: { S3_OVERLAY_TLS_CERT: "/etc/ssl/s3o.pem" },
  S3_OVERLAY_LOCK_STRICT: { S3_OVERLAY_LOCK: "/tmp/s3o-fixtures.lock" },
};

/** the configuration without the row's setting: its context alone, or the base where the context is invalid alone */
function without(variable: string) {
  try {
    return loadServeConfig({}, { ...BASE_ENV, ...CONTEXT[variable] });
  } catch {
    return loadServeConfig({}, BASE_ENV);
  }
}

const envWith = (variable: string) => ({ ...BASE_ENV, ...CONTEXT[variable], [variable]: SAMPLES[variable]! });

function serveOptions(): { long: string; attribute: string; takesValue: boolean }[] {
  const program = new Command();
  addServeCommand(program);
  const serve = program.commands.find((command) => command.name() === "serve")!;
  return serve.options.map((option) => ({ long: option.long!, attribute: option.attributeName(), takesValue: option.required || option.optional }));
}

describe("README configuration table = the program", () => {
  const rows = tableRows();
  const options = serveOptions();

  it("the table is found and every row has a sample value", () => {
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.filter((row) => SAMPLES[row.variable] === undefined).map((row) => row.variable)).toEqual([]);
  });

  it.each(tableRows())("$variable changes the configuration", ({ variable }) => {
    expect(loadServeConfig({}, envWith(variable))).not.toEqual(without(variable));
  });

  it.each(tableRows().filter((row) => row.flag))("$flag is a serve option that sets what $variable sets", ({ variable, flag }) => {
    const option = options.find((candidate) => candidate.long === flag);
    expect(option, `serve has no ${flag}`).toBeDefined();
    const flags: Flags = { [option!.attribute]: option!.takesValue ? SAMPLES[variable] : SAMPLES[variable] === "true" };
    expect(loadServeConfig(flags, { ...BASE_ENV, ...CONTEXT[variable] })).toEqual(loadServeConfig({}, envWith(variable)));
  });

  it("serve has no option the table leaves out", () => {
    const documented = new Set(rows.map((row) => row.flag));
    expect(options.map((option) => option.long).filter((long) => !documented.has(long))).toEqual([]);
  });

  it("env-only rows have no flag (secrets stay out of ps)", () => {
    const flagless = rows.filter((row) => !row.flag).map((row) => row.variable);
    expect(flagless).toContain("S3_OVERLAY_LOCAL_SECRET_KEY");
    expect(options.map((option) => option.long)).not.toContain("--secret-key");
  });
});

describe("sizes as users type them", () => {
  const size = (value: string) => parseSize({ value, origin: "--chunk-size" });

  it.each([
    ["1048576", 1048576], ["64KiB", 65536], ["16MiB", 16 * 2 ** 20], ["16M", 16 * 2 ** 20], ["1G", 2 ** 30], ["1.5GiB", 1.5 * 2 ** 30],
    ["16MB", 16_000_000], ["1GB", 1_000_000_000], ["500kB", 500_000], ["2TB", 2e12], ["10 MiB", 10 * 2 ** 20],
  ])("%s is %d bytes", (value, bytes) => {
    expect(size(value)).toBe(bytes);
  });

  it.each(["", "MB", "16XB", "-1MB", "1e6"])("%j is refused naming the flag", (value) => {
    expect(() => size(value)).toThrow(ConfigError);
    expect(() => size(value)).toThrow(/--chunk-size/);
  });
});
