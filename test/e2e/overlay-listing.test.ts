// Merged listings (local ∪ remote − tombstones) compared with a model, and
// revalidation of stale mirrors, against a real remote (Ceph RGW).
import {
  DeleteObjectsCommand, GetObjectCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "./harness.js";
import { requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

async function inBatches<T>(items: T[], size: number, task: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(task));
}

interface ModelEntry { key: string; size: number }

/** What one ListObjectsV2 page must contain, from the full sorted model. */
function modelPage(model: ModelEntry[], prefix: string, delimiter: string): { keys: string[]; prefixes: string[] } {
  const keys: string[] = [];
  const prefixes = new Set<string>();
  for (const entry of model) {
    if (!entry.key.startsWith(prefix)) continue;
    const at = delimiter ? entry.key.indexOf(delimiter, prefix.length) : -1;
    if (at >= 0) prefixes.add(entry.key.slice(0, at + delimiter.length));
    else keys.push(entry.key);
  }
  return { keys, prefixes: [...prefixes].sort(byUtf8) };
}

describe.skipIf(skipReason !== undefined)("merged listing over local, remote and tombstones", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  let client: S3Client;
  const bucket = "merged";
  const model = new Map<string, number>();

  beforeAll(async () => {
    remote = await startRemote();
    const remoteKeys: string[] = [];
    for (let i = 0; i < 1400; i++) remoteKeys.push(`${["a", "b/x", "b/y", "c/é", "d"][i % 5]}/${String(i).padStart(5, "0")}`);
    remoteKeys.push("b/y/deeper/1", "plain", "zz ✓ unicode", "𝄞 above the BMP", "\u{FFFD}replacement");
    await inBatches(remoteKeys, 24, (key) => remote.put(bucket, key, "r".repeat(3)));
    for (const key of remoteKeys) model.set(key, 3);

    server = await startOverlay(remote);
    client = server.client();
    // 800 local-only keys and 400 that shadow remote ones, with a different size
    const localOnly = Array.from({ length: 800 }, (_, i) => `${["a", "b/x", "e", "b/z"][i % 4]}/local-${String(i).padStart(4, "0")}`);
    const shadowing = remoteKeys.filter((_, i) => i % 3 === 1).slice(0, 400);
    await inBatches([...localOnly, ...shadowing], 24, (key) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "local!!" })));
    for (const key of [...localOnly, ...shadowing]) model.set(key, 7);
    // 300 tombstones over remote keys
    const deleted = remoteKeys.filter((_, i) => i % 4 === 2).slice(0, 300);
    for (let i = 0; i < deleted.length; i += 100) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: deleted.slice(i, i + 100).map((Key) => ({ Key })), Quiet: true } }));
    }
    for (const key of deleted) model.delete(key);
  }, 300_000);

  afterAll(async () => {
    client?.destroy();
    await server?.destroy();
    await remote?.stop();
  });

  const sortedModel = () => [...model.entries()].map(([key, size]) => ({ key, size })).sort((a, b) => byUtf8(a.key, b.key));

  for (const [prefix, delimiter, maxKeys] of [["", "", 1000], ["", "", 137], ["", "/", 50], ["b/", "/", 7], ["b/x/", "", 333], ["c/", "", 1000], ["zz", "", 5]] as const) {
    it(`v2 pages of ${maxKeys} with prefix "${prefix}" and delimiter "${delimiter}" match the model`, async () => {
      const expected = modelPage(sortedModel(), prefix, delimiter);
      const keys: string[] = [];
      const prefixes: string[] = [];
      const sizes = new Map<string, number>();
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: delimiter || undefined, MaxKeys: maxKeys, ContinuationToken: token }));
        const count = (page.Contents?.length ?? 0) + (page.CommonPrefixes?.length ?? 0);
        expect(count).toBeLessThanOrEqual(maxKeys);
        expect(page.KeyCount).toBe(count);
        for (const item of page.Contents ?? []) {
          keys.push(item.Key!);
          sizes.set(item.Key!, item.Size!);
        }
        for (const common of page.CommonPrefixes ?? []) prefixes.push(common.Prefix!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        pages++;
        expect(pages).toBeLessThan(1000);
      } while (token);
      expect(keys).toEqual(expected.keys);
      expect(prefixes).toEqual(expected.prefixes);
      for (const key of keys) expect(sizes.get(key), key).toBe(model.get(key));
    });
  }

  it("v1 pages with markers match the model", async () => {
    const expected = modelPage(sortedModel(), "", "").keys;
    const keys: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await client.send(new ListObjectsCommand({ Bucket: bucket, MaxKeys: 400, Marker: marker }));
      const batch = (page.Contents ?? []).map((item) => item.Key!);
      keys.push(...batch);
      if (!page.IsTruncated) break;
      marker = page.NextMarker ?? batch[batch.length - 1];
    }
    expect(keys).toEqual(expected);
  });

  it("a listing while the remote is down is a 503, not a partial answer", async () => {
    await remote.rgw.pause();
    try {
      const error = await client.send(new ListObjectsV2Command({ Bucket: bucket })).catch((e: { $metadata: { httpStatusCode: number } }) => e.$metadata.httpStatusCode);
      expect(error).toBe(503);
    } finally {
      await remote.rgw.resume();
    }
  });
});

