// Issue #6: `s3-overlay warm` against a throwaway Ceph RGW, beside
// `aws s3 sync` of the same prefix into a directory (the AWS CLI v2 at
// /usr/bin/aws, default settings: 10 concurrent requests, 8 MiB parts),
// measured in the same run on the same disk.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { makeFile } from "./lib/files.mjs";
import { timePut } from "./lib/http-load.mjs";
import { mbps, mib, resultRow } from "./lib/report.mjs";
import { startRgw } from "./lib/rgw.mjs";
import { remoteEnv, rgwGetBytes } from "./lib/rgw-remote.mjs";
import { sampleRss } from "./lib/rss.mjs";
import { createBucket, presignPut, s3Client } from "./lib/s3.mjs";
import { median } from "./lib/stats.mjs";
import { interleave } from "./lib/trials.mjs";

const MiB = 2 ** 20;
const BIN = fileURLToPath(new URL("../../bin/s3-overlay.js", import.meta.url));
const AWS_CLI = "/usr/bin/aws";
const BUCKET = "bench-warm";
const PREFIX = "data/";
const SMALL_COUNT = 500;
const SMALL_SIZE = MiB;
const LARGE_COUNT = 2;
const SEED_CONCURRENCY = 16;
/** also tried: warm with more objects at once than its default (8) and aws's (10) */
const MORE_CONCURRENCY = 16;

/** process.env without S3_OVERLAY_* and AWS_* settings of the developer's shell, plus `extra`. */
function envWith(extra) {
  const clean = Object.entries(process.env).filter(([name]) => !name.startsWith("S3_OVERLAY_") && !name.startsWith("AWS_"));
  return { ...Object.fromEntries(clean), ...extra };
}

/**
 * Run a command to completion, sampling its RSS. Resolves to
 * { seconds, stdout, stderr, maxRssMb }; rejects on a non-zero exit.
 */
async function timeCommand(command, args, env) {
  const t0 = performance.now();
  const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  const rss = sampleRss(child.pid, 50);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const [code, signal] = await once(child, "exit");
  const seconds = (performance.now() - t0) / 1000;
  const { maxRssMb } = rss.stop();
  if (code !== 0) throw new Error(`${command} ${args.join(" ")}: exit ${code ?? signal}\n${stderr.slice(-2000)}${stdout.slice(-1000)}`);
  return { seconds, stdout, stderr, maxRssMb };
}

/** Flush dirty pages (untimed) so one trial's writeback does not slow the next. */
function flushWrites() {
  spawnSync("sync");
}

/** The --json summary: the whole of stdout, or else its last line that parses. */
function parseSummary(stdout) {
  try {
    return JSON.parse(stdout);
  } catch {}
  for (const line of stdout.trim().split("\n").reverse()) {
    try {
      return JSON.parse(line);
    } catch {}
  }
  throw new Error(`warm --json printed no JSON summary:\n${stdout.slice(-1000)}`);
}

/** `s3-overlay warm bucket/prefix --json` into dataDir; checks the summary against what was expected to be fetched. */
async function runWarm(rgw, dataDir, expected, extraArgs = []) {
  const args = [BIN, "warm", `${BUCKET}/${PREFIX}`, "--json", "--data-dir", dataDir, ...extraArgs];
  const result = await timeCommand(process.execPath, args, envWith(remoteEnv(rgw)));
  const summary = parseSummary(result.stdout);
  const fetched = summary.fetched ?? {};
  if (summary.failed?.length) throw new Error(`warm: ${summary.failed.length} objects failed, e.g. ${JSON.stringify(summary.failed[0])}`);
  if (fetched.objects !== expected.objects || fetched.bytes !== expected.bytes) {
    throw new Error(`warm fetched ${fetched.objects} objects / ${fetched.bytes} bytes, expected ${expected.objects} / ${expected.bytes}: ${JSON.stringify(summary).slice(0, 500)}`);
  }
  return { ...result, summary };
}

/** Count the files under dir and their bytes. */
async function tally(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

/** Seed RGW: SMALL_COUNT objects of 1 MiB and LARGE_COUNT of largeBytes under PREFIX. Returns the totals. */
async function seed({ direct, workDir, largeBytes }) {
  await createBucket(direct, BUCKET);
  const keys = Array.from({ length: SMALL_COUNT }, (_, i) => `${PREFIX}small/${String(i).padStart(4, "0")}`);
  for (let i = 0; i < keys.length; i += SEED_CONCURRENCY) {
    await Promise.all(keys.slice(i, i + SEED_CONCURRENCY).map((Key) => direct.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: randomBytes(SMALL_SIZE) }))));
  }
  for (let i = 0; i < LARGE_COUNT; i++) {
    const file = await makeFile(join(workDir, `large-${i}.bin`), largeBytes);
    await timePut(await presignPut(direct, BUCKET, `${PREFIX}large-${i}`), file);
    await rm(file);
  }
  return { objects: SMALL_COUNT + LARGE_COUNT, bytes: SMALL_COUNT * SMALL_SIZE + LARGE_COUNT * largeBytes };
}

