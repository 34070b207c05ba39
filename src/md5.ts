// MD5 of a byte stream (the ETag of an upload, the check of a fill). MD5 runs
// at ~600 MB/s and was ~40% of a large PUT's CPU on the thread that also moves
// the bytes, so inputs of OFFLOAD_FROM bytes or more are hashed on a worker
// thread: the bytes are copied into pooled 1 MiB buffers that are transferred
// (not cloned) to the worker and handed back once hashed. Small inputs are
// hashed inline: a message round trip would cost more than the hash.
import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";

export interface Md5 {
  update(data: Buffer): void;
  /** a promise while this hash has too many buffers queued: wait for it before the next update */
  ready(): Promise<void> | undefined;
  digest(): Promise<Buffer>;
  /** stop hashing and free what the hash holds (a failed or abandoned body) */
  cancel(): void;
}

export const OFFLOAD_FROM = 8 * 1024 * 1024;
const BUFFER_SIZE = 1 << 20;
/** buffers one hash may have queued on the worker before ready() makes its writer wait */
const QUEUED_PER_HASH = 4;
/** free buffers kept for later hashes */
const POOL_LIMIT = 16;

/** expectedBytes: how many bytes will be hashed, if known (decides where the hash runs) */
export function md5(expectedBytes: number | undefined): Md5 {
  return expectedBytes !== undefined && expectedBytes >= OFFLOAD_FROM ? new WorkerMd5() : new InlineMd5();
}

class InlineMd5 implements Md5 {
  private readonly hash: Hash = createHash("md5");
  update(data: Buffer): void {
    this.hash.update(data);
  }
  ready(): undefined {
    return undefined;
  }
  digest(): Promise<Buffer> {
    return Promise.resolve(this.hash.digest());
  }
  cancel(): void {}
}

// The worker keeps one hash per session id, updated in message order.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", (message) => {
  const { id, op } = message;
  if (op === "update") {
    let hash = hashes.get(id);
    if (!hash) hashes.set(id, (hash = createHash("md5")));
    hash.update(new Uint8Array(message.buffer, 0, message.length));
    parentPort.postMessage({ id, op: "returned", buffer: message.buffer }, [message.buffer]);
  } else if (op === "digest") {
    const digest = (hashes.get(id) ?? createHash("md5")).digest();
    hashes.delete(id);
    parentPort.postMessage({ id, op: "digest", digest });
  } else if (op === "cancel") {
    hashes.delete(id);
  }
});
`;

type Reply = { id: number; op: "returned"; buffer: ArrayBuffer } | { id: number; op: "digest"; digest: Uint8Array };

let worker: Worker | undefined;
let nextId = 1;
const sessions = new Map<number, WorkerMd5>();
const pool: ArrayBuffer[] = [];

function hashWorker(): Worker {
  if (worker) return worker;
  const started = new Worker(WORKER_SOURCE, { eval: true });
  started.unref(); // only a hash in progress keeps the process alive (see track/untrack)
  started.on("message", (reply: Reply) => {
    const session = sessions.get(reply.id);
    if (session) session.receive(reply);
    else if (reply.op === "returned") giveBack(reply.buffer); // of a cancelled hash
  });
  started.on("error", (error) => failAll(error));
  started.on("exit", () => failAll(new Error("the MD5 worker thread exited")));
  worker = started;
  return started;
}

function track(session: WorkerMd5, id: number): void {
  sessions.set(id, session);
  if (sessions.size === 1) worker?.ref();
}

function untrack(id: number): boolean {
  if (!sessions.delete(id)) return false;
  if (sessions.size === 0) worker?.unref();
  return true;
}

function failAll(error: Error): void {
  worker = undefined;
  for (const session of [...sessions.values()]) session.fail(error);
}

function takeBuffer(): ArrayBuffer {
  return pool.pop() ?? new ArrayBuffer(BUFFER_SIZE);
}

function giveBack(buffer: ArrayBuffer): void {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
}

class WorkerMd5 implements Md5 {
  private readonly id = nextId++;
  /** set with the first buffer sent: a hash that was never fed holds no worker */
  private worker: Worker | undefined;
  private current: ArrayBuffer | undefined;
  private filled = 0;
  private queued = 0;
  private wake: (() => void) | undefined;
  private result: { resolve(digest: Buffer): void; reject(error: Error): void } | undefined;
  private failure: Error | undefined;

  update(data: Buffer): void {
    if (this.failure) throw this.failure;
    for (let offset = 0; offset < data.length;) {
      this.current ??= takeBuffer();
      const take = Math.min(data.length - offset, BUFFER_SIZE - this.filled);
      new Uint8Array(this.current, this.filled, take).set(data.subarray(offset, offset + take));
      this.filled += take;
      offset += take;
      if (this.filled === BUFFER_SIZE) this.send();
    }
  }

  ready(): Promise<void> | undefined {
    if (this.queued < QUEUED_PER_HASH || this.failure) return undefined;
    return new Promise((resolve) => (this.wake = resolve));
  }

  digest(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.worker) {
      // under one buffer in all: not worth a message
      const digest = createHash("md5").update(new Uint8Array(this.current ?? new ArrayBuffer(0), 0, this.filled)).digest();
      this.cancel();
      return Promise.resolve(digest);
    }
    if (this.filled > 0) this.send();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.worker!.postMessage({ id: this.id, op: "digest" });
    });
  }

  cancel(): void {
    if (untrack(this.id)) this.worker?.postMessage({ id: this.id, op: "cancel" });
    if (this.current) giveBack(this.current);
    this.current = undefined;
    this.wakeWriter();
  }

  receive(reply: Reply): void {
    if (reply.op === "returned") {
      giveBack(reply.buffer);
      this.queued--;
      this.wakeWriter();
    } else {
      untrack(this.id);
      this.result?.resolve(Buffer.from(reply.digest));
    }
  }

  fail(error: Error): void {
    this.failure = error;
    untrack(this.id);
    this.result?.reject(error);
    this.wakeWriter();
  }

  private send(): void {
    if (!this.worker) {
      this.worker = hashWorker();
      track(this, this.id);
    }
    const buffer = this.current!;
    this.worker.postMessage({ id: this.id, op: "update", buffer, length: this.filled }, [buffer]);
    this.current = undefined;
    this.filled = 0;
    this.queued++;
  }

  private wakeWriter(): void {
    const resume = this.wake;
    this.wake = undefined;
    resume?.();
  }
}
