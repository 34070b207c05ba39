// The remote's side of the load: objects seeded into RGW before serve starts,
// whose bytes the test knows, handed out to the workers as the load needs them.
import type { RemoteFixture } from "../../e2e/overlay-harness.js";
import { md5, patternBytes } from "../../e2e/overlay-harness.js";

export const BUCKET = "stress";
/** above S3_OVERLAY_CHUNK_THRESHOLD in the test's serve: read in chunks */
export const BIG_KEY = "big/0";
export const BIG_SIZE = 12 * 1024 * 1024;
/** top-level prefixes of the bucket (the delimiter listing must show them all) */
export const PREFIXES = ["big/", "hit/", "miss/", "tomb/", "w/"];

export interface Known {
  size: number;
  md5: string;
}

export interface DatasetPlan {
  hits: number;
  misses: number;
  tombs: number;
}

export class Dataset {
  /** read once in the warm-up: every later read is a hit; kept whole for ranged reads */
  readonly hit: { key: string; bytes: Buffer; md5: string }[] = [];
  readonly big: Buffer;
  private readonly misses: { key: string; known: Known }[] = [];
  private readonly tombs: { key: string; known: Known }[] = [];
  private nextMiss = 0;
  private nextTomb = 0;

  constructor(readonly plan: DatasetPlan) {
    for (let i = 0; i < plan.hits; i++) {
      // 1 KiB .. 256 KiB
      const bytes = patternBytes(1024 + ((i * 7919) % 255) * 1024, 1_000 + i);
      this.hit.push({ key: `hit/${pad(i)}`, bytes, md5: md5(bytes) });
    }
    this.big = patternBytes(BIG_SIZE, 7);
    for (let i = 0; i < plan.misses; i++) this.misses.push({ key: `miss/${pad(i)}`, known: known(missBytes(i)) });
    for (let i = 0; i < plan.tombs; i++) this.tombs.push({ key: `tomb/${pad(i)}`, known: known(tombBytes(i)) });
  }

  /** Writes every object to RGW directly, `concurrency` PUTs at a time. */
  async seed(remote: RemoteFixture, concurrency = 32): Promise<void> {
    await remote.put(BUCKET, BIG_KEY, this.big);
    const jobs: [string, () => Buffer][] = [
      ...this.hit.map((o) => [o.key, () => o.bytes] as [string, () => Buffer]),
      ...this.misses.map((o, i) => [o.key, () => missBytes(i)] as [string, () => Buffer]),
      ...this.tombs.map((o, i) => [o.key, () => tombBytes(i)] as [string, () => Buffer]),
    ];
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const [key, bytes] = jobs[next++]!;
        await remote.put(BUCKET, key, bytes());
      }
    }));
  }

  /** A remote object nobody has read yet (undefined once all are used). */
  takeMiss(): { key: string; known: Known } | undefined {
    return this.misses[this.nextMiss++];
  }

  /** A remote object nobody has deleted yet. */
  takeTomb(): { key: string; known: Known } | undefined {
    return this.tombs[this.nextTomb++];
  }

  get missesUsed(): number {
    return Math.min(this.nextMiss, this.misses.length);
  }

  /** some remote keys under tomb/ are not taken for deletion yet, so the prefix must still list */
  get tombsLeft(): boolean {
    return this.nextTomb < this.tombs.length;
  }

  get tombsUsed(): number {
    return Math.min(this.nextTomb, this.tombs.length);
  }
}

function missBytes(i: number): Buffer {
  return patternBytes(1024 + ((i * 104_729) % 64) * 1024, 100_000 + i);
}

function tombBytes(i: number): Buffer {
  return patternBytes(512 + (i % 8) * 512, 900_000 + i);
}

function known(bytes: Buffer): Known {
  return { size: bytes.length, md5: md5(bytes) };
}

function pad(i: number): string {
  return String(i).padStart(6, "0");
}
