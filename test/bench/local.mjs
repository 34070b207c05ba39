// Issue #2: local mode (embedded store) against a plain node:http file server
// on the same disk. Every s3-overlay request is presigned, so SigV4
// verification is part of what is measured.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { benchAgent } from "./lib/agent.mjs";
import { makeFile } from "./lib/files.mjs";
import { loadSmallGets, timeGet, timePut } from "./lib/http-load.mjs";
import { LOCAL_CREDENTIALS, startRawServerProcess, startS3Overlay } from "./lib/processes.mjs";
import { attempt, mbps, mib, ms, resultRow } from "./lib/report.mjs";
import { sampleRss } from "./lib/rss.mjs";
import { createBucket, presignGet, presignPut, s3Client } from "./lib/s3.mjs";
import { median } from "./lib/stats.mjs";
import { interleave } from "./lib/trials.mjs";

const BUCKET = "bench";
const SMALL_SIZE = 4096;
const SMALL_KEYS = 256;
const SMALL_CONNECTIONS = 32;

/** Flush dirty pages (untimed) so one trial's writeback does not slow the next. */
function flushWrites() {
  spawnSync("sync");
}

/** Read a file once so both servers start from a warm page cache. */
async function readOnce(path) {
  for await (const _chunk of createReadStream(path, { highWaterMark: 1 << 20 }));
}

const throughput = (result) => result.bytes / result.seconds;

/** 1 GiB PUT and GET, and server RSS during them. Returns result rows. */
async function bigTransfers({ bigFile, sizeBytes, trials, serve }) {
  const raw = await startRawServerProcess(bigFile);
  try {
    const client = s3Client(serve.endpoint, LOCAL_CREDENTIALS);
    await createBucket(client, BUCKET);
    const putUrl = await presignPut(client, BUCKET, "big");
    const getUrl = await presignGet(client, BUCKET, "big");
    client.destroy();
    await readOnce(bigFile);

    const serveRss = sampleRss(serve.pid, 50);
    const rawRss = sampleRss(raw.pid, 50);
    const timedPut = (url) => {
      flushWrites();
      return timePut(url, bigFile);
    };
    const showRate = (result) => mbps(result.bytes, result.seconds);
    const puts = await interleave(trials, () => timedPut(putUrl), () => timedPut(raw.url), { label: "PUT", show: showRate });
    flushWrites();

    // one untimed GET each: JIT and page cache warm on both sides
    const agent = benchAgent();
    for (const url of [getUrl, raw.url]) {
      const { bytes } = await timeGet(url, { dispatcher: agent });
      if (bytes !== sizeBytes) throw new Error(`GET ${url}: ${bytes} bytes, expected ${sizeBytes}`);
    }
    const gets = await interleave(trials, () => timeGet(getUrl, { dispatcher: agent }), () => timeGet(raw.url, { dispatcher: agent }), { label: "GET", show: showRate });
    await agent.close();
    const serveMax = serveRss.stop().maxRssMb;
    const rawMax = rawRss.stop().maxRssMb;

    const label = `${(sizeBytes / 2 ** 20).toFixed(0)} MiB`;
    const row = (what, results) => {
      const overlay = median(results.overlay.map(throughput));
      const baseline = median(results.baseline.map(throughput));
      return resultRow(`local: ${what} ${label} (median of ${trials})`, {
        overlay: mbps(overlay, 1),
        baseline: `${mbps(baseline, 1)} (raw node:http)`,
        ratio: overlay / baseline,
        target: ">= 0.80x",
        pass: overlay / baseline >= 0.8,
      });
    };
    return [
      row("GET", gets),
      row("PUT", puts),
      resultRow(`local: server RSS max during ${label} GET/PUT`, { overlay: mib(serveMax), baseline: `${mib(rawMax)} (raw node:http)`, target: "< 150 MiB", pass: serveMax < 150 }),
    ];
  } finally {
    await raw.stop();
  }
}

/**
 * Issue 10 item 3: the cost of verifying every 1 MiB block of a GET hit. The same
 * 1 GiB object from `serve` (verified) and from a second serve started with
 * S3_OVERLAY_UNVERIFIED_READS=1 (bench-only switch) on its own data dir.
 */
async function verifiedGets({ workDir, bigFile, sizeBytes, trials, serve }) {
  const unverified = await startS3Overlay({ dataDir: join(workDir, "local-data-unverified"), env: { S3_OVERLAY_UNVERIFIED_READS: "1" } });
  try {
    const urls = [];
    for (const endpoint of [serve.endpoint, unverified.endpoint]) {
      const client = s3Client(endpoint, LOCAL_CREDENTIALS);
      await createBucket(client, BUCKET);
      if (endpoint === unverified.endpoint) {
        const { bytes } = await timePut(await presignPut(client, BUCKET, "big"), bigFile);
        if (bytes !== sizeBytes) throw new Error(`PUT to the unverified serve: ${bytes} bytes`);
      }
      urls.push(await presignGet(client, BUCKET, "big"));
      client.destroy();
    }
    flushWrites();
    const agent = benchAgent();
    for (const url of urls) await timeGet(url, { dispatcher: agent });
    const showRate = (result) => mbps(result.bytes, result.seconds);
    const gets = await interleave(trials, () => timeGet(urls[0], { dispatcher: agent }), () => timeGet(urls[1], { dispatcher: agent }), { label: "GET verified/unverified", show: showRate });
    await agent.close();
    const verifiedRate = median(gets.overlay.map(throughput));
    const unverifiedRate = median(gets.baseline.map(throughput));
    return [
      resultRow(`local: GET ${(sizeBytes / 2 ** 20).toFixed(0)} MiB hit, block CRC32s verified (median of ${trials})`, {
        overlay: mbps(verifiedRate, 1),
        baseline: `${mbps(unverifiedRate, 1)} (same, unverified)`,
        ratio: verifiedRate / unverifiedRate,
        target: ">= 0.85x",
        pass: verifiedRate / unverifiedRate >= 0.85,
      }),
    ];
  } finally {
    await unverified.stop();
  }
}

