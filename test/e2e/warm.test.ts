// `s3-overlay warm` against a real remote (Ceph RGW): a prefix of many small and
// two large objects is fetched once, read back as hits with the remote down,
// skipped on a second run, resumed after an interruption; dry runs change
// nothing; partial chunks; warming through a running serve; progress output.
import { spawn, spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, cleanEnv, runCli, storeEnv, tempDir, type RunningServer } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();
const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 256 * KiB;
const LARGE = 5 * CHUNK + 1000; // 6 chunks, above the 1 MiB threshold
const SMALL = 300;

describe.skipIf(skipReason !== undefined)("warm", () => {
  let remote: RemoteFixture;
  let dataDir: string;
  let env: Record<string, string>;
  const bucket = "warmdata";
  const small = (index: number) => patternBytes(1000 + index, index);

  const cli = async (args: string[], extraEnv: Record<string, string> = {}) => {
    const result = await runCli([...args, "--data-dir", dataDir], { ...env, ...extraEnv }, 60_000);
    return { ...result, json: () => JSON.parse(result.stdout) as Record<string, any> };
  };

  beforeAll(async () => {
    remote = await startRemote();
    await Promise.all(Array.from({ length: SMALL }, (_, index) => remote.put(bucket, `set/small/${String(index).padStart(3, "0")}.txt`, small(index))));
    await remote.put(bucket, "set/large/a.parquet", patternBytes(LARGE, 1), { ContentType: "application/x-parquet" });
    await remote.put(bucket, "set/large/b.parquet", patternBytes(LARGE, 2));
    await remote.put(bucket, "other/outside.txt", "not under the prefix");
    await remote.put(bucket, "partial/big.bin", patternBytes(LARGE, 3));
    await Promise.all(Array.from({ length: 40 }, (_, index) => remote.put(bucket, `resume/${index}.bin`, patternBytes(64 * KiB, index))));
    dataDir = tempDir("s3o-warm-");
    env = { ...(await storeEnv()), ...remote.env, S3_OVERLAY_CHUNK_THRESHOLD: String(1 * MiB), S3_OVERLAY_CHUNK_SIZE: String(CHUNK), S3_OVERLAY_PROGRESS_INTERVAL: "100ms" };
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("rejects bad usage with exit 2 and one message", async () => {
    expect((await cli(["warm"])).code).toBe(2);
    const badChunks = await cli(["warm", `${bucket}/set`, "--chunks", "middle"]);
    expect(badChunks.code).toBe(2);
    expect(badChunks.stderr).toMatch(/--chunks "middle"/);
    expect((await cli(["warm", "Not_A_Bucket"])).code).toBe(2);
    const noRemote = await runCli(["warm", bucket, "--data-dir", dataDir], {});
    expect(noRemote.code).toBe(2);
    expect(noRemote.stderr).toMatch(/needs a remote/);
  });

  it("--dry-run reports what it would fetch and changes nothing", async () => {
    remote.proxy.reset();
    const dry = await cli(["warm", `${bucket}/set/`, "--dry-run", "--json"]);
    expect(dry.code, dry.stderr).toBe(0);
    const summary = dry.json();
    const smallBytes = Array.from({ length: SMALL }, (_, index) => 1000 + index).reduce((a, b) => a + b, 0);
    expect(summary.dryRun).toBe(true);
    expect(summary.fetched).toEqual({ objects: SMALL + 2, bytes: smallBytes + 2 * LARGE });
    expect(summary.planned).toHaveLength(SMALL + 2);
    // listing only: no object bytes came from the remote
    expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(smallBytes);
    const status = (await cli(["status", "--json"])).json();
    expect(status.totals.mirroredObjects).toBe(0);
    expect(status.totals.chunksCached).toBe(0);
  });

  it("fills a prefix of small and large objects, with progress lines when stderr is not a terminal", async () => {
    const run = await cli(["warm", `${bucket}/set/`, "--json", "--concurrency", "16"]);
    expect(run.code, run.stderr).toBe(0);
    const summary = run.json();
    expect(summary.failed).toEqual([]);
    expect(summary.fetched.objects).toBe(SMALL + 2);
    expect(summary.objects).toBe(SMALL + 2);
    // the final progress line
    expect(run.stderr).toMatch(new RegExp(`warm: ${SMALL + 2}/${SMALL + 2} objects, .* ETA`));
    const status = (await cli(["status", `${bucket}/set/`, "--json"])).json();
    expect(status.totals.mirroredObjects).toBe(SMALL);
    expect(status.totals.chunkedObjects).toBe(2);
    expect(status.totals.chunksCached).toBe(12);
    expect(status.totals.chunksTotal).toBe(12);
  });

  it("a second warm fetches nothing", async () => {
    remote.proxy.reset();
    const again = await cli(["warm", `${bucket}/set/`, "--json"]);
    expect(again.code, again.stderr).toBe(0);
    const summary = again.json();
    expect(summary.fetched).toEqual({ objects: 0, bytes: 0 });
    expect(summary.skipped.cached).toBe(SMALL + 2);
    expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(200 * KiB);
  });

  it("warmed objects are hits with the remote down, byte for byte, with the remote's identity", async () => {
    const server = await startOverlay(remote, { dataDir, env });
    await remote.rgw.pause("refuse");
    try {
      const client = server.client();
      for (const index of [0, 150, 299]) {
        const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: `set/small/${String(index).padStart(3, "0")}.txt` }));
        const response = await fetch(url);
        expect(response.status).toBe(200);
        expect(response.headers.get("x-cache")).toBe("hit");
        expect(Buffer.from(await response.arrayBuffer()).equals(small(index))).toBe(true);
      }
      const large = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "set/large/a.parquet" }));
      expect(large.ContentType).toBe("application/x-parquet");
      expect(md5(Buffer.from(await large.Body!.transformToByteArray()))).toBe(md5(patternBytes(LARGE, 1)));
      client.destroy();
    } finally {
      await remote.rgw.resume();
      await server.destroy();
    }
  }, 60_000);

  it("--chunks first,last warms only the ends of a large object; all the rest come later", async () => {
    const partial = await cli(["warm", `${bucket}/partial/`, "--chunks", "first,last", "--json"]);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.json().fetched).toEqual({ objects: 1, bytes: CHUNK + (LARGE - 5 * CHUNK) });
    let status = (await cli(["status", `${bucket}/partial/`, "--json"])).json();
    expect(status.totals).toMatchObject({ chunkedObjects: 1, chunksCached: 2, chunksTotal: 6 });
    const rest = await cli(["warm", `${bucket}/partial/`, "--json"]);
    expect(rest.json().fetched).toEqual({ objects: 1, bytes: 4 * CHUNK });
    status = (await cli(["status", `${bucket}/partial/`, "--json"])).json();
    expect(status.totals.chunksCached).toBe(6);
  });

  it("an interrupted warm resumes where it stopped", async () => {
    const child = spawn(process.execPath, [BIN, "warm", `${bucket}/resume/`, "--json", "--concurrency", "1", "--data-dir", dataDir], {
      env: { ...cleanEnv(), ...env, S3_OVERLAY_PROGRESS_INTERVAL: "20ms" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await new Promise<void>((resolve) => {
      child.stderr.on("data", (data: Buffer) => {
        stderr += data.toString();
        if (/warm: [1-9]\d*\/40 objects/.test(stderr)) resolve();
      });
      void exited.then(() => resolve());
    });
    child.kill("SIGINT");
    expect(await exited).toBe(1);
    const first = JSON.parse(stdout) as { interrupted: boolean; fetched: { objects: number } };
    expect(first.interrupted).toBe(true);
    expect(first.fetched.objects).toBeGreaterThan(0);
    expect(first.fetched.objects).toBeLessThan(40);
    const resumed = (await cli(["warm", `${bucket}/resume/`, "--json"])).json();
    expect(resumed.skipped.cached).toBe(first.fetched.objects);
    expect(resumed.fetched.objects).toBe(40 - first.fetched.objects);
  });

  it("--include/--exclude and --manifest choose objects", async () => {
    const manifest = path.join(dataDir, "..", `manifest-${process.pid}.txt`);
    writeFileSync(manifest, `# test data\n${bucket}/other/outside.txt\n\n${bucket}/missing/key.txt\n`);
    try {
      const run = await cli(["warm", `${bucket}/set/small/`, "--include", "**/01?.txt", "--exclude", "**/015.txt", "--manifest", manifest, "--json"]);
      const summary = run.json();
      expect(run.code, JSON.stringify(summary)).toBe(1);
      // 010-019 minus 015 are cached already; outside.txt is new; missing/key.txt failed
      expect(summary.objects).toBe(10);
      expect(summary.skipped.cached).toBe(9);
      expect(summary.fetched.objects).toBe(1);
      expect(summary.failed).toEqual([{ bucket, key: "missing/key.txt", error: "not found on the remote" }]);
      expect(run.stderr).toMatch(/failed warmdata\/missing\/key.txt/);
    } finally {
      rmSync(manifest, { force: true });
    }
  });

  it("while serve holds the store, warm runs in it (admin API) and serve keeps answering", async () => {
    await remote.put(bucket, "live/one.txt", "one");
    await remote.put(bucket, "live/two.txt", "two");
    const server: RunningServer = await startOverlay(remote, { dataDir, env });
    try {
      const run = await cli(["warm", `${bucket}/live/`, "--json"]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.json().fetched).toEqual({ objects: 2, bytes: 6 });
      const status = (await cli(["status", "--json"])).json();
      expect(status.server.counters).toBeDefined();
      const client = server.client();
      const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: "live/two.txt" }));
      const response = await fetch(url);
      expect(response.headers.get("x-cache")).toBe("hit");
      expect(await response.text()).toBe("two");
      client.destroy();
      // the admin API wants the local credentials
      const unsigned = await fetch(`${server.endpoint}/_s3-overlay/status`, { method: "POST", body: "{}" });
      expect(unsigned.status).toBe(403);
      const wrongKey = await cli(["status", "--server", server.endpoint, "--json"], { S3_OVERLAY_LOCAL_SECRET_KEY: "wrong" });
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.stderr).toMatch(/403/);
    } finally {
      await server.destroy();
    }
  }, 60_000);

  it.skipIf(spawnSync("tmux", ["-V"]).status !== 0)("on a terminal, shows a progress bar", async () => {
    const session = `s3o-warm-${process.pid}`;
    // a fresh object, so there is something to fetch: a bar needs a non-empty plan
    await remote.put(bucket, "tty/x.bin", patternBytes(300 * KiB, 9));
    const envArgs = Object.entries(env).map(([name, value]) => `${name}=${value}`);
    const command = ["env", ...envArgs, process.execPath, BIN, "warm", `${bucket}/tty/`, "--data-dir", dataDir];
    const wrapped = `${command.map((part) => `'${part}'`).join(" ")}; echo EXIT=$?; sleep 30`;
    spawnSync("tmux", ["new-session", "-d", "-s", session, "-x", "200", "-y", "20", wrapped]);
    try {
      let screen = "";
      for (let i = 0; i < 100 && !/EXIT=\d/.test(screen); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        screen = spawnSync("tmux", ["capture-pane", "-p", "-t", session]).stdout.toString();
      }
      expect(screen).toMatch(/EXIT=0/);
      expect(screen).toMatch(/warm \[[█░]+\] 100% \| 1\/1 objects \| 300\.0 KiB\/300\.0 KiB/);
    } finally {
      spawnSync("tmux", ["kill-session", "-t", session]);
    }
  });
});
