// Choosing the local tier from the config: the embedded store in the data dir,
// or an S3-compatible endpoint (MinIO, Ceph RGW, any S3).
import { chmod, mkdir } from "node:fs/promises";
import path from "node:path";
import type { ServeConfig } from "../config.js";
import { log } from "../log.js";
import { openFsStore } from "./fs/index.js";
import type { Store } from "./types.js";

const RETRY_MS = 5000;

/**
 * Opens the configured store. An unreachable S3 tier is not fatal: serve starts,
 * says so, answers 503 until the tier answers, and keeps trying to prepare it.
 */
export async function openStore(config: ServeConfig): Promise<Store> {
  await makePrivate(config.dataDir);
  const tier = config.localTier;
  if (!tier) return openFsStore(config.dataDir);
  // the S3 tier loads the AWS SDK (~300 ms of imports here): only when one is configured
  const { openS3Store, S3Store } = await import("./s3/index.js");
  const options = {
    endpoint: tier.endpoint,
    region: config.region,
    credentials: { ...config.credentials, sessionToken: tier.sessionToken },
    cacheBucket: tier.cacheBucket,
    defaultBucketLocation: tier.defaultBucketLocation,
    stagingDir: path.join(config.dataDir, "staging"),
    timeoutMs: tier.timeoutMs,
  };
  try {
    return await openS3Store(options);
  } catch (error) {
    log.warn(`${(error as Error).message}; requests answer 503 until it does (retrying every ${RETRY_MS / 1000} s)`);
    const store = new S3Store(options);
    const retry = setInterval(() => {
      store.prepare().then(() => {
        clearInterval(retry);
        log.info(`the S3 local tier at ${tier.endpoint} answers now`);
      }, () => undefined);
    }, RETRY_MS);
    retry.unref();
    return store;
  }
}

/**
 * The data dir holds cached production data and client writes: only its owner
 * may enter it (files inside are created 0600 under the CLI's umask, and a data
 * dir from an older version that was world-readable is closed on open).
 */
async function makePrivate(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
}