/** A fresh AWS CLI setup: its own config file, RGW's credentials in the environment. */
async function awsCliEnv(rgw, workDir) {
  const configFile = join(workDir, "aws-config");
  await writeFile(configFile, `[default]\nregion = ${rgw.region}\n`);
  return envWith({
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_DEFAULT_REGION: rgw.region,
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: join(workDir, "aws-credentials-none"),
    AWS_PAGER: "",
  });
}

/** Issue #6 scenarios against a fresh RGW; largeBytes: size of each of the two large objects. Returns result rows. */
export async function benchWarm({ workDir, largeBytes, trials }) {
  await mkdir(workDir, { recursive: true });
  const rgw = await startRgw();
  const direct = s3Client(rgw.endpoint, { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey }, rgw.region);
  try {
    const expected = await seed({ direct, workDir, largeBytes });
    const awsEnv = await awsCliEnv(rgw, workDir);
    const seconds = [];
    const remoteBytes = { overlay: [], baseline: [] };
    const rss = { overlay: [], baseline: [] };

    const warmTwice = async (i) => {
      const dataDir = join(workDir, `data-${i}`);
      try {
        const before = await rgwGetBytes(rgw);
        const first = await runWarm(rgw, dataDir, expected);
        remoteBytes.overlay.push((await rgwGetBytes(rgw)) - before);
        rss.overlay.push(first.maxRssMb);
        const second = await runWarm(rgw, dataDir, { objects: 0, bytes: 0 });
        seconds.push({ first: first.seconds, second: second.seconds });
        return first;
      } finally {
        await rm(dataDir, { recursive: true, force: true });
        flushWrites();
      }
    };
    const awsSync = async (i) => {
      const target = join(workDir, `sync-${i}`);
      try {
        const before = await rgwGetBytes(rgw);
        const args = ["s3", "sync", `s3://${BUCKET}/${PREFIX}`, target, "--endpoint-url", rgw.endpoint, "--only-show-errors"];
        const result = await timeCommand(AWS_CLI, args, awsEnv);
        remoteBytes.baseline.push((await rgwGetBytes(rgw)) - before);
        rss.baseline.push(result.maxRssMb);
        const got = await tally(target);
        if (got.files !== expected.objects || got.bytes !== expected.bytes) throw new Error(`aws s3 sync wrote ${got.files} files / ${got.bytes} bytes, expected ${expected.objects} / ${expected.bytes}`);
        return result;
      } finally {
        await rm(target, { recursive: true, force: true });
        flushWrites();
      }
    };
    const results = await interleave(trials, warmTwice, awsSync, { label: "warm vs aws s3 sync", show: (r) => `${r.seconds.toFixed(2)} s` });
    const moreConcurrent = [];
    for (let i = 0; i < trials; i++) {
      const dataDir = join(workDir, `data-more-${i}`);
      try {
        moreConcurrent.push((await runWarm(rgw, dataDir, expected, ["--concurrency", String(MORE_CONCURRENCY)])).seconds);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
        flushWrites();
      }
    }
    const moreSec = median(moreConcurrent);
    const startSec = (await timeCommand(process.execPath, [BIN, "--version"], envWith({}))).seconds;

    const warmSec = median(results.overlay.map((r) => r.seconds));
    const syncSec = median(results.baseline.map((r) => r.seconds));
    const secondSec = median(seconds.map((s) => s.second));
    const secondShare = median(seconds.map((s) => s.second / s.first));
    const what = `${SMALL_COUNT} x 1 MiB + ${LARGE_COUNT} x ${(largeBytes / MiB).toFixed(0)} MiB`;
    const fetched = (side) => `${(median(remoteBytes[side]) / expected.bytes).toFixed(3)}x remote bytes, RSS max ${mib(Math.max(...rss[side]))}`;
    return [
      resultRow(`warm: first warm of ${what}, fresh data dir (median of ${trials})`, {
        overlay: `${warmSec.toFixed(2)} s (${mbps(expected.bytes, warmSec)}; ${fetched("overlay")})`,
        baseline: `${syncSec.toFixed(2)} s (aws s3 sync; ${fetched("baseline")})`,
        ratio: warmSec / syncSec,
        target: "<= 0.7x (time)",
        pass: warmSec <= 0.7 * syncSec,
      }),
      resultRow(`warm: first warm, --concurrency ${MORE_CONCURRENCY} (median of ${trials}, after the runs above)`, {
        overlay: `${moreSec.toFixed(2)} s (${mbps(expected.bytes, moreSec)})`,
        baseline: `${syncSec.toFixed(2)} s (aws s3 sync, above)`,
        ratio: moreSec / syncSec,
      }),
      resultRow(`warm: second warm, everything cached (median of ${trials})`, {
        overlay: `${secondSec.toFixed(2)} s (starting node + the CLI alone: ${startSec.toFixed(2)} s)`,
        baseline: `${warmSec.toFixed(2)} s (the first warm)`,
        ratio: secondShare,
        target: "< 0.05x",
        pass: secondShare < 0.05,
      }),
    ];
  } finally {
    direct.destroy();
    await rgw.stop();
  }
}
