// Overlay.remoteBucketExists remembers the remote's answers about buckets. With
// S3_OVERLAY_REMOTE_BUCKETS="*" every bucket name a client sends is asked about:
// the memory of "no" answers must be bounded (a scan of random names must not
// grow the process for ever) and must expire like a remembered 404 (a bucket
// created on the remote later shows up).
import { afterEach, describe, expect, it, vi } from "vitest";
import type { OverlaySettings } from "../../src/config.js";
import { KeyedMutex } from "../../src/engine/mutex.js";
import { Overlay } from "../../src/engine/overlay.js";
import type { DiskSpace } from "../../src/engine/disk-space.js";
import type { RemoteApi } from "../../src/engine/remote.js";
import type { Store } from "../../src/store/types.js";
import { KNOWN_BUCKETS_LIMIT } from "../../src/engine/known-buckets.js";

function overlayWith(exists: (bucket: string) => boolean, negativeTtlMs = 30_000) {
  const asked: string[] = [];
  const remote = {
    mappedBuckets: () => [],
    bucketExists: async (bucket: string) => {
      asked.push(bucket);
      return exists(bucket);
    },
  } as unknown as RemoteApi;
  const settings = { negativeTtlMs, cacheEnabled: true, chunkSize: 1 << 20, chunkThreshold: 8 << 20, maxInflightChunks: 4 } as unknown as OverlaySettings;
  const overlay = new Overlay(remote, {} as Store, settings, "/nonexistent-spool", new KeyedMutex(), "us-east-1", {} as DiskSpace);
  return { overlay, asked };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("remote bucket answers", () => {
  it("are remembered: a second question about a bucket does not reach the remote", async () => {
    const { overlay, asked } = overlayWith((bucket) => bucket === "yes");
    expect(await overlay.remoteBucketExists("yes")).toBe(true);
    expect(await overlay.remoteBucketExists("no")).toBe(false);
    expect(await overlay.remoteBucketExists("yes")).toBe(true);
    expect(await overlay.remoteBucketExists("no")).toBe(false);
    expect(asked).toEqual(["yes", "no"]);
  });

  it("are bounded: after more names than the limit, the oldest answer is forgotten", async () => {
    const { overlay, asked } = overlayWith(() => false);
    for (let i = 0; i <= KNOWN_BUCKETS_LIMIT; i++) await overlay.remoteBucketExists(`scan-${i}`);
    expect(asked).toHaveLength(KNOWN_BUCKETS_LIMIT + 1);
    // the newest is still known, the first one was dropped to make room
    await overlay.remoteBucketExists(`scan-${KNOWN_BUCKETS_LIMIT}`);
    expect(asked).toHaveLength(KNOWN_BUCKETS_LIMIT + 1);
    await overlay.remoteBucketExists("scan-0");
    expect(asked).toHaveLength(KNOWN_BUCKETS_LIMIT + 2);
  });

  it("'no' expires after the negative TTL: a bucket created on the remote later is found", async () => {
    vi.useFakeTimers({ now: new Date("2026-01-01T00:00:00Z") });
    let created = false;
    const { overlay, asked } = overlayWith(() => created, 30_000);
    expect(await overlay.remoteBucketExists("late")).toBe(false);
    created = true;
    vi.advanceTimersByTime(29_000);
    expect(await overlay.remoteBucketExists("late")).toBe(false);
    vi.advanceTimersByTime(2_000);
    expect(await overlay.remoteBucketExists("late")).toBe(true);
    expect(asked).toEqual(["late", "late"]);
  });

  it("'no' is not remembered at all with S3_OVERLAY_NEGATIVE_TTL=0", async () => {
    const { overlay, asked } = overlayWith(() => false, 0);
    await overlay.remoteBucketExists("x");
    await overlay.remoteBucketExists("x");
    expect(asked).toEqual(["x", "x"]);
  });
});
