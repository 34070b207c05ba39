// HTTP clients for benchmarks, on undici (the fastest Node HTTP client).
// Bodies are streamed and discarded, never buffered.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";

const MiB = 1 << 20;

async function failUnlessOk(what, res) {
  if (res.statusCode >= 200 && res.statusCode < 300) return;
  const text = await res.body.text().catch(() => "");
  throw new Error(`${what}: HTTP ${res.statusCode} ${text.slice(0, 500)}`);
}

/**
 * GET url, streaming the body away. Returns { bytes, seconds, ttfbMs }
 * (ttfbMs: until the response headers arrived). Throws on a non-2xx status.
 */
export async function timeGet(url, { headers, dispatcher } = {}) {
  const t0 = performance.now();
  const res = await request(url, { headers, dispatcher });
  const ttfbMs = performance.now() - t0;
  await failUnlessOk(`GET ${url}`, res);
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.length;
  return { bytes, seconds: (performance.now() - t0) / 1000, ttfbMs };
}

/**
 * PUT the file at filePath to url (streamed, explicit Content-Length).
 * headers: extra request headers (e.g. SigV4 ones). Returns { bytes, seconds }.
 */
export async function timePut(url, filePath, headers = {}) {
  const { size } = await stat(filePath);
  const t0 = performance.now();
  const res = await request(url, {
    method: "PUT",
    headers: { "content-length": String(size), ...headers },
    body: createReadStream(filePath, { highWaterMark: MiB }),
  });
  await failUnlessOk(`PUT ${url}`, res);
  await res.body.dump();
  return { bytes: size, seconds: (performance.now() - t0) / 1000 };
}

function percentile(sortedMs, p) {
  if (sortedMs.length === 0) return NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1)];
}

/**
 * Many small GETs over a pool of `connections` keep-alive connections.
 *   url(i) or urls (used round-robin): what request i fetches
 *   headers(i): optional per-request headers (e.g. SigV4, which differs per request)
 *   count and/or durationSec: stop after whichever comes first (default 10 s)
 * Returns { requests, seconds, rps, p50Ms, p99Ms }. Throws if any request failed.
 */
export async function loadSmallGets({ url, urls, connections = 32, durationSec, count, headers }) {
  const urlFor = url ?? ((i) => urls[i % urls.length]);
  const seconds = durationSec ?? (count === undefined ? 10 : 600);
  const limit = count ?? Infinity;
  const agent = new Agent({ connections, pipelining: 1 });
  const latencies = [];
  let next = 0;
  let firstError;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;

  const worker = async () => {
    while (next < limit && performance.now() < deadline && !firstError) {
      const i = next++;
      const start = performance.now();
      try {
        const res = await request(urlFor(i), { dispatcher: agent, headers: headers?.(i) });
        await failUnlessOk(`GET #${i}`, res);
        for await (const _chunk of res.body); // read to the end so the connection is reused
        latencies.push(performance.now() - start);
      } catch (err) {
        firstError ??= err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    await agent.close();
  }
  if (firstError) throw firstError;
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds: elapsed,
    rps: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}