/** Writes the 256 small objects to a serve; returns their presigned GET URLs. */
async function seedSmallKeys(endpoint) {
  const client = s3Client(endpoint, LOCAL_CREDENTIALS);
  await createBucket(client, BUCKET);
  const keys = Array.from({ length: SMALL_KEYS }, (_, i) => `small/${String(i).padStart(4, "0")}`);
  for (let i = 0; i < keys.length; i += 16) {
    await Promise.all(keys.slice(i, i + 16).map((Key) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: randomBytes(SMALL_SIZE) }))));
  }
  const urls = await Promise.all(keys.map((key) => presignGet(client, BUCKET, key)));
  client.destroy();
  return urls;
}

const pickLoad = (list) => ({ rps: median(list.map((r) => r.rps)), p50: median(list.map((r) => r.p50Ms)), p99: median(list.map((r) => r.p99Ms)) });
const showLoad = (r) => `${r.rps.toFixed(0)} req/s (p50 ${ms(r.p50)}, p99 ${ms(r.p99)})`;

/**
 * Issue 11 item 6: what an access line per request costs. The same 4 KiB GETs
 * against serve and a second serve logging every request in JSON (--access-log info).
 */
async function accessLogGets({ workDir, trials, serve, durationSec }) {
  const logging = await startS3Overlay({ dataDir: join(workDir, "local-data-logging"), env: { S3_OVERLAY_ACCESS_LOG: "info", S3_OVERLAY_LOG_FORMAT: "json" } });
  try {
    const [quiet, logged] = [await seedSmallKeys(serve.endpoint), await seedSmallKeys(logging.endpoint)];
    const load = (urls) => loadSmallGets({ urls, connections: SMALL_CONNECTIONS, durationSec });
    await load(quiet);
    await load(logged);
    const results = await interleave(trials, () => load(logged), () => load(quiet), { label: "small GETs logged/quiet", show: (r) => `${r.rps.toFixed(0)} req/s` });
    const withLog = pickLoad(results.overlay);
    const without = pickLoad(results.baseline);
    return [
      resultRow(`local: 4 KiB GETs with an access line each (JSON), ${SMALL_CONNECTIONS} conns (median of ${trials})`, {
        overlay: showLoad(withLog),
        baseline: `${showLoad(without)} (same, no access log)`,
        ratio: withLog.rps / without.rps,
        target: ">= 0.90x",
        pass: withLog.rps / without.rps >= 0.9,
      }),
    ];
  } finally {
    await logging.stop();
  }
}

/** 4 KiB GETs at 32 connections, 256 presigned keys round-robin. Returns result rows. */
async function smallGets({ workDir, trials, serve, durationSec }) {
  const smallFile = await makeFile(join(workDir, "small.bin"), SMALL_SIZE);
  const raw = await startRawServerProcess(smallFile);
  try {
    const urls = await seedSmallKeys(serve.endpoint);
    const load = (target) => loadSmallGets({ ...target, connections: SMALL_CONNECTIONS, durationSec });
    // a short warm-up on each side (JIT, connection pools)
    await load({ urls });
    await load({ url: () => raw.url });
    const results = await interleave(trials, () => load({ urls }), () => load({ url: () => raw.url }), { label: "small GETs", show: (r) => `${r.rps.toFixed(0)} req/s` });

    const overlay = pickLoad(results.overlay);
    const baseline = pickLoad(results.baseline);
    const show = showLoad;
    return [
      resultRow(`local: 4 KiB GETs, ${SMALL_CONNECTIONS} conns, ${durationSec} s (median of ${trials})`, {
        overlay: show(overlay),
        baseline: `${show(baseline)} (raw node:http)`,
        ratio: overlay.rps / baseline.rps,
        target: ">= 0.60x",
        pass: overlay.rps / baseline.rps >= 0.6,
      }),
    ];
  } finally {
    await raw.stop();
  }
}

/**
 * Issue #2 scenarios. bigFile: an existing file of sizeBytes under workDir
 * (same disk as the data dir). Returns result rows.
 */
export async function benchLocal({ workDir, bigFile, sizeBytes, trials, smallDurationSec = 5 }) {
  await mkdir(workDir, { recursive: true });
  const serve = await startS3Overlay({ dataDir: join(workDir, "local-data") });
  try {
    return [
      ...(await attempt("local: big GET/PUT", () => bigTransfers({ bigFile, sizeBytes, trials, serve }))),
      ...(await attempt("local: verified GET", () => verifiedGets({ workDir, bigFile, sizeBytes, trials, serve }))),
      ...(await attempt("local: small GETs", () => smallGets({ workDir, trials, serve, durationSec: smallDurationSec }))),
      ...(await attempt("local: access log cost", () => accessLogGets({ workDir, trials, serve, durationSec: smallDurationSec }))),
    ];
  } finally {
    await serve.stop();
  }
}
