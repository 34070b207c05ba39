// `s3-overlay diff`: what clients changed relative to the remote, like `git status`:
// A (client write, remote has no such key), M (client write over a remote key),
// D (deleted: a tombstone). Exit 1 when the remote could not be reached to tell
// A from M: those changes print as "?" and the summary says why.
import type { Command } from "commander";
import { loadServeConfig, type Flags } from "../config.js";
import { diff, type Diff } from "../engine/changes.js";
import { compareKeys } from "../engine/listing.js";
import { changesRequest } from "./requests.js";
import { addStoreOptions, onCache } from "./store-options.js";

export function addDiffCommand(program: Command): void {
  const command = program
    .command("diff")
    .description("show what clients changed relative to the remote: added, overwritten and deleted keys")
    .argument("[target]", "<bucket> or <bucket>/<prefix>; default: everything")
    .option("--json", "print one JSON object on stdout ({added, overwritten, deleted, unknown, counts})");
  addStoreOptions(command).action(async (target: string | undefined, options: Flags) => runDiff(target, options));
}

async function runDiff(target: string | undefined, flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  const result = await onCache(config, "diff", changesRequest(target, flags), (engine, request) => diff(engine, request.scope));
  process.stdout.write(flags.json === true ? `${JSON.stringify(result, null, 2)}\n` : formatDiff(result));
  if (result.remoteError !== undefined) {
    process.stderr.write(`s3-overlay: ${result.counts.unknown} client writes not classified (added or overwritten): ${result.remoteError}\n`);
    process.exitCode = 1;
  }
}

/** One line per change, in bucket then key order, and a summary line. */
export function formatDiff(result: Diff): string {
  const lines = [
    ...result.added.map((change) => ({ tag: "A", ...change })),
    ...result.overwritten.map((change) => ({ tag: "M", ...change })),
    ...result.deleted.map((change) => ({ tag: "D", ...change })),
    ...result.unknown.map((change) => ({ tag: "?", ...change })),
  ].sort((a, b) => (a.bucket === b.bucket ? compareKeys(a.key, b.key) : a.bucket < b.bucket ? -1 : 1));
  const { added, overwritten, deleted, unknown } = result.counts;
  const summary = `diff: ${added} added, ${overwritten} overwritten, ${deleted} deleted${unknown > 0 ? `, ${unknown} unknown (remote unreachable)` : ""}`;
  return [...lines.map((line) => `${line.tag} ${line.bucket}/${line.key}`), summary].join("\n") + "\n";
}
