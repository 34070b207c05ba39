// The README's CI recipe: warm a data dir, save it (a copy, as actions/cache
// does), restore it on the next run and serve the warmed objects with the
// remote gone; a later warm refreshes what the remote changed.
import { cpSync, rmSync } from "node:fs";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, tempDir, TEST_TIER } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();

describe.skipIf(skipReason !== undefined || TEST_TIER !== "embedded")("a cached data dir between CI runs", () => {
  let remote: RemoteFixture;
  const first = tempDir("s3o-ci-run1-");
  const restored = tempDir("s3o-ci-run2-");
  const bucket = "fixtures";
  const files = Array.from({ length: 12 }, (_, i) => patternBytes(20_000 + i * 1000, i + 1));
  const large = patternBytes(3 * 1024 * 1024, 99);
  // small chunks so the large fixture is cached as a chunked object
  const chunking = { S3_OVERLAY_CHUNK_THRESHOLD: "1MiB", S3_OVERLAY_CHUNK_SIZE: "256KiB" };

  beforeAll(async () => {
    remote = await startRemote();
    for (const [i, body] of files.entries()) await remote.put(bucket, `set/${i}.bin`, body);
    await remote.put(bucket, "set/large.bin", large);
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
    for (const dir of [first, restored]) rmSync(dir, { recursive: true, force: true });
  });

  it("warm --json, copy the dir, serve it with the remote down: every warmed object is a hit", async () => {
    const warm = await runCli(["warm", `${bucket}/set/`, "--json", "--data-dir", first], { ...remote.env, ...chunking }, 120_000);
    expect(warm.code, warm.stderr).toBe(0);
    expect((JSON.parse(warm.stdout) as { fetched: { objects: number } }).fetched.objects).toBe(files.length + 1);
    rmSync(restored, { recursive: true, force: true });
    cpSync(first, restored, { recursive: true });

    await remote.rgw.pause();
    const server = await startOverlay(remote, { dataDir: restored, env: chunking });
    const client = server.client();
    try {
      for (const [i, body] of files.entries()) {
        const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `set/${i}.bin` }));
        expect(md5(Buffer.from(await output.Body!.transformToByteArray()))).toBe(md5(body));
      }
      const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "set/large.bin" }));
      expect(md5(Buffer.from(await output.Body!.transformToByteArray()))).toBe(md5(large));
    } finally {
      client.destroy();
      await server.destroy();
      await remote.rgw.resume();
    }
  });

  it("the next warm on the restored dir fetches only what changed on the remote", async () => {
    const changed = patternBytes(25_000, 1234);
    await remote.put(bucket, "set/3.bin", changed);
    const warm = await runCli(["warm", `${bucket}/set/`, "--json", "--data-dir", restored], { ...remote.env, ...chunking }, 120_000);
    expect(warm.code, warm.stderr).toBe(0);
    const summary = JSON.parse(warm.stdout) as { fetched: { objects: number }; skipped: { cached: number } };
    expect(summary.fetched.objects).toBe(1);
    expect(summary.skipped.cached).toBe(files.length);
  });
});
