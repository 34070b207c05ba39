// `s3-overlay verify`: read every object and chunk in scope and check it against
// what was recorded when it was written (block CRC32s, size, MD5 ETags). Corrupt
// entries are listed; --repair drops corrupt mirrored data (fetched again on the
// next read) and marks corrupt client writes (reads answer an error; never deleted).
// Exit 0 when nothing corrupt is left in the store, 1 otherwise.
import type { Command } from "commander";
import { loadServeConfig, type Flags } from "../config.js";
import { verify } from "../engine/verify.js";
import { verifyRequest } from "./requests.js";
import { formatBytes } from "./progress.js";
import { addStoreOptions, onCache } from "./store-options.js";

export function addVerifyCommand(program: Command): void {
  const command = program
    .command("verify")
    .description("check every stored object and chunk against its checksums; --repair drops corrupt mirrored data and marks corrupt client writes")
    .argument("[target]", "<bucket> or <bucket>/<prefix>; default: everything")
    .option("--repair", "drop corrupt mirrored objects and chunks (refetched on the next read), mark corrupt client writes, record checksums of older data")
    .option("--json", "print the summary as one JSON object on stdout");
  addStoreOptions(command).action(async (target: string | undefined, options: Flags) => runVerify(target, options));
}

async function runVerify(target: string | undefined, flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  const summary = await onCache(config, "verify", verifyRequest(target, flags), verify);
  if (summary.remaining > 0) process.exitCode = 1;
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const lines = summary.corrupt.map((entry) => {
    const what = entry.kind === "chunk" ? `chunk ${entry.index} of ${entry.bucket}/${entry.key}` : `${entry.bucket}/${entry.key}`;
    const who = entry.origin === "remote" ? "mirrored" : "client write";
    const done = entry.action === "dropped" ? "dropped, refetched on the next read" : entry.action === "marked" ? "kept, reads answer InternalError" : "not repaired";
    return `corrupt: ${what} (${who}): ${entry.problem}; ${done}`;
  });
  lines.push(
    `verify: ${summary.objects} objects, ${summary.chunks} chunks, ${formatBytes(summary.bytes)} read; ${summary.corrupt.length} corrupt, ${summary.remaining} left` +
      `${summary.unchecked > 0 ? `; ${summary.unchecked} objects without block checksums (older data${summary.repair ? `, ${summary.checksRecorded} files recorded` : ", --repair records them"})` : ""}`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
}
