// CPU-seconds per GiB that serve spends sending a GET hit, with block CRC32s
// verified and without (S3_OVERLAY_UNVERIFIED_READS=1): a cost that, unlike
// throughput, a busy shared machine does not distort much.
//   node test/bench/verify-cpu.mjs [workDir] [sizeMiB]
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { benchAgent } from "./lib/agent.mjs";
import { makeFile } from "./lib/files.mjs";
import { timeGet, timePut } from "./lib/http-load.mjs";
import { LOCAL_CREDENTIALS, startS3Overlay } from "./lib/processes.mjs";
import { createBucket, presignGet, presignPut, s3Client } from "./lib/s3.mjs";

const workDir = process.argv[2] ?? "tmp/bench/verify-cpu";
const sizeBytes = Number(process.argv[3] ?? 512) * 2 ** 20;
const TICKS = 100; // USER_HZ on Linux

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

await mkdir(workDir, { recursive: true });
const file = await makeFile(join(workDir, "big.bin"), sizeBytes);
const results = {};
for (const [name, env] of [["verified", {}], ["unverified", { S3_OVERLAY_UNVERIFIED_READS: "1" }]]) {
  const serve = await startS3Overlay({ dataDir: join(workDir, `data-${name}-${Date.now()}`), env });
  try {
    const client = s3Client(serve.endpoint, LOCAL_CREDENTIALS);
    await createBucket(client, "bench");
    await timePut(await presignPut(client, "bench", "big"), file);
    const url = await presignGet(client, "bench", "big");
    client.destroy();
    const agent = benchAgent();
    await timeGet(url, { dispatcher: agent });
    const before = cpuSeconds(serve.pid);
    const rounds = 4;
    for (let i = 0; i < rounds; i++) await timeGet(url, { dispatcher: agent });
    results[name] = (cpuSeconds(serve.pid) - before) / ((rounds * sizeBytes) / 2 ** 30);
    await agent.close();
  } finally {
    await serve.stop();
  }
}
console.log(JSON.stringify({ cpuSecondsPerGiB: results, added: results.verified - results.unverified }));
