// Baseline numbers for the benchmark report: what a plain node:http file
// server (lib/raw-server.mjs, run as its own process) does on this disk.
//   node test/bench/raw-baseline.mjs [SIZE_MB]      (default 1024; BENCH_DIR: where files go)
// run.mjs may import rawBaseline() to put these rows next to s3-overlay's.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dropCaches, makeFile } from "./lib/files.mjs";
import { loadSmallGets, timeGet, timePut } from "./lib/http-load.mjs";
import { sampleRss } from "./lib/rss.mjs";
import { formatTable, runTrials } from "./lib/stats.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const MB = 1e6;

/** Start lib/raw-server.mjs in a child process serving filePath; resolves to { url, pid, stop() }. */
async function spawnRawServer(filePath) {
  const child = spawn(process.execPath, [join(HERE, "lib", "raw-server.mjs"), filePath], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const [line] = await Promise.race([
    once(lines, "line"),
    once(child, "exit").then(([code]) => Promise.reject(new Error(`raw-server exited with ${code}`))),
  ]);
  const port = /^port=(\d+)$/.exec(line)?.[1];
  if (!port) throw new Error(`raw-server said: ${line}`);
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    stop: async () => {
      child.kill();
      if (child.exitCode === null) await once(child, "exit");
    },
  };
}

/** Measure the raw server: big GET (cold and warm cache), big PUT, small GETs. Returns table rows. */
export async function rawBaseline({ sizeBytes = 1024 * MB, dir = join(HERE, "..", "..", "tmp", "bench"), trials = 3 } = {}) {
  await mkdir(dir, { recursive: true });
  const bigFile = join(dir, "raw-big.bin");
  const smallFile = join(dir, "raw-small.bin");
  await makeFile(bigFile, sizeBytes);
  await makeFile(smallFile, 4096);
  const rows = [];
  const big = await spawnRawServer(bigFile);
  try {
    const rss = sampleRss(big.pid, 50);
    const cacheDropped = await dropCaches();
    const cold = await timeGet(big.url);
    rows.push({ scenario: `raw GET ${sizeBytes / MB} MB${cacheDropped ? " (cold cache)" : ""}`, "MB/s": cold.bytes / MB / cold.seconds, "ttfb ms": cold.ttfbMs });
    const warm = await runTrials(trials, () => timeGet(big.url));
    rows.push({ scenario: `raw GET ${sizeBytes / MB} MB (warm, median of ${trials})`, "MB/s": warm.bytes / MB / warm.seconds, "ttfb ms": warm.ttfbMs });
    const put = await runTrials(trials, () => timePut(big.url, bigFile));
    rows.push({ scenario: `raw PUT ${sizeBytes / MB} MB (median of ${trials})`, "MB/s": put.bytes / MB / put.seconds });
    rows.push({ scenario: "raw server peak RSS (MB, big transfers)", "peak RSS MB": rss.stop().maxRssMb });
  } finally {
    await big.stop();
  }
  const small = await spawnRawServer(smallFile);
  try {
    const load = await loadSmallGets({ url: () => small.url, connections: 32, durationSec: 5 });
    rows.push({ scenario: "raw small GETs (4 KiB, 32 connections, 5 s)", "req/s": load.rps, "p50 ms": load.p50Ms, "p99 ms": load.p99Ms });
  } finally {
    await small.stop();
  }
  for (const file of [bigFile, `${bigFile}.put`, smallFile]) await rm(file, { force: true });
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizeMb = Number(process.argv[2] ?? 1024);
  const rows = await rawBaseline({ sizeBytes: sizeMb * MB, ...(process.env.BENCH_DIR ? { dir: process.env.BENCH_DIR } : {}) });
  console.log(formatTable(rows));
}
