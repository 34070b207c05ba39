// The load test (`npm run test:stress`): S3_OVERLAY_STRESS_CLIENTS clients (64)
// run a mixed workload against serve overlaying a Ceph RGW for
// S3_OVERLAY_STRESS_SECONDS (60) split into two phases with a settle period
// after each. Every answer is checked; the run must have no unexpected error,
// its fds must come back to the baseline, and memory must plateau: a leak
// grows phase by phase, heap and allocator growth do not.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, type RunningServer } from "../e2e/harness.js";
import { requireRgw, startOverlay, startRemote, type RemoteFixture } from "../e2e/overlay-harness.js";
import { Dataset } from "./lib/dataset.js";
import { heapSnapshot, procSample, sampler, serveMemory, sleep, waitFor, type ProcSample, type ServeMemory } from "./lib/resources.js";
import { Errors, Latencies, markdownTable, mib, ms } from "./lib/stats.js";
import { Worker } from "./lib/worker.js";

const SECONDS = Number(process.env.S3_OVERLAY_STRESS_SECONDS ?? 60);
const CLIENTS = Number(process.env.S3_OVERLAY_STRESS_CLIENTS ?? 64);
/** load phases (each SECONDS / 2 long): more than 2 show a trend, for investigating */
const PHASES = Number(process.env.S3_OVERLAY_STRESS_PHASES ?? 2);
/** heap snapshots and /proc smaps at every checkpoint, into tmp/stress/ */
const SNAPSHOTS = process.env.S3_OVERLAY_STRESS_SNAPSHOTS === "1";
const WARMUP_SECONDS = Math.min(5, SECONDS / 4);
const OUT_DIR = path.join(ROOT, "tmp", process.env.S3_OVERLAY_STRESS_OUT ?? "stress");

/** idle keep-alive sockets (clients', and the remote agent's) may take this long to close */
const FD_SETTLE_MS = 45_000;
/** fds above the baseline allowed once settled (a socket or two in TIME_WAIT handover, the admin request) */
const FD_SLACK = 8;
// Limits, from measured runs (README "Reliability"). The first phase grows RSS by
// what its peak concurrency needed: V8 heap pages and malloc arenas that are kept
// once taken (35-80 MiB measured). After that, RSS follows the peak of the last
// phase, not the number of requests: a later phase may settle above the first
// phase's peak only by the headroom, and the live heap must stay flat (+0.1-0.4 MiB
// measured per phase, JIT code). A leak grows phase after phase and fails one of them.
const MiB = 1024 * 1024;
const RSS_GROWTH_FIRST = 160 * MiB;
const RSS_HEADROOM = 64 * MiB;
const HEAP_GROWTH_NEXT = 4 * MiB;

interface Checkpoint {
  name: string;
  proc: ProcSample;
  memory: ServeMemory;
  ops?: number;
  seconds?: number;
  peak?: ProcSample;
}

