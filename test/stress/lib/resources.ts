// What the serve process holds: RSS and open fds from /proc, memory as the
// process sees it (admin status, after a full GC), and optional heap snapshots.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { request } from "undici";
import { s3Signer } from "../../../src/s3/signer.js";
import { ACCESS_KEY, SECRET_KEY } from "../../e2e/harness.js";
import type { MemoryFigures } from "../../../src/engine/status.js";

export interface ProcSample {
  /** ms since the sampler started */
  at: number;
  rss: number;
  fds: number;
}

export function procSample(pid: number, at = 0): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  return { at, rss: kb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Samples every `everyMs` until stop(); keeps the samples for the report. */
export function sampler(pid: number, everyMs: number): { samples: ProcSample[]; stop(): ProcSample[] } {
  const started = Date.now();
  const samples: ProcSample[] = [procSample(pid, 0)];
  const timer = setInterval(() => samples.push(procSample(pid, Date.now() - started)), everyMs);
  return { samples, stop: () => (clearInterval(timer), samples) };
}

/** What the admin status says of serve's memory (the same figures as the product's type). */
export type ServeMemory = MemoryFigures;

/** The serve's own memory figures (POST /_s3-overlay/status), after a full GC when it runs with --expose-gc. */
export async function serveMemory(endpoint: string): Promise<ServeMemory> {
  const url = new URL("/_s3-overlay/status", endpoint);
  const body = JSON.stringify({ gc: true });
  const signed = await s3Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, "us-east-1").sign({
    method: "POST", protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {},
    headers: { host: url.host, "content-type": "application/json", "x-amz-content-sha256": createHash("sha256").update(body).digest("hex") },
    body,
  });
  const response = await request(url, { method: "POST", headers: signed.headers, body });
  const status = (await response.body.json()) as { server?: { memory?: ServeMemory } };
  if (response.statusCode !== 200 || !status.server?.memory) throw new Error(`admin status answered ${response.statusCode}: ${JSON.stringify(status)}`);
  return status.server.memory;
}

/** Polls `check` every 500 ms until it is true or `timeoutMs` passed; returns how long it took (or undefined). */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) return undefined;
    await sleep(500);
  }
  return Date.now() - started;
}

/**
 * A heap snapshot of a serve started with --heapsnapshot-signal=SIGUSR2
 * --diagnostic-dir=<dir>: signals it and waits until the new file stops growing.
 */
export async function heapSnapshot(pid: number, dir: string, timeoutMs = 120_000): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, "SIGUSR2");
  const started = Date.now();
  let last = -1;
  while (Date.now() - started < timeoutMs) {
    await sleep(1000);
    const fresh = readdirSync(dir).find((name) => name.endsWith(".heapsnapshot") && !before.has(name));
    if (!fresh) continue;
    const size = statSync(`${dir}/${fresh}`).size;
    // V8 writes the snapshot in one go on the main thread: two equal sizes a second apart mean done
    if (size > 0 && size === last) return `${dir}/${fresh}`;
    last = size;
  }
  throw new Error(`no heap snapshot in ${dir} after ${timeoutMs} ms`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
