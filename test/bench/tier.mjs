// Issue #5: the hit path on an S3-compatible local tier. s3-overlay serves
// objects that live in a Ceph RGW tier; the baseline is the same GETs sent
// straight to that RGW (same presigned-URL signing on both sides).
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { benchAgent } from "./lib/agent.mjs";
import { loadSmallGets, timeGet, timePut } from "./lib/http-load.mjs";
import { LOCAL_CREDENTIALS, startS3Overlay } from "./lib/processes.mjs";
import { attempt, mbps, mib, ms, resultRow } from "./lib/report.mjs";
import { startRgw } from "./lib/rgw.mjs";
import { cpuSeconds } from "./lib/cpu.mjs";
import { sampleRss } from "./lib/rss.mjs";
import { createBucket, presignGet, presignPut, s3Client } from "./lib/s3.mjs";
import { median } from "./lib/stats.mjs";
import { interleave } from "./lib/trials.mjs";

const BUCKET = "tierbench";
const SMALL_SIZE = 4096;
const SMALL_KEYS = 256;
const SMALL_CONNECTIONS = 32;

/** Presigned GET URLs for the same keys, through serve and straight to the tier. */
async function urlPair(serve, rgw, keys) {
  const viaServe = s3Client(serve.endpoint, LOCAL_CREDENTIALS);
  const direct = s3Client(rgw.endpoint, LOCAL_CREDENTIALS);
  try {
    return {
      overlay: await Promise.all(keys.map((key) => presignGet(viaServe, BUCKET, key))),
      direct: await Promise.all(keys.map((key) => presignGet(direct, BUCKET, key))),
    };
  } finally {
    viaServe.destroy();
    direct.destroy();
  }
}

/** The big object is written through serve (so it is an ordinary tier object), then read both ways. */
async function bigGet({ bigFile, sizeBytes, trials, serve, rgw }) {
  const client = s3Client(serve.endpoint, LOCAL_CREDENTIALS);
  await createBucket(client, BUCKET);
  await timePut(await presignPut(client, BUCKET, "big"), bigFile);
  client.destroy();
  const urls = await urlPair(serve, rgw, ["big"]);
  const agent = benchAgent();
  const get = (url) => timeGet(url, { dispatcher: agent });
  // one untimed GET each: JIT, RGW's caches
  for (const url of [urls.overlay[0], urls.direct[0]]) {
    const { bytes } = await get(url);
    if (bytes !== sizeBytes) throw new Error(`GET ${url}: ${bytes} bytes, expected ${sizeBytes}`);
  }
  const serveRss = sampleRss(serve.pid, 50);
  // serve only works during its own trials: its CPU over the run is the cost of the overlay GETs
  const cpuBefore = cpuSeconds(serve.pid);
  const results = await interleave(trials, () => get(urls.overlay[0]), () => get(urls.direct[0]), { label: "tier GET", show: (r) => mbps(r.bytes, r.seconds) });
  const cpuPerGib = (cpuSeconds(serve.pid) - cpuBefore) / ((trials * sizeBytes) / 2 ** 30);
  const rssMax = serveRss.stop().maxRssMb;
  await agent.close();
  const rate = (list) => median(list.map((r) => r.bytes / r.seconds));
  const overlay = rate(results.overlay);
  const direct = rate(results.baseline);
  const label = `${(sizeBytes / 2 ** 20).toFixed(0)} MiB`;
  return [
    resultRow(`tier: GET ${label} hit (median of ${trials})`, {
      overlay: mbps(overlay, 1), baseline: `${mbps(direct, 1)} (RGW direct)`, ratio: overlay / direct, target: ">= 0.80x", pass: overlay / direct >= 0.8,
    }),
    resultRow(`tier: server CPU per GiB served`, { overlay: `${cpuPerGib.toFixed(2)} CPU-s` }),
    resultRow(`tier: server RSS max during ${label} GETs`, { overlay: mib(rssMax), target: "< 150 MiB", pass: rssMax < 150 }),
  ];
}

/** 4 KiB GETs at 32 connections over 256 keys, through serve and straight to the tier. */
async function smallGets({ trials, serve, rgw, durationSec }) {
  const client = s3Client(serve.endpoint, LOCAL_CREDENTIALS);
  const keys = Array.from({ length: SMALL_KEYS }, (_, i) => `small/${String(i).padStart(4, "0")}`);
  for (let i = 0; i < keys.length; i += 16) {
    await Promise.all(keys.slice(i, i + 16).map((Key) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: randomBytes(SMALL_SIZE) }))));
  }
  client.destroy();
  const urls = await urlPair(serve, rgw, keys);
  const load = (list) => loadSmallGets({ urls: list, connections: SMALL_CONNECTIONS, durationSec });
  await load(urls.overlay);
  await load(urls.direct);
  const results = await interleave(trials, () => load(urls.overlay), () => load(urls.direct), { label: "tier small GETs", show: (r) => `${r.rps.toFixed(0)} req/s` });
  const pick = (list) => ({ rps: median(list.map((r) => r.rps)), p50: median(list.map((r) => r.p50Ms)), p99: median(list.map((r) => r.p99Ms)) });
  const overlay = pick(results.overlay);
  const direct = pick(results.baseline);
  const show = (r) => `${r.rps.toFixed(0)} req/s (p50 ${ms(r.p50)}, p99 ${ms(r.p99)})`;
  return [
    resultRow(`tier: 4 KiB GET hits, ${SMALL_CONNECTIONS} conns, ${durationSec} s (median of ${trials})`, {
      overlay: show(overlay), baseline: `${show(direct)} (RGW direct)`, ratio: overlay.rps / direct.rps, target: ">= 0.50x", pass: overlay.rps / direct.rps >= 0.5,
    }),
  ];
}

/** Issue #5 scenarios: serve on a Ceph RGW local tier (no remote: every read is a tier hit). */
export async function benchTier({ workDir, bigFile, sizeBytes, trials, smallDurationSec = 5 }) {
  await mkdir(workDir, { recursive: true });
  const rgw = await startRgw(LOCAL_CREDENTIALS);
  try {
    const serve = await startS3Overlay({ dataDir: join(workDir, "tier-data"), env: { S3_OVERLAY_LOCAL_ENDPOINT: rgw.endpoint } });
    try {
      return [
        ...(await attempt("tier: big GET", () => bigGet({ bigFile, sizeBytes, trials, serve, rgw }))),
        ...(await attempt("tier: small GETs", () => smallGets({ trials, serve, rgw, durationSec: smallDurationSec }))),
      ];
    } finally {
      await serve.stop();
    }
  } finally {
    await rgw.stop();
  }
}