describe.skipIf(requireRgw())("mixed load against an RGW remote", () => {
  let remote: RemoteFixture | undefined;
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.destroy();
    await remote?.stop();
  });

  it(`${CLIENTS} clients × ${SECONDS} s: no unexpected errors, fds back to the baseline, memory plateaus`, async () => {
    expect(SECONDS).toBeGreaterThan(0);
    expect(CLIENTS).toBeGreaterThan(0);
    remote = await startRemote();
    // first reads and remote deletes for ~25 misses and ~6 remote deletes a second (then hits and own deletes stand in);
    // seeding RGW takes a while: S3_OVERLAY_STRESS_MISSES_PER_SECOND=100 on a fast machine
    const loadSeconds = WARMUP_SECONDS + (PHASES * SECONDS) / 2;
    const missRate = Number(process.env.S3_OVERLAY_STRESS_MISSES_PER_SECOND ?? 25);
    const dataset = new Dataset({ hits: 64, misses: Math.ceil(loadSeconds * missRate), tombs: Math.ceil((loadSeconds * missRate) / 4) });
    const seedStarted = Date.now();
    await dataset.seed(remote);
    log(`seeded ${dataset.plan.hits + dataset.plan.misses + dataset.plan.tombs + 1} remote objects in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`);

    mkdirSync(OUT_DIR, { recursive: true });
    const nodeOptions = ["--expose-gc", ...(SNAPSHOTS ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${OUT_DIR}`] : [])];
    server = await startOverlay(remote, {
      env: { NODE_OPTIONS: nodeOptions.join(" "), S3_OVERLAY_CHUNK_THRESHOLD: "8MiB", S3_OVERLAY_CHUNK_SIZE: "1MiB" },
    });
    const pid = server.process.pid!;
    const startFds = procSample(pid).fds;
    const latencies = new Latencies();
    const errors = new Errors();

    const workers = Array.from({ length: CLIENTS }, (_, id) => new Worker(id, dataset, latencies, errors));
    const load = async (seconds: number) => {
      const clients = Array.from({ length: CLIENTS }, () => server!.client());
      const deadline = Date.now() + seconds * 1000;
      const watch = sampler(pid, 2000);
      const before = latencies.total();
      const started = Date.now();
      try {
        await Promise.all(workers.map((worker, id) => worker.run(clients[id]!, deadline)));
      } finally {
        for (const client of clients) client.destroy();
      }
      const samples = watch.stop();
      const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
      return { ops: latencies.total() - before, seconds: (Date.now() - started) / 1000, peak };
    };
    const checkpoint = async (name: string, baselineFds: number): Promise<Checkpoint> => {
      const settledIn = await waitFor(() => procSample(pid).fds <= baselineFds + FD_SLACK, FD_SETTLE_MS);
      await sleep(2000);
      const memory = await serveMemory(server!.endpoint);
      const proc = procSample(pid);
      log(`${name}: rss ${mib(proc.rss)} MiB, fds ${proc.fds} (${startFds} at start), heapUsed ${mib(memory.heapUsed)} MiB, external ${mib(memory.external)} MiB` +
        `${settledIn === undefined ? " (fds did not settle)" : ` (fds settled in ${(settledIn / 1000).toFixed(1)} s)`}`);
      // where the RSS is (heap, arenas, mapped files), for investigating growth
      writeFileSync(path.join(OUT_DIR, `smaps-${name.replace(/\W+/g, "-").replace(/-$/, "")}.txt`), readFileSync(`/proc/${pid}/smaps`));
      if (SNAPSHOTS) log(`  heap snapshot ${await heapSnapshot(pid, OUT_DIR)}`);
      return { name, proc, memory };
    };

    // warm-up: every hit object read once (a miss, then cached), every code path run once
    for (const object of dataset.hit) {
      const client = server.client();
      await workers[0]!.check(client, object.key, { size: object.bytes.length, md5: object.md5 });
      client.destroy();
    }
    await load(WARMUP_SECONDS);
    latencies.clear();
    // the baseline waits for the warm-up's idle sockets too (fds as right after start)
    const baseline = await checkpoint("baseline (after warm-up)", startFds);
    const phases: Checkpoint[] = [];
    for (const name of "ABCDEFGHIJ".slice(0, PHASES)) {
      const run = await load(SECONDS / 2);
      log(`phase ${name}: ${run.ops} operations in ${run.seconds.toFixed(1)} s, peak rss ${mib(run.peak.rss)} MiB, peak fds ${run.peak.fds}`);
      phases.push({ ...(await checkpoint(`settled after phase ${name}`, baseline.proc.fds)), ...run });
    }

    const report = renderReport(latencies, errors, dataset, [baseline, ...phases]);
    writeFileSync(path.join(OUT_DIR, "results.md"), report);
    process.stdout.write(`\n${report}\n`);
    for (const error of errors.kept) process.stdout.write(`ERROR ${error.op} ${error.key}: ${error.detail}\n`);

    expect(errors.count, `${errors.count} unexpected errors (the first ones are printed above)`).toBe(0);
    for (const phase of phases) expect(phase.proc.fds, `fds after ${phase.name}`).toBeLessThanOrEqual(baseline.proc.fds + FD_SLACK);
    const first = phases[0]!;
    expect(first.proc.rss - baseline.proc.rss, "RSS growth over the first phase").toBeLessThanOrEqual(RSS_GROWTH_FIRST);
    const plateau = Math.max(first.peak!.rss, first.proc.rss) + RSS_HEADROOM;
    for (let i = 1; i < phases.length; i++) {
      const [before, after] = [phases[i - 1]!, phases[i]!];
      expect(after.proc.rss, `RSS settled after ${after.name} (the first phase peaked at ${mib(first.peak!.rss)} MiB)`).toBeLessThanOrEqual(plateau);
      expect(after.memory.collected, "serve runs with --expose-gc: heap figures are live data").toBe(true);
      expect(after.memory.heapUsed - before.memory.heapUsed, `live heap growth ${before.name} -> ${after.name}`).toBeLessThanOrEqual(HEAP_GROWTH_NEXT);
    }
  });
});

function renderReport(latencies: Latencies, errors: Errors, dataset: Dataset, checkpoints: Checkpoint[]): string {
  const rows = latencies.rows().sort((x, y) => y.count - x.count).map((row) => [row.op, row.count, ms(row.p50), ms(row.p99), ms(row.max)]);
  const memoryRows = checkpoints.map((c) => [
    c.name, c.ops === undefined ? "" : `${c.ops} (${(c.ops / c.seconds!).toFixed(0)}/s)`, c.peak ? `${mib(c.peak.rss)} / ${c.peak.fds}` : "",
    mib(c.proc.rss), c.proc.fds, mib(c.memory.heapTotal), mib(c.memory.heapUsed), mib(c.memory.external), mib(c.memory.arrayBuffers),
  ]);
  return [
    `## Stress run: ${CLIENTS} clients × ${SECONDS} s (${PHASES} phases of ${SECONDS / 2} s), ${new Date().toISOString()}`,
    "",
    `${latencies.total()} timed operations, ${errors.count} unexpected errors; ${dataset.missesUsed} first reads (misses) and ${dataset.tombsUsed} remote deletes used of ${dataset.plan.misses} and ${dataset.plan.tombs} seeded.`,
    "",
    markdownTable(["operation", "count", "p50 ms", "p99 ms", "max ms"], rows),
    "",
    "Serve process (RSS and fds from /proc; heap figures after a full GC):",
    "",
    markdownTable(["checkpoint", "operations", "peak RSS MiB / fds", "RSS MiB", "fds", "heapTotal MiB", "heapUsed MiB", "external MiB", "arrayBuffers MiB"], memoryRows),
    "",
  ].join("\n");
}

function log(line: string): void {
  process.stdout.write(`[stress] ${line}\n`);
}
