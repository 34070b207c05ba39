// The benchmark suite (`npm run bench`): s3-overlay against baselines measured
// in the same run, on the same disk. Prints one Markdown table and writes it to
// tmp/bench/results.md.
//   npm run bench -- [--only local|small|overlay|chunks|warm|tier|as-of] [--trials N] [--size-mb N]
//     --only     run one group (default all)
//     --trials   trials per comparison (default 5; big remote reads run at most 3)
//     --size-mb  size of the big object in MiB (smaller for a quick check); defaults:
//                local, overlay and tier 1024, chunks 2048, warm 256 (its two large objects)
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setGlobalDispatcher } from "undici";
import { benchAgent } from "./lib/agent.mjs";
import { makeFile } from "./lib/files.mjs";
import { killAllStarted } from "./lib/processes.mjs";
import { attempt, renderTable } from "./lib/report.mjs";
import { benchAsOf } from "./as-of.mjs";
import { benchChunks } from "./chunks.mjs";
import { benchLocal } from "./local.mjs";
import { benchOverlay } from "./overlay.mjs";
import { benchSmall } from "./small.mjs";
import { benchTier } from "./tier.mjs";
import { benchWarm } from "./warm.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BENCH_DIR = join(ROOT, "tmp", "bench");
const GROUPS = ["local", "small", "overlay", "chunks", "warm", "tier", "as-of"];
const MiB = 2 ** 20;

function parseOptions() {
  const { values } = parseArgs({
    options: { only: { type: "string" }, trials: { type: "string", default: "5" }, "size-mb": { type: "string" } },
  });
  if (values.only !== undefined && !GROUPS.includes(values.only)) throw new Error(`--only must be one of ${GROUPS.join(", ")}`);
  const trials = Number(values.trials);
  const sizeMib = values["size-mb"] === undefined ? undefined : Number(values["size-mb"]);
  if (!Number.isInteger(trials) || trials < 1) throw new Error("--trials must be a positive integer");
  if (sizeMib !== undefined && (!Number.isInteger(sizeMib) || sizeMib < 1)) throw new Error("--size-mb must be a positive integer");
  // each group's big object: --size-mb, else the group's default
  const sizeBytes = (defaultMib) => (sizeMib ?? defaultMib) * MiB;
  return { groups: values.only ? [values.only] : GROUPS, trials, sizeBytes: sizeBytes(1024), chunksSizeBytes: sizeBytes(2048), warmLargeBytes: sizeBytes(256) };
}

function describeRun(options) {
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {}
  return `s3-overlay benchmark, ${new Date().toISOString()}, node ${process.version}, commit ${commit} (+ working tree), groups ${options.groups.join("+")}, ${options.trials} trials`;
}

const options = parseOptions();
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true"; // the SDK's Node 20 notice, once per run
setGlobalDispatcher(benchAgent()); // timePut and plain GETs use undici's global dispatcher
await mkdir(BENCH_DIR, { recursive: true });
const workDir = await mkdtemp(join(BENCH_DIR, "run-"));
// an interrupted run still leaves nothing behind (RGW stops itself once we are gone)
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    killAllStarted();
    rmSync(workDir, { recursive: true, force: true });
    process.exit(128 + constants.signals[signal]);
  });
}

const started = Date.now();
const rows = [];
try {
  const bigFile = ["local", "overlay", "tier"].some((group) => options.groups.includes(group)) ? await makeFile(join(workDir, "big.bin"), options.sizeBytes) : undefined;
  if (options.groups.includes("local")) {
    console.error("local mode (issue #2) ...");
    const localOptions = { workDir: join(workDir, "local"), bigFile, sizeBytes: options.sizeBytes, trials: options.trials };
    rows.push(...(await attempt("local", () => benchLocal(localOptions))));
  }
  if (options.groups.includes("small")) {
    console.error("hot small objects, wrk against nginx and node:http (issue #14) ...");
    rows.push(...(await attempt("small", () => benchSmall({ workDir: join(workDir, "small"), trials: options.trials }))));
  }
  if (options.groups.includes("overlay")) {
    console.error("overlay mode against Ceph RGW (issue #3) ...");
    const overlayOptions = { workDir: join(workDir, "overlay"), bigFile, sizeBytes: options.sizeBytes, trials: Math.min(options.trials, 3) };
    rows.push(...(await attempt("overlay", () => benchOverlay(overlayOptions))));
  }
  if (options.groups.includes("chunks")) {
    console.error("chunk cache against Ceph RGW (issue #4) ...");
    const chunksOptions = { workDir: join(workDir, "chunks"), sizeBytes: options.chunksSizeBytes, trials: Math.min(options.trials, 3) };
    rows.push(...(await attempt("chunks", () => benchChunks(chunksOptions))));
  }
  if (options.groups.includes("warm")) {
    console.error("warm command against Ceph RGW (issue #6) ...");
    const warmOptions = { workDir: join(workDir, "warm"), largeBytes: options.warmLargeBytes, trials: Math.min(options.trials, 3) };
    rows.push(...(await attempt("warm", () => benchWarm(warmOptions))));
  }
  if (options.groups.includes("tier")) {
    console.error("serve on a Ceph RGW local tier (issue #5) ...");
    const tierOptions = { workDir: join(workDir, "tier"), bigFile, sizeBytes: options.sizeBytes, trials: options.trials };
    rows.push(...(await attempt("tier", () => benchTier(tierOptions))));
  }
  if (options.groups.includes("as-of")) {
    console.error("listings with --remote-as-of against Ceph RGW (issue 15) ...");
    rows.push(...(await attempt("as-of", () => benchAsOf({ workDir: join(workDir, "as-of"), trials: options.trials }))));
  }
} finally {
  killAllStarted();
  rmSync(workDir, { recursive: true, force: true });
}

const report = `${describeRun(options)}; took ${((Date.now() - started) / 1000).toFixed(0)} s\n\n${renderTable(rows)}\n`;
console.log(`\n${report}`);
await writeFile(join(BENCH_DIR, "results.md"), report);