describe.skipIf(skipReason !== undefined)("revalidation of stale mirrors", () => {
  let remote: RemoteFixture;

  beforeAll(async () => {
    remote = await startRemote();
  }, 240_000);

  afterAll(async () => {
    await remote?.stop();
  });

  async function read(client: S3Client, key: string): Promise<string> {
    const output = await client.send(new GetObjectCommand({ Bucket: "reval", Key: key }));
    return output.Body!.transformToString();
  }

  it("never revalidates by default: a cached object is a snapshot", async () => {
    await remote.put("reval", "snap.txt", "version 1");
    const server = await startOverlay(remote);
    const client = server.client();
    try {
      expect(await read(client, "snap.txt")).toBe("version 1");
      await new Promise((resolve) => setTimeout(resolve, 200));
      await remote.put("reval", "snap.txt", "version 2");
      expect(await read(client, "snap.txt")).toBe("version 1");
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("with S3_OVERLAY_REVALIDATE, an old hit picks up a changed or deleted remote object", async () => {
    await remote.put("reval", "live.txt", "version 1");
    await remote.put("reval", "same.txt", "unchanged");
    // 3 s: the steps before the "still cached" read take well over 1 s on a loaded machine
    const server = await startOverlay(remote, { env: { S3_OVERLAY_REVALIDATE: "3s" } });
    const client = server.client();
    try {
      expect(await read(client, "live.txt")).toBe("version 1");
      expect(await read(client, "same.txt")).toBe("unchanged");
      await remote.put("reval", "live.txt", "version 2");
      // younger than 3 s: still the cached snapshot
      expect(await read(client, "live.txt")).toBe("version 1");
      await new Promise((resolve) => setTimeout(resolve, 3200));
      expect(await read(client, "live.txt")).toBe("version 2");
      expect(await read(client, "same.txt")).toBe("unchanged");
      // with the remote down, the stale copy is still served
      await new Promise((resolve) => setTimeout(resolve, 3200));
      await remote.rgw.pause();
      try {
        expect(await read(client, "same.txt")).toBe("unchanged");
      } finally {
        await remote.rgw.resume();
      }
    } finally {
      client.destroy();
      await server.destroy();
    }
  });

  it("forgets a remote 404 after S3_OVERLAY_NEGATIVE_TTL", async () => {
    const server = await startOverlay(remote, { env: { S3_OVERLAY_NEGATIVE_TTL: "1s" } });
    const client = server.client();
    try {
      await remote.put("reval", "placeholder", "x");
      const missing = await read(client, "later.txt").catch((e: { name: string }) => e.name);
      expect(missing).toBe("NoSuchKey");
      await remote.put("reval", "later.txt", "arrived");
      expect(await read(client, "later.txt").catch((e: { name: string }) => e.name)).toBe("NoSuchKey");
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(await read(client, "later.txt")).toBe("arrived");
    } finally {
      client.destroy();
      await server.destroy();
    }
  });
});
