// `s3-overlay serve`: the S3 endpoint.
import path from "node:path";
import type { Command } from "commander";
import { loadServeConfig, type Flags } from "../config.js";
import { log } from "../log.js";
import { removeServeFile, writeServeFile } from "./store-options.js";

export function addServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the S3 endpoint")
    .option("--host <host>", "address to listen on (env S3_OVERLAY_HOST)", undefined)
    .option("--port <port>", "port to listen on; 0 picks a free one (env S3_OVERLAY_PORT, default 8000)")
    .option("--data-dir <dir>", "where the embedded store keeps its data (env S3_OVERLAY_DATA_DIR, default ./.s3-overlay)")
    .option("--local-endpoint <url>", "use an S3-compatible local tier (MinIO, Ceph RGW) instead of the embedded store (env S3_OVERLAY_LOCAL_ENDPOINT)")
    .option("--domain <domain>", "enable virtual-host style: Host bucket.<domain> (env S3_OVERLAY_DOMAIN)")
    .option("--region <region>", "region clients sign for (env S3_OVERLAY_LOCAL_REGION, default us-east-1)")
    .option("--access-key <key>", "access key clients use (env S3_OVERLAY_LOCAL_ACCESS_KEY, default minioadmin)")
    .option("--request-timeout <duration>", "drop a client that sends nothing for this long (env S3_OVERLAY_REQUEST_TIMEOUT, default 5m)")
    .option("--max-cache-size <size>", "evict mirrored data least recently used first above this size, never client writes (env S3_OVERLAY_MAX_CACHE_SIZE)")
    .option("--shutdown-grace <duration>", "how long SIGINT/SIGTERM waits for in-flight requests (env S3_OVERLAY_SHUTDOWN_GRACE, default 30s)")
    .action(async (options: Flags) => serve(options));
}

async function serve(flags: Flags): Promise<void> {
  const config = loadServeConfig(flags);
  // the server stack is loaded only for serve, once the settings are known to be good
  const [{ Engine }, { openStore }, { createNodeHandler }, { listenStrict, PortInUseError }, { limitCacheSize }] = await Promise.all([
    import("../engine/engine.js"), import("../store/open.js"), import("../server/app.js"), import("../server/listen.js"), import("../engine/evict.js"),
  ]);
  const store = await openStore(config);
  const engine = await Engine.create(store, { ...config, spoolDir: path.join(config.dataDir, "spool") });
  let listening;
  try {
    listening = await listenStrict(createNodeHandler(engine, config), config.host, config.port);
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
  const mode = config.remote
    ? `overlay on ${config.remote.endpoint ?? `AWS S3 ${config.remote.region}`}${config.cacheEnabled ? "" : " (pass-through, nothing cached)"}`
    : "local only";
  const tier = config.localTier ? `local tier ${config.localTier.endpoint}` : `data dir ${config.dataDir}`;
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
