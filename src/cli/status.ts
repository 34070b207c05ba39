// `s3-overlay status`: what the cache holds per bucket, and with a running serve
// (found through the data dir, or --server <url>) its live counters. A table on
// stdout, or one JSON object with --json (the CacheStatus shape).
import type { Command } from "commander";
import { loadServeConfig, type Flags } from "../config.js";
import { cacheStatus, type CacheStatus, type UsageTotals } from "../engine/status.js";
import { formatBytes } from "./progress.js";
import { statusRequest } from "./requests.js";
import { addStoreOptions, adminRequest, openCache } from "./store-options.js";

export function addStatusCommand(program: Command): void {
  const command = program
    .command("status")
    .description("show what the cache holds, per bucket; with a running serve also its live counters")
    .argument("[target]", "<bucket> or <bucket>/<prefix>; default: everything")
    .option("--server <url>", "ask this running serve (its admin API, signed with the local credentials)")
    .option("--json", "print one JSON object on stdout");
  addStoreOptions(command).action(async (target: string | undefined, options: Flags) => runStatus(target, options));
}

async function runStatus(target: string | undefined, flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  const request = statusRequest(target);
  let status: CacheStatus;
  let serverUrl = flags.server === undefined ? undefined : String(flags.server);
  if (serverUrl === undefined) {
    const access = await openCache(config);
    if ("engine" in access) {
      try {
        status = await cacheStatus(access.engine, request.scope);
      } finally {
        await access.engine.close();
      }
    } else {
      serverUrl = access.serverUrl;
    }
  }
  if (serverUrl !== undefined) {
    status = (await (await adminRequest(serverUrl, config, "status", request)).body.json()) as CacheStatus;
    status.server = { ...status.server!, url: serverUrl };
  }
  if (flags.json === true) process.stdout.write(`${JSON.stringify(status!, null, 2)}\n`);
  else process.stdout.write(table(status!));
}

function table(status: CacheStatus): string {
  const header = ["bucket", "mirrored", "large objects", "chunks cached", "client-written", "tombstones"];
  const row = (name: string, usage: UsageTotals) => [
    name,
    `${usage.mirroredObjects} (${formatBytes(usage.mirroredBytes)})`,
    `${usage.chunkedObjects} (${formatBytes(usage.chunkedBytes)})`,
    `${usage.chunksCached}/${usage.chunksTotal} (${formatBytes(usage.chunkBytes)})`,
    `${usage.localObjects} (${formatBytes(usage.localBytes)})`,
    String(usage.tombstones),
  ];
  const rows = [header, ...status.buckets.map((bucket) => row(bucket.bucket, bucket)), row("total", status.totals)];
  const widths = header.map((_, column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  const lines = rows.map((cells) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
  lines.push("", `cached (evictable): ${formatBytes(status.cachedBytes)}; disk used: ${formatBytes(status.diskBytes)}`);
  if (status.server) {
    const { counters, maxCacheSize, url } = status.server;
    lines.push(
      `serve ${url ?? ""}: ${counters.hits} hits, ${counters.misses} misses, ${counters.passes} pass-through, ${counters.coalesced} coalesced; ` +
        `${formatBytes(counters.filledBytes + counters.chunks.fetchedBytes)} from the remote; ` +
        `chunks: ${counters.chunks.fetched} fetched, ${counters.chunks.hits} hits, ${counters.chunks.coalesced} coalesced, ${counters.chunks.corrupt} corrupt; ` +
        `${counters.corruptObjects ?? 0} corrupt objects` +
        `${maxCacheSize === undefined ? "" : `; --max-cache-size ${formatBytes(maxCacheSize)}`}`,
    );
    const hot = counters.hotSet;
    if (hot) lines.push(`hot set (small objects in memory): ${hot.objects} objects, ${formatBytes(hot.bytes)} of ${formatBytes(hot.maxBytes)}; ${hot.hits} hits`);
    // older servers do not send these counters
    if (counters.storageFull || counters.passThroughDiskFull) {
      lines.push(`disk full: ${counters.storageFull ?? 0} writes refused (507), ${counters.passThroughDiskFull ?? 0} misses served without caching`);
    }
  }
  return `${lines.join("\n")}\n`;
}
