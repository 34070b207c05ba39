// Issue 14: hot small objects. 4 KiB GET hits over 256 keys at 32 connections,
// driven by wrk, against nginx (sendfile) serving the same files and a plain
// node:http server (lib/raw-server.mjs) serving one of them, all in the same run.
// Every s3-overlay request is a presigned URL, so SigV4 verification is measured too.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LOCAL_CREDENTIALS, startRawServerProcess, startS3Overlay } from "./lib/processes.mjs";
import { hasNginx, startNginx } from "./lib/nginx.mjs";
import { ms, resultRow } from "./lib/report.mjs";
import { createBucket, presignGet, s3Client } from "./lib/s3.mjs";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { median } from "./lib/stats.mjs";
import { hasWrk, wrkGets } from "./lib/wrk.mjs";

const BUCKET = "bench";
const SIZE = 4096;
const KEYS = 256;
const CONNECTIONS = 32;

/** The 256 files nginx serves (root/small/NNNN); returns their names and bytes. */
async function makeSmallFiles(root) {
  await mkdir(join(root, "small"), { recursive: true });
  const files = Array.from({ length: KEYS }, (_, i) => ({ key: `small/${String(i).padStart(4, "0")}`, bytes: randomBytes(SIZE) }));
  for (const { key, bytes } of files) await writeFile(join(root, key), bytes);
  return files;
}

/** PUTs the same bytes as objects; returns presigned GET paths (path and query). */
async function seedObjects(endpoint, files) {
  const client = s3Client(endpoint, LOCAL_CREDENTIALS);
  await createBucket(client, BUCKET);
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(files.slice(i, i + 16).map(({ key, bytes }) => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }))));
  }
  const urls = await Promise.all(files.map(({ key }) => presignGet(client, BUCKET, key)));
  client.destroy();
  return urls.map((url) => {
    const { pathname, search } = new URL(url);
    return pathname + search;
  });
}

/** Each side once per trial, the order rotated per trial so drift hits all. */
async function rotate(trials, sides) {
  const names = Object.keys(sides);
  const results = Object.fromEntries(names.map((name) => [name, []]));
  for (let trial = 0; trial < trials; trial++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(trial + i) % names.length];
      results[name].push(await sides[name]());
    }
    console.error(`  small GETs #${trial + 1}: ${names.map((name) => `${name} ${results[name][trial].rps.toFixed(0)} req/s`).join(", ")}`);
  }
  return results;
}

const pick = (list) => ({ rps: median(list.map((r) => r.rps)), p50: median(list.map((r) => r.p50Ms)), p99: median(list.map((r) => r.p99Ms)) });
const show = (r) => `${r.rps.toFixed(0)} req/s (p50 ${ms(r.p50)}, p99 ${ms(r.p99)})`;

export async function benchSmall({ workDir, trials, durationSec = 5 }) {
  if (!hasWrk()) throw new Error("wrk is not installed (Debian package wrk)");
  if (!hasNginx()) throw new Error("nginx is not installed (Debian package nginx-light)");
  await mkdir(workDir, { recursive: true });
  const root = join(workDir, "files");
  const files = await makeSmallFiles(root);
  const nginx = await startNginx({ root, workDir });
  const raw = await startRawServerProcess(join(root, files[0].key));
  const serve = await startS3Overlay({ dataDir: join(workDir, "data") });
  try {
    const presigned = await seedObjects(serve.endpoint, files);
    const plain = files.map(({ key }) => `/${key}`);
    const load = (origin, paths, name) => async () => {
      const result = await wrkGets({ origin, paths, connections: CONNECTIONS, durationSec, workDir, name });
      if (result.errors > 0) throw new Error(`${name}: ${result.errors} failed requests of ${(result.rps * durationSec).toFixed(0)}`);
      return result;
    };
    const sides = {
      "s3-overlay": load(serve.endpoint, presigned, "s3-overlay"),
      nginx: load(nginx.url, plain, "nginx"),
      "node:http": load(raw.url.replace(/\/$/, ""), plain, "node-http"),
    };
    for (const side of Object.values(sides)) await side(); // warm-up: JIT, page cache, hot set
    const results = await rotate(trials, sides);
    const overlay = pick(results["s3-overlay"]);
    const viaNginx = pick(results.nginx);
    const viaNode = pick(results["node:http"]);
    const scenario = `small: 4 KiB GET hits, ${KEYS} keys, ${CONNECTIONS} conns, wrk, ${durationSec} s (median of ${trials})`;
    return [
      resultRow(scenario, { overlay: show(overlay), baseline: `${show(viaNginx)} (nginx sendfile)`, ratio: overlay.rps / viaNginx.rps, target: ">= 0.15x", pass: overlay.rps / viaNginx.rps >= 0.15 }),
      resultRow(scenario, { overlay: show(overlay), baseline: `${show(viaNode)} (raw node:http)`, ratio: overlay.rps / viaNode.rps }),
    ];
  } finally {
    await Promise.all([serve.stop(), raw.stop(), nginx.stop()]);
  }
}
