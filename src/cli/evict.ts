// `s3-overlay evict`: free space by removing mirrored objects and chunks, least
// recently used first. Client writes and tombstones stay unless named by their
// own flag, confirmed on a terminal or with --yes. Summary on stdout.
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { ConfigError, loadServeConfig, type Flags } from "../config.js";
import { evict } from "../engine/evict.js";
import { formatBytes } from "./progress.js";
import { evictRequest } from "./requests.js";
import { addStoreOptions, onCache } from "./store-options.js";

export function addEvictCommand(program: Command): void {
  const command = program
    .command("evict")
    .description("remove mirrored data and chunks, least recently used first (never client writes unless --client-writes)")
    .argument("[target]", "<bucket> or <bucket>/<prefix>; default: everything")
    .option("--older-than <duration>", "only data not read for this long (e.g. 7d, 12h)")
    .option("--to-size <size>", "stop once the mirrored data and chunks in scope are at most this size (e.g. 10GiB)")
    .option("--chunks-only", "remove chunks of large objects only, keep whole mirrored objects")
    .option("--tombstones", "also remove tombstones (the remote's objects show again); needs confirmation")
    .option("--client-writes", "also remove objects written by clients (user data!); needs confirmation")
    .option("--yes", "confirm --tombstones / --client-writes without asking")
    .option("--dry-run", "show what would be removed; change nothing")
    .option("--json", "print the summary as one JSON object on stdout");
  addStoreOptions(command).action(async (target: string | undefined, options: Flags) => runEvict(target, options));
}

async function runEvict(target: string | undefined, flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  const request = evictRequest(target, flags);
  if ((request.tombstones || request.clientWrites) && !request.dryRun && flags.yes !== true) await confirm(request.tombstones, request.clientWrites, target);
  const summary = await onCache(config, "evict", request, (engine) => evict(engine, request));
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const { evicted } = summary;
  process.stdout.write(
    `evict: ${summary.dryRun ? "would remove" : "removed"} ${evicted.objects} mirrored objects, ${evicted.manifests} large objects, ${evicted.chunks} chunks ` +
      `(${formatBytes(evicted.bytes)}); ${summary.tombstones} tombstones, ${summary.clientWrites} client writes; ` +
      `cached ${formatBytes(summary.cachedBytesBefore)} -> ${formatBytes(summary.cachedBytesAfter)}\n`,
  );
}

async function confirm(tombstones: boolean, clientWrites: boolean, target: string | undefined): Promise<void> {
  const what = [tombstones && "tombstones", clientWrites && "objects written by clients"].filter(Boolean).join(" and ");
  if (!process.stdin.isTTY) throw new ConfigError(`removing ${what} needs confirmation: add --yes`);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await prompt.question(`Remove ${what} in ${target ?? "all buckets"}? This cannot be undone. [y/N] `);
  prompt.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new ConfigError("not confirmed; nothing removed");
}
