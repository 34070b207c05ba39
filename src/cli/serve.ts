// `s3-overlay serve`: the S3 endpoint.
import path from "node:path";
import type { Command } from "commander";
import { checkExposure, loadServeConfig, type Flags, type RemoteSettings } from "../config.js";
import { configureLog, log } from "../log.js";
import { removeServeFile, writeServeFile } from "./store-options.js";

const EXAMPLE = `
Overlay a production bucket (clients read s3://data/..., filled from prod-data-2024):
  S3_OVERLAY_REMOTE_REGION=eu-central-1 \\
  S3_OVERLAY_REMOTE_ACCESS_KEY_ID=AKIA... S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY=... \\
  s3-overlay serve --bucket-mapping data:prod-data-2024

Every flag has an S3_OVERLAY_* variable (named in its help); flags win. Secrets are env only, or
flags that other users can see in ps.`;

export function addServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the S3 endpoint")
    .optionsGroup("Server:")
    .option("--host <host>", "address to listen on (env S3_OVERLAY_HOST, default 127.0.0.1)")
    .option("--port <port>", "port to listen on; 0 picks a free one (env S3_OVERLAY_PORT, default 8000)")
    .option("--domain <domain>", "enable virtual-host style: Host bucket.<domain> (env S3_OVERLAY_DOMAIN)")
    .option("--region <region>", "region clients sign for (env S3_OVERLAY_LOCAL_REGION, default us-east-1)")
    .option("--access-key <key>", "access key clients use (env S3_OVERLAY_LOCAL_ACCESS_KEY, default minioadmin; the secret is env S3_OVERLAY_LOCAL_SECRET_KEY)")
    .option("--allow-default-credentials", "with a remote, listen beyond loopback although clients sign with minioadmin (env S3_OVERLAY_ALLOW_DEFAULT_CREDENTIALS)")
    .option("--request-timeout <duration>", "drop a client that sends nothing for this long (env S3_OVERLAY_REQUEST_TIMEOUT, default 5m)")
    .option("--https", "serve HTTPS with a self-signed certificate kept in the data dir (env S3_OVERLAY_HTTPS)")
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (env S3_OVERLAY_TLS_CERT; with --tls-key)")
    .option("--tls-key <file>", "the PEM private key of --tls-cert (env S3_OVERLAY_TLS_KEY)")
    .option("--shutdown-grace <duration>", "how long SIGINT/SIGTERM waits for in-flight requests (env S3_OVERLAY_SHUTDOWN_GRACE, default 30s)")
    .option("--log-level <level>", "debug, info, warn or error (env S3_OVERLAY_LOG_LEVEL, default info)")
    .option("--log-format <format>", "text or json, one object a line (env S3_OVERLAY_LOG_FORMAT, default text)")
    .option("--access-log <level>", "the level of the line logged per request, or off (env S3_OVERLAY_ACCESS_LOG, default debug)")
    .option("--metrics <bool>", "serve GET /metrics (Prometheus text; env S3_OVERLAY_METRICS, default true; a bearer token: env S3_OVERLAY_METRICS_TOKEN)")
    .optionsGroup("Local store:")
    .option("--data-dir <dir>", "where the embedded store keeps its data (env S3_OVERLAY_DATA_DIR, default ./.s3-overlay)")
    .option("--local-endpoint <url>", "use an S3-compatible local tier (MinIO, Ceph RGW) instead of the embedded store (env S3_OVERLAY_LOCAL_ENDPOINT)")
    .option("--local-timeout <duration>", "how long the S3 local tier may be silent before a call fails (env S3_OVERLAY_LOCAL_TIMEOUT, default 30s)")
    .optionsGroup("Remote (read-only; enabled by any of these):")
    .option("--remote-endpoint <url>", "URL of the remote S3 API (env S3_OVERLAY_REMOTE_ENDPOINT, default AWS S3)")
    .option("--remote-region <region>", "region of the remote (env S3_OVERLAY_REMOTE_REGION, default us-east-1)")
    .option("--remote-addressing-style <style>", "virtual (bucket.host) or path (host/bucket) (env S3_OVERLAY_REMOTE_ADDRESSING_STYLE, default virtual)")
    .option("--remote-access-key-id <id>", "remote read credentials; unset: the AWS default chain (env S3_OVERLAY_REMOTE_ACCESS_KEY_ID)")
    .option("--remote-secret-access-key <secret>", "prefer the env S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: flags show in ps")
    .option("--remote-session-token <token>", "for temporary credentials (env S3_OVERLAY_REMOTE_SESSION_TOKEN)")
    .option("--bucket-mapping <pairs>", "local1:remote1,local2:remote2: the buckets that overlay the remote (env S3_OVERLAY_BUCKET_MAPPING)")
    .option("--remote-buckets <names>", "buckets that overlay the remote bucket of the same name, or * for all (env S3_OVERLAY_REMOTE_BUCKETS)")
    .option("--remote-timeout <duration>", "how long the remote may be silent before an attempt fails; 3 attempts (env S3_OVERLAY_REMOTE_TIMEOUT, default 30s)")
    .option("--lock <file>", "read locked keys only at the versions in this lockfile (warm --lock writes one); 412 when the remote lost one (env S3_OVERLAY_LOCK)")
    .option("--lock-strict", "with --lock, refuse keys the lockfile does not name (env S3_OVERLAY_LOCK_STRICT)")
    .option("--remote-as-of <time>", "read the remote as it was at this ISO 8601 time, e.g. 2024-05-01T12:00:00Z; needs a versioned remote bucket (env S3_OVERLAY_REMOTE_AS_OF)")
    .optionsGroup("Cache:")
    .option("--cache-enabled <bool>", "false: serve remote objects without keeping them (env S3_OVERLAY_CACHE_ENABLED, default true)")
    .option("--negative-ttl <duration>", "how long a remote 404 is remembered (env S3_OVERLAY_NEGATIVE_TTL, default 30s)")
    .option("--revalidate <duration>", "check cached objects older than this against the remote, or never (env S3_OVERLAY_REVALIDATE, default never)")
    .option("--chunk-threshold <size>", "remote objects larger than this are cached in chunks (env S3_OVERLAY_CHUNK_THRESHOLD, default 50MiB)")
    .option("--chunk-size <size>", "chunk size, 64KiB to 1GiB (env S3_OVERLAY_CHUNK_SIZE, default 16MiB)")
    .option("--max-inflight-chunks <n>", "chunks a sequential reader fetches ahead in parallel (env S3_OVERLAY_MAX_INFLIGHT_CHUNKS, default 4)")
    .option("--max-cache-size <size>", "evict mirrored data least recently used first above this size, never client writes (env S3_OVERLAY_MAX_CACHE_SIZE)")
    .addHelpText("after", EXAMPLE)
    .action(async (options: Flags) => serve(options));
}

