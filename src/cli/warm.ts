// `s3-overlay warm`: fill the local store from the remote ahead of reads.
// Progress on stderr; the summary on stdout (one JSON object with --json).
// Exit 0 when everything asked for is cached, 1 when objects failed or the run
// was interrupted, 2 for usage and configuration errors.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { ConfigError, loadServeConfig, loadWarmSettings, remoteBucketFor, type Flags } from "../config.js";
import { formatLockfile, readLockfile, type LockEntry } from "../engine/lockfile.js";
import { checkWarmScope, warm, type WarmEvent, type WarmRequest, type WarmSummary } from "../engine/warm.js";
import { formatBytes, WarmProgress } from "./progress.js";
import { warmRequest } from "./requests.js";
import { addStoreOptions, adminRequest, openCache } from "./store-options.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addWarmCommand(program: Command): void {
  const command = program
    .command("warm")
    .description("fetch remote objects into the local store ahead of reads (skips what is cached and unchanged)")
    .argument("[targets...]", "<bucket> or <bucket>/<prefix>: everything the remote lists under it")
    .option("--include <glob>", "of the listed keys, only those matching this glob (* within a path segment, ** across, {a,b}, [0-3]); repeatable", collect)
    .option("--exclude <glob>", "of the listed keys, skip those matching this glob; repeatable", collect)
    .option("--manifest <file>", "also warm the objects named in this file, one <bucket>/<key> a line")
    .option("--concurrency <n>", "objects fetched at once (default 8)")
    .option("--chunks <spec>", "of objects above the chunk threshold, warm only these chunks: first, last, 0-3, -1, head:<size>, tail:<size> (comma-separated)")
    .option("--dry-run", "list what would be fetched and how many bytes; change nothing")
    .option("--lock <file>", "write the lockfile of what was warmed: one line per object with its size, ETag and version ID")
    .option("--locked <file>", "warm exactly the versions in this lockfile (under the targets, if any); a running serve must use the same --lock")
    .option("--json", "print the summary as one JSON object on stdout")
    .option("--progress-interval <duration>", "without a terminal, print a progress line this often (env S3_OVERLAY_PROGRESS_INTERVAL, default 5s)");
  addStoreOptions(command).action(async (targets: string[], options: Flags & { include?: string[]; exclude?: string[] }) => runWarm(targets, options));
}

async function runWarm(targets: string[], options: Flags & { include?: string[]; exclude?: string[] }): Promise<void> {
  const { include, exclude, lock: lockOut, locked: lockIn, ...flags } = options;
  // --locked pins the warm's own engine as serve --lock pins a serve's; --lock is where the new lockfile goes
  const config = loadServeConfig(lockIn === undefined ? flags : { ...flags, lock: lockIn });
  if (!config.remote) throw new ConfigError("warm needs a remote: set S3_OVERLAY_REMOTE_ENDPOINT (or the other S3_OVERLAY_REMOTE_* settings) as for serve");
  if (targets.length === 0 && flags.manifest === undefined && lockIn === undefined) throw new ConfigError("warm needs a target (<bucket>[/<prefix>]), --manifest <file> or --locked <file>");
  const manifest = flags.manifest === undefined ? undefined : readManifest(String(flags.manifest));
  const locked = lockIn === undefined ? undefined : await readLockfile(path.resolve(String(lockIn)));
  // usage errors before any work
  const request = warmRequest({ targets, include, exclude, manifest, locked }, { ...flags, lock: lockOut });
  const remote = config.remote;
  checkWarmScope(request, (bucket) => remoteBucketFor(remote, bucket) !== undefined);
  const progress = new WarmProgress(process.stderr.isTTY === true, loadWarmSettings(flags).progressIntervalMs);

  const abort = new AbortController();
  const interrupt = () => {
    if (abort.signal.aborted) process.exit(130);
    progress.note("warm: interrupted; finishing the objects in flight (Ctrl-C again to quit now)");
    abort.abort();
  };
  process.on("SIGINT", interrupt);
  let lock: LockEntry[] | undefined;
  const onEvent = (event: WarmEvent) => {
    if (event.type === "lock") lock = event.entries;
    progress.onEvent(event);
  };
  let summary: WarmSummary;
  try {
    const access = await openCache(config);
    if ("engine" in access) {
      try {
        summary = await warm(access.engine, request, onEvent, abort.signal);
      } finally {
        await access.engine.close();
      }
    } else {
      summary = await warmThroughServer(access.serverUrl, config, request, onEvent, abort.signal);
    }
  } finally {
    progress.stop();
    process.off("SIGINT", interrupt);
  }
  if (lockOut !== undefined && lock) writeFileSync(String(lockOut), formatLockfile(lock));
  report(summary, flags.json === true);
  process.exitCode = summary.failed.length > 0 || summary.interrupted ? 1 : 0;
}

function readManifest(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n");
  } catch (error) {
    throw new ConfigError(`invalid --manifest "${file}": ${(error as Error).message}`);
  }
}

/** The warm runs in the serve that holds the store; its NDJSON events drive the same progress display. */
async function warmThroughServer(serverUrl: string, config: Parameters<typeof adminRequest>[1], request: WarmRequest, onEvent: (event: WarmEvent) => void, signal: AbortSignal): Promise<WarmSummary> {
  const response = await adminRequest(serverUrl, config, "warm", request);
  // closing the connection stops the server's warm the way SIGINT stops a local one
  signal.addEventListener("abort", () => response.body.destroy(), { once: true });
  let summary: WarmSummary | undefined;
  try {
    for await (const line of createInterface({ input: response.body, crlfDelay: Infinity })) {
      if (line === "") continue;
      const event = JSON.parse(line) as WarmEvent | { type: "error"; message: string };
      if (event.type === "error") throw new Error(`serve at ${serverUrl}: ${event.message}`);
      if (event.type === "summary") summary = event.summary;
      onEvent(event);
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
  if (!summary) {
    if (signal.aborted) throw new Error("warm interrupted; the objects already fetched stay cached");
    throw new Error(`serve at ${serverUrl} ended the warm without a summary`);
  }
  return summary;
}

function report(summary: WarmSummary, json: boolean): void {
  for (const failure of summary.failed) process.stderr.write(`warm: failed ${failure.bucket}/${failure.key}: ${failure.error}\n`);
  if (json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const { fetched, skipped } = summary;
  const verb = summary.dryRun ? "would fetch" : "fetched";
  for (const plan of summary.planned ?? []) process.stdout.write(`${plan.bucket}/${plan.key}\t${plan.bytes}\n`);
  process.stdout.write(
    `warm: ${summary.objects} objects; ${verb} ${fetched.objects} (${formatBytes(fetched.bytes)}) in ${(summary.elapsedMs / 1000).toFixed(1)}s; ` +
      `skipped ${skipped.cached} cached, ${skipped.local} client-written, ${skipped.deleted} deleted; ${summary.failed.length} failed` +
      `${summary.interrupted ? "; interrupted" : ""}\n`,
  );
}
