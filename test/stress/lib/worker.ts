// One load client: a loop of weighted random S3 operations until the deadline,
// each checked against what the test knows (bytes by MD5, 404s of deleted
// keys, listings). Only the operation's own request is timed; the checks that
// follow it (a HEAD after a DELETE…) are not.
import {
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { md5, patternBytes } from "../../e2e/overlay-harness.js";
import { BIG_KEY, BUCKET, PREFIXES, type Dataset, type Known } from "./dataset.js";
import type { Errors, Latencies } from "./stats.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const REQUEST_TIMEOUT_MS = 60_000;
const SMALL_SLOTS = 16;

type Op = (w: Worker) => Promise<void>;

/** A check that failed: an error of the run, with what was expected. */
class Mismatch extends Error {}

export class Worker {
  /** this worker's keys under w/<id>/ and what they hold now */
  private readonly own = new Map<string, Known>();
  private seed: number;
  private n = 0;

  private client!: S3Client;

  constructor(
    readonly id: number,
    private readonly dataset: Dataset,
    private readonly latencies: Latencies,
    private readonly errors: Errors,
  ) {
    this.seed = (id + 1) * 2_654_435_761;
  }

  /** Runs the mix through `client` until the deadline; a worker keeps its keys from run to run. */
  async run(client: S3Client, deadline: number): Promise<void> {
    this.client = client;
    const total = WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
    while (Date.now() < deadline) {
      let pick = this.random() * total;
      const [name, , op] = WEIGHTS.find(([, weight]) => (pick -= weight) < 0) ?? WEIGHTS[0]!;
      try {
        await op(this);
      } catch (error) {
        this.errors.add(name, (error as { key?: string }).key ?? "", describe(error));
      }
    }
  }

  // ------------------------------------------------------------ operations

  async getHit(): Promise<void> {
    const object = this.dataset.hit[this.int(this.dataset.hit.length)]!;
    await this.getExpect("GET hit", object.key, { size: object.bytes.length, md5: object.md5 });
  }

  async getMiss(): Promise<void> {
    const miss = this.dataset.takeMiss();
    // the seeded misses are used up: the run goes on with hits (the report counts both)
    if (!miss) return this.getHit();
    await this.getExpect("GET miss", miss.key, miss.known);
  }

  async get404(): Promise<void> {
    const key = `nokey/${this.id}-${this.n++ % 50}`;
    await this.expectMissing("GET 404", key, true);
  }

  async head(): Promise<void> {
    const object = this.dataset.hit[this.int(this.dataset.hit.length)]!;
    const out = await this.timed("HEAD", object.key, (abortSignal) => this.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: object.key }), { abortSignal }));
    if (out.ContentLength !== object.bytes.length || out.ETag !== `"${object.md5}"`) {
      throw mismatch(object.key, `HEAD: ${out.ContentLength} bytes, ETag ${out.ETag}; expected ${object.bytes.length}, "${object.md5}"`);
    }
  }

  async putSmall(): Promise<void> {
    await this.put("PUT small", `w/${this.id}/s${this.int(SMALL_SLOTS)}`, KiB + this.int(63 * KiB));
  }

  async putLarge(): Promise<void> {
    await this.put("PUT large", `w/${this.id}/L${this.int(2)}`, MiB + this.int(7 * MiB));
  }

  async multipart(): Promise<void> {
    const key = `w/${this.id}/mp`;
    const body = patternBytes(12 * MiB, this.nextSeed());
    const abortController = new AbortController();
    const timer = setTimeout(() => abortController.abort(), 2 * REQUEST_TIMEOUT_MS);
    try {
      await this.timed("multipart 12 MiB", key, () => new Upload({ client: this.client, params: { Bucket: BUCKET, Key: key, Body: body }, abortController }).done());
    } finally {
      clearTimeout(timer);
    }
    this.own.set(key, { size: body.length, md5: md5(body) });
  }

  async deleteOwn(): Promise<void> {
    const key = this.ownKey();
    if (!key) return this.putSmall();
    await this.timed("DELETE own", key, (abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }), { abortSignal }));
    this.own.delete(key);
    await this.expectMissing(undefined, key, false);
  }

  /** A remote key deleted: the tombstone must hide it from reads and listings. Every other one is read (mirrored) first. */
  async deleteRemote(): Promise<void> {
    const tomb = this.dataset.takeTomb();
    if (!tomb) return this.deleteOwn();
    if (this.int(2) === 0) await this.getExpect(undefined, tomb.key, tomb.known);
    await this.timed("DELETE remote", tomb.key, (abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: tomb.key }), { abortSignal }));
    await this.expectMissing(undefined, tomb.key, true);
    const listed = await this.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: tomb.key }));
    if ((listed.Contents ?? []).some((entry) => entry.Key === tomb.key)) throw mismatch(tomb.key, "a deleted remote key is still listed");
  }

  /** Three views of the merged listing, in turn: own prefix (exact), top level (delimiter), all hit objects. */
  async list(): Promise<void> {
    const kind = this.n++ % 3;
    if (kind === 0) {
      const prefix = `w/${this.id}/`;
      const out = await this.timed("LIST", prefix, (abortSignal) => this.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }), { abortSignal }));
      const listed = (out.Contents ?? []).map((entry) => `${entry.Key}:${entry.Size}`).join(",");
      const expected = [...this.own].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, known]) => `${key}:${known.size}`).join(",");
      if (listed !== expected) throw mismatch(prefix, `listing ${listed || "(empty)"}; expected ${expected || "(empty)"}`);
    } else if (kind === 1) {
      const out = await this.timed("LIST", "/", (abortSignal) => this.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: "/" }), { abortSignal }));
      const prefixes = (out.CommonPrefixes ?? []).map((entry) => entry.Prefix);
      // w/ holds this worker's writes, tomb/ the remote keys not deleted yet: either may be legitimately empty
      const missing = PREFIXES.filter((prefix) => !prefixes.includes(prefix) && !(prefix === "w/" && this.own.size === 0) && !(prefix === "tomb/" && !this.dataset.tombsLeft));
      if (missing.length > 0) throw mismatch("/", `delimiter listing ${prefixes.join(",")} lacks ${missing.join(",")}`);
    } else {
      const out = await this.timed("LIST", "hit/", (abortSignal) => this.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "hit/" }), { abortSignal }));
      const keys = new Set((out.Contents ?? []).map((entry) => entry.Key));
      const absent = this.dataset.hit.filter((object) => !keys.has(object.key));
      if (absent.length > 0) throw mismatch("hit/", `listing lacks ${absent.length} hit objects, e.g. ${absent[0]!.key}`);
    }
  }

  /** A range of a hit object, or of the big remote object (its chunks, fetched as touched). */
  async rangedGet(): Promise<void> {
    const big = this.int(3) === 0;
    const object = big ? { key: BIG_KEY, bytes: this.dataset.big } : this.dataset.hit[this.int(this.dataset.hit.length)]!;
    const start = this.int(object.bytes.length);
    const end = Math.min(object.bytes.length - 1, start + this.int(256 * KiB));
    const op = big ? "GET range (chunked)" : "GET range";
    const out = await this.timed(op, object.key, async (abortSignal) => {
      const response = await this.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: object.key, Range: `bytes=${start}-${end}` }), { abortSignal });
      return Buffer.from(await response.Body!.transformToByteArray());
    });
    if (!out.equals(object.bytes.subarray(start, end + 1))) throw mismatch(object.key, `bytes ${start}-${end}: ${out.length} bytes that differ from the object's`);
  }

  async getOwn(): Promise<void> {
    const key = this.ownKey();
    if (!key) return this.putSmall();
    await this.getExpect("GET own write", key, this.own.get(key)!);
  }

  // ------------------------------------------------------------ helpers

  private async put(op: string, key: string, size: number): Promise<void> {
    const body = patternBytes(size, this.nextSeed());
    const digest = md5(body);
    const out = await this.timed(op, key, (abortSignal) => this.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }), { abortSignal }));
    if (out.ETag !== `"${digest}"`) throw mismatch(key, `PUT answered ETag ${out.ETag}; expected "${digest}"`);
    this.own.set(key, { size, md5: digest });
  }

  /** An untimed read that must return exactly `known` (the warm-up). */
  check(client: S3Client, key: string, known: Known): Promise<void> {
    this.client = client;
    return this.getExpect(undefined, key, known);
  }

  /** GET whose bytes must be exactly `known`; timed as `op` unless op is undefined (a check). */
  private async getExpect(op: string | undefined, key: string, known: Known): Promise<void> {
    const read = async (abortSignal: AbortSignal) => {
      const out = await this.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }), { abortSignal });
      return Buffer.from(await out.Body!.transformToByteArray());
    };
    const bytes = op ? await this.timed(op, key, read) : await read(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    if (bytes.length !== known.size || md5(bytes) !== known.md5) {
      throw mismatch(key, `GET returned ${bytes.length} bytes, MD5 ${md5(bytes)}; expected ${known.size} bytes, MD5 ${known.md5}`);
    }
  }

  /** The key must answer 404 (GET NoSuchKey, or HEAD NotFound); a 404 here is expected, not an error. */
  private async expectMissing(op: string | undefined, key: string, get: boolean): Promise<void> {
    const request = (abortSignal: AbortSignal) => get
      ? this.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }), { abortSignal }).then((out) => out.Body!.transformToByteArray())
      : this.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }), { abortSignal });
    const started = performance.now();
    try {
      await request(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    } catch (error) {
      const name = (error as Error).name;
      if (name === "NoSuchKey" || name === "NotFound") {
        if (op) this.latencies.record(op, performance.now() - started);
        return;
      }
      throw Object.assign(error as Error, { key });
    }
    throw mismatch(key, `${get ? "GET" : "HEAD"} of a key that must not exist answered 200`);
  }

  private async timed<T>(op: string, key: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await send(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
      this.latencies.record(op, performance.now() - started);
      return result;
    } catch (error) {
      throw Object.assign(error as Error, { key });
    }
  }

  private ownKey(): string | undefined {
    if (this.own.size === 0) return undefined;
    return [...this.own.keys()][this.int(this.own.size)];
  }

  private nextSeed(): number {
    return (this.id << 20) + this.n++;
  }

  /** xorshift: each worker's sequence is reproducible */
  private random(): number {
    let x = this.seed >>> 0 || 1;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.seed = x;
    return x / 0x1_0000_0000;
  }

  private int(below: number): number {
    return Math.floor(this.random() * below);
  }
}

function mismatch(key: string, detail: string): Mismatch {
  return Object.assign(new Mismatch(detail), { key });
}

function describe(error: unknown): string {
  if (error instanceof Mismatch) return `mismatch: ${error.message}`;
  const err = error as Error & { $metadata?: { httpStatusCode?: number; requestId?: string } };
  return `${err.name} (HTTP ${err.$metadata?.httpStatusCode ?? "-"}): ${err.message}`;
}

/** The mix, by weight (percent). */
const WEIGHTS: [string, number, Op][] = [
  ["GET hit", 22, (w) => w.getHit()],
  ["GET miss", 10, (w) => w.getMiss()],
  ["GET 404", 6, (w) => w.get404()],
  ["HEAD", 9, (w) => w.head()],
  ["PUT small", 14, (w) => w.putSmall()],
  ["PUT large", 0.8, (w) => w.putLarge()],
  ["multipart 12 MiB", 0.2, (w) => w.multipart()],
  ["DELETE own", 5, (w) => w.deleteOwn()],
  ["DELETE remote", 3, (w) => w.deleteRemote()],
  ["LIST", 7, (w) => w.list()],
  ["GET range", 11, (w) => w.rangedGet()],
  ["GET own write", 12, (w) => w.getOwn()],
];
