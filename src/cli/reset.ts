// `s3-overlay reset`: drop client writes and tombstones in scope, so the view is
// the remote's again; mirrored objects and chunks stay cached. No confirmation
// (it is meant for scripts and CI): --dry-run shows what would go.
import type { Command } from "commander";
import { loadServeConfig, type Flags } from "../config.js";
import { reset } from "../engine/changes.js";
import { changesRequest } from "./requests.js";
import { addStoreOptions, onCache } from "./store-options.js";

export function addResetCommand(program: Command): void {
  const command = program
    .command("reset")
    .description("drop client writes and deletes (tombstones) so the view is the remote's again; cached remote data stays")
    .argument("[target]", "<bucket> or <bucket>/<prefix>; default: everything")
    .option("--dry-run", "show what would be dropped; change nothing")
    .option("--json", "print the summary as one JSON object on stdout");
  addStoreOptions(command).action(async (target: string | undefined, options: Flags) => runReset(target, options));
}

async function runReset(target: string | undefined, flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  const summary = await onCache(config, "reset", changesRequest(target, flags), reset);
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const skipped = summary.skipped > 0 ? `; ${summary.skipped} changed meanwhile and kept` : "";
  process.stdout.write(`reset: ${summary.dryRun ? "would drop" : "dropped"} ${summary.clientWrites} client writes and ${summary.tombstones} tombstones${skipped}\n`);
}
