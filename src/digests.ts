// MD5 on a worker thread, so the thread that moves the bytes does not also
// hash them: MD5 of a byte stream (the ETag of an upload, the check of a fill)
// runs at ~600 MB/s and was ~40% of a large PUT's CPU. Bytes reach the worker
// through slots of one SharedArrayBuffer: a copy into a slot and a small
// message, no buffer changes hands (transferring 1 MiB ArrayBuffers back and
// forth cost more CPU, measured). Jobs wait in one FIFO queue for a free slot,
// which keeps each hash's updates in order and bounds the memory. Inputs under
// OFFLOAD_FROM are hashed inline: a message round trip would cost more than
// the hash.
import { createHash, type Hash } from "node:crypto";
import { Worker } from "node:worker_threads";

export interface Md5 {
  update(data: Buffer): void;
  /** a promise while this hash has too many bytes queued: wait for it before the next update */
  ready(): Promise<void> | undefined;
  digest(): Promise<Buffer>;
  /** stop hashing and free what the hash holds (a failed or abandoned body) */
  cancel(): void;
}

export const OFFLOAD_FROM = 8 * 1024 * 1024;
const SLOT_SIZE = 1 << 20;
const SLOTS = 8;
/** slot-sized pieces one hash may have queued or in the worker before ready() makes its writer wait */
const QUEUED_PER_HASH = 4;

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

// One hash per session id, updated in message order; slots are views of the shared buffer.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { shared, slotSize } = workerData;
const view = (slot, length) => new Uint8Array(shared, slot * slotSize, length);
const hashes = new Map();
parentPort.on("message", ({ op, job, session, slot, length }) => {
  if (op === "update") {
    let hash = hashes.get(session);
    if (!hash) hashes.set(session, (hash = createHash("md5")));
    hash.update(view(slot, length));
    parentPort.postMessage({ op, job, slot });
  } else if (op === "digest") {
    const digest = (hashes.get(session) ?? createHash("md5")).digest();
    hashes.delete(session);
    parentPort.postMessage({ op, job, digest });
  } else if (op === "cancel") {
    hashes.delete(session);
  }
});
`;

/** `id` is the job's own; the hash it belongs to is `session.id`. */
type Job =
  | { kind: "update"; id: number; data: Buffer; session: WorkerMd5 }
  | { kind: "digest"; id: number; session: WorkerMd5 };
type Reply =
  | { op: "update"; job: number; slot: number }
  | { op: "digest"; job: number; digest: Uint8Array };

let shared: SharedArrayBuffer | undefined;
let worker: Worker | undefined;
let nextId = 1;
const freeSlots: number[] = [];
/** buffers MD5 sessions fill before their bytes go to a slot, reused */
const staging: Buffer[] = [];
const queue: Job[] = [];
/** jobs in the worker, by id: what its reply settles */
const inWorker = new Map<number, Job>();

function digestWorker(): Worker {
  if (worker) return worker;
  if (!shared) {
    shared = new SharedArrayBuffer(SLOTS * SLOT_SIZE);
    for (let slot = 0; slot < SLOTS; slot++) freeSlots.push(slot);
  }
  const started = new Worker(WORKER_SOURCE, { eval: true, workerData: { shared, slotSize: SLOT_SIZE } });
  started.unref(); // only work in progress keeps the process alive (see busy())
  started.on("message", (reply: Reply) => settle(reply));
  started.on("error", (error) => failAll(error));
  started.on("exit", () => failAll(new Error("the digest worker thread exited")));
  worker = started;
  return started;
}

function busy(): void {
  if (queue.length + inWorker.size > 0) worker?.ref();
  else worker?.unref();
}

function enqueue(job: Job): void {
  digestWorker();
  queue.push(job);
  pump();
}

/** Posts queued jobs in order while slots are free (a digest needs none). */
function pump(): void {
  while (queue.length > 0 && worker) {
    const job = queue[0]!;
    if (job.kind === "digest") {
      worker.postMessage({ op: "digest", job: job.id, session: job.session.id });
    } else {
      const slot = freeSlots.pop();
      if (slot === undefined) break;
      new Uint8Array(shared!, slot * SLOT_SIZE, job.data.length).set(job.data);
      worker.postMessage({ op: "update", job: job.id, session: job.session.id, slot, length: job.data.length });
      if (staging.length < SLOTS) staging.push(Buffer.from(job.data.buffer, job.data.byteOffset, SLOT_SIZE));
    }
    queue.shift();
    inWorker.set(job.id, job);
  }
  busy();
}

function settle(reply: Reply): void {
  const job = inWorker.get(reply.job);
  inWorker.delete(reply.job);
  if (reply.op === "update") freeSlots.push(reply.slot);
  if (job?.kind === "update") job.session.updated();
  else if (job?.kind === "digest" && reply.op === "digest") job.session.digested(Buffer.from(reply.digest));
  pump();
}

function failAll(error: Error): void {
  worker = undefined;
  const jobs = [...inWorker.values(), ...queue.splice(0)];
  inWorker.clear();
  // the slots of jobs that were in the dead worker are free again
  freeSlots.length = 0;
  for (let slot = 0; slot < SLOTS; slot++) freeSlots.push(slot);
  for (const job of jobs) job.session.fail(error);
}

class WorkerMd5 implements Md5 {
  readonly id = nextId++;
  private current: Buffer | undefined;
  private filled = 0;
  /** pieces queued or in the worker */
  private outstanding = 0;
  private wake: (() => void) | undefined;
  private result: { resolve(digest: Buffer): void; reject(error: Error): void } | undefined;
  private failure: Error | undefined;
  private cancelled = false;

  update(data: Buffer): void {
    if (this.failure) throw this.failure;
    for (let offset = 0; offset < data.length;) {
      this.current ??= staging.pop() ?? Buffer.allocUnsafeSlow(SLOT_SIZE);
      const take = Math.min(data.length - offset, SLOT_SIZE - this.filled);
      data.copy(this.current, this.filled, offset, offset + take);
      this.filled += take;
      offset += take;
      if (this.filled === SLOT_SIZE) this.flush();
    }
  }

  ready(): Promise<void> | undefined {
    if (this.outstanding < QUEUED_PER_HASH || this.failure || this.cancelled) return undefined;
    return new Promise((resolve) => (this.wake = resolve));
  }

  digest(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.filled > 0) this.flush();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      enqueue({ kind: "digest", id: nextId++, session: this });
    });
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (let index = queue.length - 1; index >= 0; index--) {
      const job = queue[index]!;
      if (job.session === this) queue.splice(index, 1);
    }
    // the worker holds this hash once any piece reached it, even if none is in flight now
    worker?.postMessage({ op: "cancel", session: this.id });
    busy();
    this.wakeWriter();
  }

  updated(): void {
    this.outstanding--;
    this.wakeWriter();
  }

  digested(digest: Buffer): void {
    this.result?.resolve(digest);
  }

  fail(error: Error): void {
    this.failure = error;
    this.result?.reject(error);
    this.wakeWriter();
  }

  /** Queues the filled buffer; the next update starts a new one (the queued one is copied to a slot later). */
  private flush(): void {
    enqueue({ kind: "update", id: nextId++, data: this.current!.subarray(0, this.filled), session: this });
    this.current = undefined;
    this.filled = 0;
    this.outstanding++;
  }

  private wakeWriter(): void {
    const resume = this.wake;
    this.wake = undefined;
    resume?.();
  }
}
