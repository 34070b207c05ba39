// Lockfiles and time travel against a real, versioned remote (Ceph RGW, versioning
// enabled with PutBucketVersioning): `warm --lock` records versions, `serve --lock`
// reads exactly them after the remote overwrote and deleted, a version gone for good
// is a 412 naming both versions; `serve --remote-as-of` reads across overwrites and
// deletes. On both stores (S3_OVERLAY_TEST_TIER=rgw for the RGW local tier). Serves
// sharing an RGW tier share its cache (and remembered 404s), so each test starts cold:
// its servers stop and the cache is evicted after it, and 404s are not remembered.
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutBucketVersioningCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseLockfile, type LockEntry } from "../../src/engine/lockfile.js";
import { runCli, storeEnv, tempDir, type RunningServer } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();
const KiB = 1024;
const CHUNK = 64 * KiB;
const bucket = "lockdata";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function read(client: S3Client, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

async function listed(client: S3Client): Promise<[string, number, string][]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (page.Contents ?? []).map((entry) => [entry.Key!, entry.Size!, entry.ETag!.replaceAll('"', "")]);
}

describe.skipIf(skipReason !== undefined)("lockfiles and time travel on a versioned remote", () => {
  let remote: RemoteFixture;
  let dirs: string[] = [];
  let servers: RunningServer[] = [];
  let env: Record<string, string>;
  let lockFile: string;
  let entries: LockEntry[];
  /** after the first versions, before the overwrites and deletes */
  let before: Date;
  let after: Date;
  const v1 = { a: Buffer.from("a, first version"), spaced: Buffer.from("spaced, first"), large: patternBytes(3 * CHUNK + 100, 1), gone: Buffer.from("gone for good") };
  const v2 = { a: Buffer.from("a, second version, longer"), large: patternBytes(3 * CHUNK + 7, 2), gone: Buffer.from("gone, rewritten") };

  const dir = (prefix: string) => {
    const made = tempDir(prefix);
    dirs.push(made);
    return made;
  };
  const serve = async (args: string[], dataDir = dir("s3o-lock-")) => {
    const server = await startOverlay(remote, { args, dataDir, env });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put(bucket, "seed", "makes the bucket");
    await remote.direct.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: "Enabled" } }));
    await remote.direct.send(new DeleteObjectCommand({ Bucket: bucket, Key: "seed" }));
    await remote.put(bucket, "a.txt", v1.a);
    await remote.put(bucket, "dir/with space\tand tab.txt", v1.spaced);
    await remote.put(bucket, "large.bin", v1.large);
    await remote.put(bucket, "gone.txt", v1.gone);
    env = { ...(await storeEnv()), S3_OVERLAY_CHUNK_THRESHOLD: String(2 * CHUNK), S3_OVERLAY_CHUNK_SIZE: String(CHUNK), S3_OVERLAY_NEGATIVE_TTL: "0" };

    // the lock of what was warmed, with version IDs
    lockFile = path.join(dir("s3o-lockfile-"), "fixtures.lock");
    const warmed = await runCli(["warm", bucket, "--lock", lockFile, "--data-dir", dir("s3o-lock-warm-")], { ...env, ...remote.env }, 60_000);
    expect(warmed.code, warmed.stderr).toBe(0);
    entries = parseLockfile(readFileSync(lockFile, "utf8"), lockFile);

    // RGW keeps modification times in whole seconds or finer: leave a second on each side of "before"
    await sleep(1100);
    before = new Date();
    await sleep(1100);
    await remote.put(bucket, "a.txt", v2.a);
    await remote.put(bucket, "large.bin", v2.large);
    await remote.direct.send(new DeleteObjectCommand({ Bucket: bucket, Key: "dir/with space\tand tab.txt" }));
    const gone = entries.find((entry) => entry.key === "gone.txt")!;
    await remote.direct.send(new DeleteObjectCommand({ Bucket: bucket, Key: "gone.txt", VersionId: gone.versionId }));
    await remote.put(bucket, "gone.txt", v2.gone);
    await sleep(1100);
    after = new Date();
    await coldCache();
  }, 240_000);

  const coldCache = async () => {
    await Promise.all(servers.splice(0).map((server) => server.destroy()));
    const evicted = await runCli(["evict", bucket, "--data-dir", dir("s3o-lock-evict-")], { ...env, ...remote.env }, 60_000);
    expect(evicted.code, evicted.stderr).toBe(0);
  };

  afterEach(coldCache);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.destroy()));
    await remote?.stop();
    for (const made of dirs) rmSync(made, { recursive: true, force: true });
  });

  it("warm --lock writes one sorted line per object with its size, ETag and version ID", () => {
    expect(entries.map((entry) => entry.key)).toEqual(["a.txt", "dir/with space\tand tab.txt", "gone.txt", "large.bin"]);
    expect(entries.find((entry) => entry.key === "a.txt")).toMatchObject({ bucket, size: v1.a.length, etag: md5(v1.a), versionId: expect.any(String) });
    expect(new Set(entries.map((entry) => entry.versionId)).size).toBe(4);
    expect(readFileSync(lockFile, "utf8")).toContain("dir/with space\\tand tab.txt");
  });

  it("serve --lock: a remote overwrite or delete after locking never changes what a locked read returns", async () => {
    const server = await serve(["--lock", lockFile]);
    const client = server.client();
    try {
      expect((await read(client, "a.txt")).equals(v1.a)).toBe(true);
      expect((await read(client, "large.bin")).equals(v1.large)).toBe(true);
      expect((await read(client, "dir/with space\tand tab.txt")).equals(v1.spaced)).toBe(true);
      // the listing shows the locked sizes and ETags, the deleted key included
      expect(await listed(client)).toEqual(entries.map((entry) => [entry.key, entry.size, entry.etag]));
      // and a second read (a hit now) is the same version
      expect((await read(client, "a.txt")).equals(v1.a)).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it("a pinned version deleted on the remote is a 412 naming the key and both versions", async () => {
    const server = await serve(["--lock", lockFile]);
    const client = server.client();
    try {
      const failure = await read(client, "gone.txt").then(() => undefined, (error: Error & { $metadata?: { httpStatusCode?: number } }) => error);
      expect(failure?.name).toBe("PreconditionFailed");
      expect(failure?.$metadata?.httpStatusCode).toBe(412);
      const locked = entries.find((entry) => entry.key === "gone.txt")!;
      expect(failure?.message).toContain(`${bucket}/gone.txt is locked at ETag "${locked.etag}" (version ${locked.versionId})`);
      expect(failure?.message).toContain(`it has ETag "${md5(v2.gone)}" (version `);
    } finally {
      client.destroy();
    }
  });

  it("a cached copy of another version is dropped when serve starts with the lock", async () => {
    const dataDir = dir("s3o-lock-reuse-");
    const unpinned = await serve([], dataDir);
    let client = unpinned.client();
    expect((await read(client, "a.txt")).equals(v2.a)).toBe(true);
    client.destroy();
    await sleep(300); // the fill commits just after the last byte
    await unpinned.stop();
    const pinned = await serve(["--lock", lockFile], dataDir);
    client = pinned.client();
    try {
      expect((await read(client, "a.txt")).equals(v1.a)).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it("--lock-strict refuses keys outside the lock and lists only locked keys", async () => {
    await remote.put(bucket, "unlocked.txt", "not in the lock");
    const server = await serve(["--lock", lockFile, "--lock-strict"]);
    const client = server.client();
    try {
      await expect(read(client, "unlocked.txt")).rejects.toMatchObject({ name: "AccessDenied" });
      expect((await listed(client)).map(([key]) => key)).toEqual(entries.map((entry) => entry.key));
    } finally {
      client.destroy();
    }
  });

  it("warm --locked through a running serve warms the locked versions; the one gone fails by name", async () => {
    const server = await serve(["--lock", lockFile]);
    const warmed = await runCli(["warm", "--locked", lockFile, "--json", "--data-dir", server.dataDir], { ...env, ...remote.env }, 60_000);
    expect(warmed.code).toBe(1);
    const summary = JSON.parse(warmed.stdout);
    expect(summary.fetched.objects).toBe(3);
    expect(summary.failed.map((failure: { key: string }) => failure.key)).toEqual(["gone.txt"]);
    remote.proxy.reset();
    const client = server.client();
    try {
      expect((await read(client, "large.bin")).equals(v1.large)).toBe(true);
      expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(10 * KiB);
    } finally {
      client.destroy();
    }
  });

  it("serve --remote-as-of reads and lists each key as it was then, across overwrites and deletes", async () => {
    const then = (await serve(["--remote-as-of", before.toISOString()])).client();
    try {
      expect((await read(then, "a.txt")).equals(v1.a)).toBe(true);
      expect((await read(then, "large.bin")).equals(v1.large)).toBe(true);
      expect((await read(then, "dir/with space\tand tab.txt")).equals(v1.spaced)).toBe(true);
      // its only version then was deleted for good; the one written later did not exist yet
      await expect(read(then, "gone.txt")).rejects.toMatchObject({ name: "NoSuchKey" });
      expect(await listed(then)).toEqual([["a.txt", v1.a.length, md5(v1.a)], ["dir/with space\tand tab.txt", v1.spaced.length, md5(v1.spaced)], ["large.bin", v1.large.length, md5(v1.large)]]);
    } finally {
      then.destroy();
    }
    await coldCache();
    const later = (await serve(["--remote-as-of", after.toISOString()])).client();
    try {

      expect((await read(later, "a.txt")).equals(v2.a)).toBe(true);
      expect((await read(later, "large.bin")).equals(v2.large)).toBe(true);
      await expect(read(later, "dir/with space\tand tab.txt")).rejects.toMatchObject({ name: "NoSuchKey" });
      expect((await read(later, "gone.txt")).equals(v2.gone)).toBe(true);
      expect((await listed(later)).map(([key]) => key)).toEqual(["a.txt", "gone.txt", "large.bin"]);
    } finally {
      later.destroy();
    }
  });
});
