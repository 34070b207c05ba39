// The servers a benchmark compares, each started as its own process so its
// RSS can be sampled and its CPU is not shared with the load generator.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BIN = `${ROOT}bin/s3-overlay.js`;
const RAW_SERVER = fileURLToPath(new URL("raw-server.mjs", import.meta.url));
const THROTTLE_PROXY = fileURLToPath(new URL("throttle-proxy.mjs", import.meta.url));
const running = new Set();

/** The credentials `s3-overlay serve` accepts by default. */
export const LOCAL_CREDENTIALS = { accessKeyId: "minioadmin", secretAccessKey: "minioadmin" };

/** process.env without S3_OVERLAY_* and AWS_* settings of the developer's shell. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("S3_OVERLAY_") && !name.startsWith("AWS_")));
}

/**
 * Spawn a node process and wait until `ready` matches a line of its output
 * (stdout or stderr). Resolves to { match, pid, output(), stop() }.
 */
async function spawnUntil(args, ready, env, timeoutMs = 30_000) {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = once(child, "exit");
  let found;
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(" ")}: not ready in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk) => {
      // once ready, keep only the tail: a serve logging every request must not grow the bench's memory
      output = found === undefined ? output + chunk : (output + chunk).slice(-65536);
      if (found !== undefined) return;
      found = ready.exec(output) ?? undefined;
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")}: exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  }).catch((error) => {
    child.kill("SIGKILL");
    throw error;
  });
  running.add(child);
  exited.then(() => running.delete(child));
  return {
    match,
    pid: child.pid,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Start the built `s3-overlay serve` on a free port with the given data dir;
 * env adds S3_OVERLAY_* settings (e.g. a remote). Resolves to
 * { endpoint, pid, output(), stop() }.
 */
export async function startS3Overlay({ dataDir, env = {}, args = [] }) {
  const server = await spawnUntil([BIN, "serve", "--port", "0", "--data-dir", dataDir, ...args], /listening on (http:\/\/[^\s:]+:\d+)/, { ...cleanEnv(), ...env });
  return { endpoint: server.match[1], pid: server.pid, output: server.output, stop: server.stop };
}

/**
 * Start lib/raw-server.mjs serving filePath (PUTs go to filePath + ".put").
 * Resolves to { url, pid, stop() }.
 */
export async function startRawServerProcess(filePath) {
  const server = await spawnUntil([RAW_SERVER, filePath], /^port=(\d+)$/m, process.env);
  return { url: `http://127.0.0.1:${server.match[1]}/`, pid: server.pid, stop: server.stop };
}

/**
 * Start lib/throttle-proxy.mjs in front of targetUrl's host and port, each
 * connection limited to bytesPerSec toward the client. Resolves to { url, pid, stop() }.
 */
export async function startThrottledProxyProcess(targetUrl, bytesPerSec) {
  const { hostname, port } = new URL(targetUrl);
  const proxy = await spawnUntil([THROTTLE_PROXY, hostname, port, String(bytesPerSec)], /^port=(\d+)$/m, process.env);
  return { url: `http://127.0.0.1:${proxy.match[1]}`, pid: proxy.pid, stop: proxy.stop };
}

/** SIGKILL every server this module started that is still running (for an interrupted run). */
export function killAllStarted() {
  for (const child of running) child.kill("SIGKILL");
}
