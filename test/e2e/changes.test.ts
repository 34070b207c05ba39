// `s3-overlay diff` and `reset` against a real remote (Ceph RGW): a scripted
// test run through serve (a new key, a key over a remote one, a delete of a
// remote one) shows exactly as A/M/D; reset gives back the remote's view while
// the mirrored data stays cached (no remote bytes to read it again); --dry-run
// changes nothing; both with serve running (admin API) and on the data dir alone.
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, storeEnv, tempDir, type RunningServer } from "./harness.js";
import { patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();
const KiB = 1024;
const bucket = "changesdata";
const MIRRORED = ["data/1.bin", "data/2.bin", "data/3.bin"];

describe.skipIf(skipReason !== undefined)("diff and reset", () => {
  let remote: RemoteFixture;
  let dataDir: string;
  let env: Record<string, string>;

  const cli = async (args: string[]) => {
    const result = await runCli([...args, "--data-dir", dataDir], env, 60_000);
    return { ...result, json: () => JSON.parse(result.stdout) as Record<string, any> };
  };
  const diffJson = async (target?: string) => {
    const run = await cli(["diff", ...(target ? [target] : []), "--json"]);
    expect(run.code, run.stderr).toBe(0);
    return run.json();
  };
  const keysOf = (list: { key: string }[]) => list.map((entry) => entry.key);
  const text = async (client: S3Client, key: string) => {
    try {
      return await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
    } catch (error) {
      if ((error as Error).name === "NoSuchKey") return undefined;
      throw error;
    }
  };
  /** the scripted test run: what a test suite does to its fixtures */
  const testRun = async (client: S3Client) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "data/new.txt", Body: "made by the test" }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "data/over.txt", Body: "overwritten by the test" }));
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "data/gone.txt" }));
  };
  /** the view is the remote's, and the mirrored objects read without a byte from the remote */
  const expectPristine = async (client: S3Client) => {
    remote.proxy.reset();
    for (const key of MIRRORED) expect((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).ContentLength).toBe(10 * KiB);
    expect(remote.proxy.stats().bytesFromTarget).toBe(0);
    expect(await text(client, "data/over.txt")).toBe("remote over");
    expect(await text(client, "data/gone.txt")).toBe("remote gone");
    expect(await text(client, "data/new.txt")).toBeUndefined();
  };
  const withServe = async (run: (server: RunningServer, client: S3Client) => Promise<void>) => {
    const server = await startOverlay(remote, { dataDir, env });
    const client = server.client();
    try {
      await run(server, client);
    } finally {
      client.destroy();
      await server.stop();
    }
  };

  beforeAll(async () => {
    remote = await startRemote();
    for (const [index, key] of MIRRORED.entries()) await remote.put(bucket, key, patternBytes(10 * KiB, index));
    await remote.put(bucket, "data/over.txt", "remote over");
    await remote.put(bucket, "data/gone.txt", "remote gone");
    for (let index = 0; index < 30; index++) await remote.put(bucket, `many/${String(index).padStart(2, "0")}`, `remote ${index}`);
    dataDir = tempDir("s3o-changes-");
    env = { ...(await storeEnv()), ...remote.env };
    expect((await cli(["warm", `${bucket}/data/`])).code).toBe(0);
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("with serve running: diff shows exactly A/M/D, --dry-run changes nothing, reset restores the remote's view", async () => {
    await withServe(async (_server, client) => {
      await testRun(client);
      const changes = await diffJson();
      expect(changes.added).toEqual([{ bucket, key: "data/new.txt", size: 16, etag: expect.any(String) }]);
      expect(changes.overwritten).toEqual([{ bucket, key: "data/over.txt", size: 23, etag: expect.any(String) }]);
      expect(changes.deleted).toEqual([{ bucket, key: "data/gone.txt" }]);
      expect(changes.counts).toEqual({ added: 1, overwritten: 1, deleted: 1, unknown: 0 });
      const plain = await cli(["diff", bucket]);
      expect(plain.code, plain.stderr).toBe(0);
      expect(plain.stdout).toBe(`D ${bucket}/data/gone.txt\nA ${bucket}/data/new.txt\nM ${bucket}/data/over.txt\ndiff: 1 added, 1 overwritten, 1 deleted\n`);
      expect((await diffJson(`${bucket}/many/`)).counts).toEqual({ added: 0, overwritten: 0, deleted: 0, unknown: 0 });

      const dry = await cli(["reset", "--dry-run", "--json"]);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.json()).toMatchObject({ dryRun: true, clientWrites: 2, tombstones: 1, skipped: 0 });
      expect(await diffJson()).toEqual(changes);
      expect(await text(client, "data/new.txt")).toBe("made by the test");

      const done = await cli(["reset"]);
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toBe("reset: dropped 2 client writes and 1 tombstones\n");
      expect((await diffJson()).counts).toEqual({ added: 0, overwritten: 0, deleted: 0, unknown: 0 });
      await expectPristine(client);
    });
  }, 120_000);

  it("on the data dir alone (no serve): diff and reset work the same", async () => {
    await withServe(async (_server, client) => testRun(client));
    const changes = await diffJson();
    expect([keysOf(changes.added), keysOf(changes.overwritten), keysOf(changes.deleted)]).toEqual([["data/new.txt"], ["data/over.txt"], ["data/gone.txt"]]);
    // the remote cannot be reached: the client writes print as unknown, deletes are still deletes, exit 1
    const unreachable = await runCli(["diff", "--json", "--data-dir", dataDir], { ...env, S3_OVERLAY_REMOTE_ENDPOINT: "http://127.0.0.1:1" }, 60_000);
    expect(unreachable.code, unreachable.stderr).toBe(1);
    expect(JSON.parse(unreachable.stdout)).toMatchObject({ counts: { added: 0, overwritten: 0, deleted: 1, unknown: 2 }, remoteError: expect.any(String) });
    expect(unreachable.stderr).toMatch(/2 client writes not classified/);
    const dry = (await cli(["reset", `${bucket}/data/`, "--dry-run", "--json"])).json();
    expect(dry).toMatchObject({ dryRun: true, clientWrites: 2, tombstones: 1 });
    expect(await diffJson()).toEqual(changes);
    const done = (await cli(["reset", `${bucket}/data/`, "--json"])).json();
    expect(done).toMatchObject({ dryRun: false, clientWrites: 2, tombstones: 1, skipped: 0 });
    expect((await diffJson()).counts).toEqual({ added: 0, overwritten: 0, deleted: 0, unknown: 0 });
    await withServe(async (_server, client) => expectPristine(client));
  }, 120_000);

  it("many changes are classified from the remote listing; reset is limited to its prefix", async () => {
    await withServe(async (_server, client) => {
      // 20 writes: 10 over remote keys many/10..19, 10 new keys many/30..39; a change in data/ too
      for (let index = 10; index < 40; index++) {
        if (index < 20 || index >= 30) await client.send(new PutObjectCommand({ Bucket: bucket, Key: `many/${index}`, Body: `local ${index}` }));
      }
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "many/05" }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: "data/new.txt", Body: "made by the test" }));
    });
    const many = await diffJson(`${bucket}/many/`);
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `many/${from + i}`);
    expect(keysOf(many.overwritten)).toEqual(range(10, 20));
    expect(keysOf(many.added)).toEqual(range(30, 40));
    expect(keysOf(many.deleted)).toEqual(["many/05"]);
    const done = (await cli(["reset", `${bucket}/many/`, "--json"])).json();
    expect(done).toMatchObject({ clientWrites: 20, tombstones: 1 });
    const rest = await diffJson();
    expect(rest.counts).toEqual({ added: 1, overwritten: 0, deleted: 0, unknown: 0 });
    // evict --client-writes finds them the same way (listClientWrites)
    expect((await cli(["evict", "--client-writes", "--yes", "--to-size", "1TiB", "--json"])).json()).toMatchObject({ clientWrites: 1, evicted: { objects: 0 } });
    expect((await diffJson()).counts).toEqual({ added: 0, overwritten: 0, deleted: 0, unknown: 0 });
  }, 120_000);

  it("usage errors exit 2", async () => {
    expect((await cli(["diff", "Not_A_Bucket"])).code).toBe(2);
    expect((await cli(["reset", "--no-such-option"])).code).toBe(2);
    expect((await cli(["diff", "a", "b"])).code).toBe(2);
  });
});
