// Issue #3: overlay mode against a real remote (a throwaway Ceph RGW started
// here). Each s3-overlay number is compared with a direct GET of the same
// object from RGW, presigned with RGW's credentials.
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { request } from "undici";
import { benchAgent } from "./lib/agent.mjs";
import { makeFile } from "./lib/files.mjs";
import { timeGet, timePut } from "./lib/http-load.mjs";
import { LOCAL_CREDENTIALS, startS3Overlay } from "./lib/processes.mjs";
import { attempt, mbps, mib, ms, resultRow } from "./lib/report.mjs";
import { startRgw } from "./lib/rgw.mjs";
import { sampleRss } from "./lib/rss.mjs";
import { createBucket, presignGet, presignPut, s3Client } from "./lib/s3.mjs";
import { median } from "./lib/stats.mjs";
import { startTcpProxy } from "./lib/tcp-proxy.mjs";
import { interleave } from "./lib/trials.mjs";

const BUCKET = "bench-remote";
const SMALL_SIZE = 4096;
const TTFB_TRIALS = 9;
const MID_SIZE = 256 * 2 ** 20;
const READERS = 32;

/** GET url, streaming the body away; like timeGet, plus the x-cache header. */
async function getWithCache(url, dispatcher) {
  const t0 = performance.now();
  const res = await request(url, { dispatcher });
  const ttfbMs = performance.now() - t0;
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode} ${(await res.body.text()).slice(0, 300)}`);
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.length;
  return { bytes, seconds: (performance.now() - t0) / 1000, ttfbMs, cache: String(res.headers["x-cache"] ?? "none") };
}

function expectCache(result, expected, what) {
  if (result.cache !== expected) throw new Error(`${what}: x-cache ${result.cache}, expected ${expected}`);
}

/** "miss 31, hit 1" */
function tally(values) {
  const counts = new Map();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, n]) => `${value} ${n}`).join(", ");
}

/** Start s3-overlay with a fresh data dir on `remoteEndpoint`; stop() also removes the data dir. */
async function startOverlay(rgw, remoteEndpoint, dataDir) {
  await rm(dataDir, { recursive: true, force: true });
  const server = await startS3Overlay({
    dataDir,
    env: {
      S3_OVERLAY_REMOTE_ENDPOINT: remoteEndpoint,
      S3_OVERLAY_REMOTE_REGION: rgw.region,
      S3_OVERLAY_REMOTE_ADDRESSING_STYLE: "path",
      S3_OVERLAY_REMOTE_ACCESS_KEY_ID: rgw.accessKeyId,
      S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: rgw.secretAccessKey,
      S3_OVERLAY_REMOTE_BUCKETS: "*",
    },
  });
  const client = s3Client(server.endpoint, LOCAL_CREDENTIALS);
  return {
    ...server,
    presign: (key) => presignGet(client, BUCKET, key),
    stop: async () => {
      client.destroy();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** (1) time to first byte of a cold miss of a 4 KiB object vs a direct GET. */
async function coldSmallTtfb({ rgw, direct, workDir }) {
  const overlay = await startOverlay(rgw, rgw.endpoint, join(workDir, "overlay-small"));
  const overlayAgent = benchAgent();
  const directAgent = benchAgent();
  try {
    // warm the connections (client -> overlay, overlay -> RGW, client -> RGW) on another key
    expectCache(await getWithCache(await overlay.presign("small-warm"), overlayAgent), "miss", "warm-up");
    await getWithCache(await presignGet(direct, BUCKET, "small-warm"), directAgent);

    const results = await interleave(
      TTFB_TRIALS,
      async (i) => {
        const result = await getWithCache(await overlay.presign(`small-${i}`), overlayAgent);
        expectCache(result, "miss", `small-${i}`);
        return result;
      },
      async (i) => getWithCache(await presignGet(direct, BUCKET, `small-${i}`), directAgent),
      { label: "TTFB", show: (r) => ms(r.ttfbMs) },
    );
    const overlayMs = median(results.overlay.map((r) => r.ttfbMs));
    const directMs = median(results.baseline.map((r) => r.ttfbMs));
    const overlayWholeMs = median(results.overlay.map((r) => r.seconds * 1000));
    const directWholeMs = median(results.baseline.map((r) => r.seconds * 1000));
    return [
      resultRow(`overlay: TTFB cold miss, 4 KiB (headers, median of ${TTFB_TRIALS})`, {
        overlay: ms(overlayMs),
        baseline: `${ms(directMs)} (direct RGW)`,
        ratio: overlayMs / directMs,
        target: `<= direct + 3 ms (${ms(directMs + 3)})`,
        pass: overlayMs <= directMs + 3,
      }),
      // informational: on a kept-alive connection both sides wait for RGW's second segment (Nagle + delayed ACK)
      resultRow(`overlay: whole GET cold miss, 4 KiB (median of ${TTFB_TRIALS})`, {
        overlay: ms(overlayWholeMs),
        baseline: `${ms(directWholeMs)} (direct RGW)`,
        ratio: overlayWholeMs / directWholeMs,
        target: "<= direct + 3 ms",
        pass: overlayWholeMs <= directWholeMs + 3,
      }),
    ];
  } finally {
    await Promise.all([overlayAgent.close(), directAgent.close()]);
    await overlay.stop();
  }
}

/** (2) cold miss throughput of the big object, a fresh overlay (empty data dir) per trial; RSS during the miss. */
async function coldBigMiss({ rgw, direct, workDir, sizeBytes, trials }) {
  const directUrl = await presignGet(direct, BUCKET, "big");
  const rssPeaks = [];
  const hits = [];
  const results = await interleave(
    trials,
    async (i) => {
      const overlay = await startOverlay(rgw, rgw.endpoint, join(workDir, `overlay-big-${i}`));
      try {
        const url = await overlay.presign("big");
        const rss = sampleRss(overlay.pid, 50);
        const miss = await getWithCache(url);
        rssPeaks.push(rss.stop().maxRssMb);
        expectCache(miss, "miss", "big, first GET");
        if (miss.bytes !== sizeBytes) throw new Error(`big miss: ${miss.bytes} bytes, expected ${sizeBytes}`);
        hits.push(await getWithCache(url));
        return miss;
      } finally {
        await overlay.stop();
      }
    },
    () => timeGet(directUrl),
    { label: "cold miss", show: (r) => mbps(r.bytes, r.seconds) },
  );
  const throughput = (r) => r.bytes / r.seconds;
  const overlay = median(results.overlay.map(throughput));
  const baseline = median(results.baseline.map(throughput));
  const hit = median(hits.map(throughput));
  const rssMax = Math.max(...rssPeaks);
  const label = `${(sizeBytes / 2 ** 20).toFixed(0)} MiB`;
  return [
    resultRow(`overlay: cold miss ${label} (median of ${trials})`, {
      overlay: mbps(overlay, 1),
      baseline: `${mbps(baseline, 1)} (direct RGW)`,
      ratio: overlay / baseline,
      target: ">= 0.50x",
      pass: overlay / baseline >= 0.5,
    }),
    resultRow(`overlay: GET of ${label} right after the miss completed`, {
      overlay: `${mbps(hit, 1)} (x-cache: ${tally(hits.map((r) => r.cache))})`,
      baseline: `${mbps(baseline, 1)} (direct RGW)`,
      ratio: hit / baseline,
      target: "x-cache hit",
      pass: hits.every((r) => r.cache === "hit"),
    }),
    resultRow(`overlay: server RSS max during ${label} miss`, { overlay: mib(rssMax), target: "< 200 MiB", pass: rssMax < 200 }),
  ];
}

/** (3) 32 concurrent cold readers of one object: bytes fetched from the remote, counted by a TCP proxy. */
async function concurrentColdReaders({ rgw, direct, workDir }) {
  const proxy = await startTcpProxy("127.0.0.1", Number(new URL(rgw.endpoint).port));
  const overlay = await startOverlay(rgw, `http://127.0.0.1:${proxy.port}`, join(workDir, "overlay-readers"));
  const agent = benchAgent(READERS);
  try {
    const url = await overlay.presign("mid");
    const directTime = await timeGet(await presignGet(direct, BUCKET, "mid"));
    proxy.reset();
    const rss = sampleRss(overlay.pid, 50);
    const t0 = performance.now();
    const readers = await Promise.all(Array.from({ length: READERS }, () => getWithCache(url, agent)));
    const wallSec = (performance.now() - t0) / 1000;
    const rssMax = rss.stop().maxRssMb;
    const short = readers.filter((r) => r.bytes !== MID_SIZE).length;
    if (short) throw new Error(`${short} of ${READERS} readers got a wrong length`);
    const { bytesFromTarget, connections } = proxy.stats();
    const fetched = bytesFromTarget / MID_SIZE;
    const title = `overlay: ${READERS} concurrent cold readers, 256 MiB`;
    return [
      resultRow(`${title}: remote bytes / object size`, {
        overlay: `${fetched.toFixed(3)}x (${connections} remote conns; x-cache: ${tally(readers.map((r) => r.cache))})`,
        baseline: "1.000x (one fetch)",
        ratio: fetched,
        target: "1.0x (+1% for headers)",
        pass: fetched <= 1.01,
      }),
      resultRow(`${title}: wall time`, {
        overlay: `${wallSec.toFixed(2)} s (${mbps(READERS * MID_SIZE, wallSec)} to clients)`,
        baseline: `${directTime.seconds.toFixed(2)} s (one direct RGW GET)`,
        ratio: wallSec / directTime.seconds,
      }),
      resultRow(`${title}: server RSS max`, { overlay: mib(rssMax) }),
    ];
  } finally {
    await agent.close();
    await overlay.stop();
    await proxy.close();
  }
}

