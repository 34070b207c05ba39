// What warm, evict and status share: the store options of serve, and reaching
// the cache. A serve says where it listens in <dataDir>/serve.json; while it
// runs, commands on that data dir are sent to its admin API (same engine code;
// for the embedded store, which admits one process, no second writer).
// The engine, the store and the HTTP client are imported when first needed, so
// that `--help`, `--version` and a command's usage errors answer at once.
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import type { Dispatcher } from "undici";
import type { ServeConfig } from "../config.js";
import type { Engine } from "../engine/engine.js";
import type { AdminCommand, AdminRequests } from "../server/admin-requests.js";

/** The options of serve that say where the data and the remote are (the rest comes from S3_OVERLAY_* env). */
export function addStoreOptions(command: Command): Command {
  return command
    .option("--data-dir <dir>", "the store serve uses (env S3_OVERLAY_DATA_DIR, default ./.s3-overlay)")
    .option("--region <region>", "region of the local endpoint (env S3_OVERLAY_LOCAL_REGION, default us-east-1)")
    .option("--access-key <key>", "local access key, to reach a running serve (env S3_OVERLAY_LOCAL_ACCESS_KEY, default minioadmin)");
}

/** Where the cache is: opened here, or held by a running serve. */
export type CacheAccess = { engine: Engine } | { serverUrl: string };

interface ServeFile {
  url: string;
  pid: number;
}

function serveFilePath(dataDir: string): string {
  return path.join(dataDir, "serve.json");
}

/** serve: tell cache commands where to find this server (a wildcard address is reached on loopback). */
export function writeServeFile(dataDir: string, url: string): void {
  const reachable = url.replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//[::1]:");
  writeFileSync(serveFilePath(dataDir), `${JSON.stringify({ url: reachable, pid: process.pid } satisfies ServeFile)}\n`);
}

export function removeServeFile(dataDir: string): void {
  rmSync(serveFilePath(dataDir), { force: true });
}

function runningServer(dataDir: string): string | undefined {
  let file: ServeFile;
  try {
    file = JSON.parse(readFileSync(serveFilePath(dataDir), "utf8")) as ServeFile;
    process.kill(file.pid, 0);
  } catch {
    return undefined;
  }
  return file.url;
}

export async function openCache(config: ServeConfig): Promise<CacheAccess> {
  // An S3 tier admits any number of processes, but a serve on this data dir has
  // live counters: let it run the command, so status shows them.
  const tierServer = config.localTier ? runningServer(config.dataDir) : undefined;
  if (tierServer) return { serverUrl: tierServer };
  const [{ openStore }, { Engine }] = await Promise.all([import("../store/open.js"), import("../engine/engine.js")]);
  let store;
  try {
    store = await openStore(config);
  } catch (error) {
    if (!/in use by another s3-overlay process/.test((error as Error).message)) throw error;
    const serverUrl = runningServer(config.dataDir);
    if (!serverUrl) throw new Error(`${(error as Error).message}, and no running serve is recorded in ${serveFilePath(config.dataDir)}`);
    return { serverUrl };
  }
  return { engine: await Engine.create(store, { ...config, spoolDir: path.join(config.dataDir, "spool") }) };
}

/**
 * A cache command's summary: computed here on the opened store, or by the serve
 * that holds it (its admin API answers the same summary as JSON).
 */
export async function onCache<C extends AdminCommand, Summary>(
  config: ServeConfig,
  command: C,
  request: AdminRequests[C],
  here: (engine: Engine, request: AdminRequests[C]) => Promise<Summary>,
): Promise<Summary> {
  const access = await openCache(config);
  if ("serverUrl" in access) return (await (await adminRequest(access.serverUrl, config, command, request)).body.json()) as Summary;
  try {
    return await here(access.engine, request);
  } finally {
    await access.engine.close();
  }
}

/**
 * A POST of JSON to a serve's admin API, SigV4-signed (payload hash included)
 * with the local credentials. Throws with the server's message unless it answers 200.
 */
export async function adminRequest<C extends AdminCommand>(serverUrl: string, config: ServeConfig, command: C, payload: AdminRequests[C]): Promise<Dispatcher.ResponseData> {
  const [{ Agent, request }, { s3Signer }, { trustedCertificate }] = await Promise.all([import("undici"), import("../s3/signer.js"), import("../server/tls.js")]);
  const url = new URL(`/_s3-overlay/${command}`, serverUrl);
  const body = JSON.stringify(payload);
  const signer = s3Signer(config.credentials, config.region);
  const signed = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    query: {},
    headers: {
      host: url.host,
      "content-type": "application/json",
      "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"),
    },
    body,
  });
  let response;
  try {
    // evict and verify answer once done, which on a large store takes longer than undici's 300 s default;
    // a serve with --https presents the certificate recorded in its data dir (or the configured one)
    const ca = url.protocol === "https:" ? trustedCertificate(config) : undefined;
    const dispatcher = ca === undefined ? undefined : new Agent({ connect: { ca } });
    response = await request(url, { method: "POST", headers: signed.headers, body, bodyTimeout: 0, headersTimeout: 0, dispatcher });
  } catch (error) {
    throw new Error(`cannot reach the running serve at ${serverUrl}: ${(error as Error).message}`);
  }
  if (response.statusCode !== 200) {
    const text = await response.body.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message;
    } catch {
      // not our JSON: show what came back
    }
    throw new Error(`serve at ${serverUrl} answered ${response.statusCode}: ${message}`);
  }
  return response;
}
