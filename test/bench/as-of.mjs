// Issue 15 item 4: what a listing costs with S3_OVERLAY_REMOTE_AS_OF (ListObjectVersions,
// every version of every key) beside a plain listing (ListObjectsV2) through serve, of
// the same 10,000 keys on a versioned Ceph RGW bucket, in the same run: with one
// version per key, then after every key was overwritten once (two versions each).
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { LOCAL_CREDENTIALS, startS3Overlay } from "./lib/processes.mjs";
import { ms, resultRow } from "./lib/report.mjs";
import { startRgw } from "./lib/rgw.mjs";
import { remoteEnv } from "./lib/rgw-remote.mjs";
import { createBucket, s3Client } from "./lib/s3.mjs";
import { median } from "./lib/stats.mjs";
import { interleave } from "./lib/trials.mjs";

const BUCKET = "bench-as-of";
const KEYS = 10_000;
const SEED_CONCURRENCY = 32;

async function putAll(direct, body) {
  const keys = Array.from({ length: KEYS }, (_, i) => `data/${String(i).padStart(5, "0")}.json`);
  for (let i = 0; i < keys.length; i += SEED_CONCURRENCY) {
    await Promise.all(keys.slice(i, i + SEED_CONCURRENCY).map((Key) => direct.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: body }))));
  }
}

/** Lists the whole bucket through a serve (pages of 1000, as a client would); returns { seconds, keys }. */
async function listAll(client) {
  const t0 = performance.now();
  let keys = 0;
  let token;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
    keys += page.KeyCount ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  if (keys !== KEYS) throw new Error(`listed ${keys} keys, expected ${KEYS}`);
  return { seconds: (performance.now() - t0) / 1000, keys };
}

export async function benchAsOf({ workDir, trials }) {
  await mkdir(workDir, { recursive: true });
  const rgw = await startRgw();
  const direct = s3Client(rgw.endpoint, { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey }, rgw.region);
  const servers = [];
  try {
    await createBucket(direct, BUCKET);
    await direct.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: "Enabled" } }));
    const rows = [];
    for (const versions of [1, 2]) {
      await putAll(direct, `{"version":${versions}}`);
      const start = (name, args) => startS3Overlay({ dataDir: join(workDir, `${name}-${versions}`), env: remoteEnv(rgw), args });
      const plain = await start("plain", []);
      const asOf = await start("as-of", ["--remote-as-of", new Date(Date.now() + 60_000).toISOString()]);
      servers.push(plain, asOf);
      const [plainClient, asOfClient] = [plain, asOf].map((server) => s3Client(server.endpoint, LOCAL_CREDENTIALS));
      const results = await interleave(trials, () => listAll(asOfClient), () => listAll(plainClient), { label: `listing ${KEYS} keys, ${versions} version(s) each`, show: (r) => ms(r.seconds * 1000) });
      const asOfSec = median(results.overlay.map((r) => r.seconds));
      const plainSec = median(results.baseline.map((r) => r.seconds));
      rows.push(resultRow(`as-of: list ${KEYS} keys, ${versions} version${versions > 1 ? "s" : ""} each (median of ${trials})`, {
        overlay: `${ms(asOfSec * 1000)} (--remote-as-of: ListObjectVersions)`,
        baseline: `${ms(plainSec * 1000)} (plain: ListObjectsV2)`,
        ratio: asOfSec / plainSec,
      }));
      plainClient.destroy();
      asOfClient.destroy();
      await Promise.all(servers.splice(0).map((server) => server.stop()));
    }
    return rows;
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    direct.destroy();
    await rgw.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}