/** Seed RGW: the big object (from bigFile), the 256 MiB object and 4 KiB objects. Returns an info row. */
async function seed({ direct, workDir, bigFile }) {
  await createBucket(direct, BUCKET);
  const midFile = await makeFile(join(workDir, "mid.bin"), MID_SIZE);
  const big = await timePut(await presignPut(direct, BUCKET, "big"), bigFile);
  await timePut(await presignPut(direct, BUCKET, "mid"), midFile);
  await rm(midFile);
  const smallKeys = ["small-warm", ...Array.from({ length: TTFB_TRIALS }, (_, i) => `small-${i}`)];
  await Promise.all(smallKeys.map((Key) => direct.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: randomBytes(SMALL_SIZE) }))));
  return resultRow("overlay: seeding RGW (direct PUT of the big object)", { overlay: "", baseline: mbps(big.bytes, big.seconds) });
}

/** Issue #3 scenarios against a fresh RGW. bigFile: an existing file of sizeBytes under workDir. Returns result rows. */
export async function benchOverlay({ workDir, bigFile, sizeBytes, trials }) {
  await mkdir(workDir, { recursive: true });
  const rgw = await startRgw();
  const direct = s3Client(rgw.endpoint, { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey }, rgw.region);
  try {
    const context = { rgw, direct, workDir, bigFile, sizeBytes, trials };
    const seeded = await seed(context);
    return [
      ...(await attempt("overlay: TTFB cold miss", () => coldSmallTtfb(context))),
      ...(await attempt("overlay: cold big miss", () => coldBigMiss(context))),
      ...(await attempt("overlay: concurrent cold readers", () => concurrentColdReaders(context))),
      seeded,
    ];
  } finally {
    direct.destroy();
    await rgw.stop();
  }
}