async function serve(flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  checkExposure(config);
  configureLog({ level: config.logLevel, format: config.logFormat });
  // the server stack is loaded only for serve, once the settings are known to be good
  const [{ Engine }, { openStore }, { createNodeHandler }, { listenStrict, PortInUseError }, { limitCacheSize }, tls] = await Promise.all([
    import("../engine/engine.js"), import("../store/open.js"), import("../server/app.js"), import("../server/listen.js"), import("../engine/evict.js"),
    import("../server/tls.js"),
  ]);
  const store = await openStore(config);
  const engine = await Engine.create(store, { ...config, spoolDir: path.join(config.dataDir, "spool") });
  let listening;
  try {
    listening = await listenStrict(createNodeHandler(engine, config), config.host, config.port, tls.listenTls(config));
  } catch (error) {
    await engine.close();
    if (error instanceof PortInUseError) {
      process.stderr.write(`s3-overlay: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  listening.server.requestTimeout = 0; // long uploads are fine; idle clients are cut by timeout below
  listening.server.headersTimeout = 60_000;
  listening.server.timeout = config.requestTimeoutMs;
  const mode = config.remote ? `overlay on ${describeRemote(config.remote)}${config.cacheEnabled ? "" : ", pass-through: nothing cached"}` : "local only";
  const tier = config.localTier ? `local tier ${config.localTier.endpoint}` : `data dir ${config.dataDir}`;
  if (listening.generatedTls) tls.keepSelfSigned(config.dataDir, listening.generatedTls);
  if (config.tls === "self-signed") log.info(`HTTPS with a self-signed certificate: clients trust ${tls.selfSignedCertPath(config.dataDir)} (e.g. AWS_CA_BUNDLE)`);
  // warm, evict and status find this server here while it holds the store
  writeServeFile(config.dataDir, listening.url);
  const stopCacheLimit = config.maxCacheSize === undefined ? undefined : limitCacheSize(engine, config.maxCacheSize);
  log.info(`s3-overlay listening on ${listening.url} (${mode}; ${tier}; region ${config.region})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: finishing in-flight requests (up to ${config.shutdownGraceMs} ms)`);
    await listening.shutdown(config.shutdownGraceMs);
    await stopCacheLimit?.();
    removeServeFile(config.dataDir);
    await engine.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

/** The start-up line's view of the remote: where, which region, which buckets; never credentials. */
function describeRemote(remote: RemoteSettings): string {
  const buckets = [
    ...Object.entries(remote.bucketMapping).map(([local, target]) => `${local}->${target}`),
    ...remote.remoteBuckets,
  ];
  return `${remote.endpoint ?? "AWS S3"} (region ${remote.region}, ${remote.addressingStyle} style; buckets ${buckets.join(", ")})`;
}
