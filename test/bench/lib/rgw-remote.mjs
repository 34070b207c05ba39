// Ceph RGW (lib/rgw.mjs) as s3-overlay's remote: the settings that point
// s3-overlay at it, and how many bytes it has served.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** S3_OVERLAY_REMOTE_* settings for a remote at `endpoint` (default RGW itself; e.g. a counting proxy in front of it). */
export function remoteEnv(rgw, endpoint = rgw.endpoint) {
  return {
    S3_OVERLAY_REMOTE_ENDPOINT: endpoint,
    S3_OVERLAY_REMOTE_REGION: rgw.region,
    S3_OVERLAY_REMOTE_ADDRESSING_STYLE: "path",
    S3_OVERLAY_REMOTE_ACCESS_KEY_ID: rgw.accessKeyId,
    S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    S3_OVERLAY_REMOTE_BUCKETS: "*",
  };
}

/**
 * Body bytes RGW has answered GETs with since it started (its `get_b` perf
 * counter, read over the admin socket). Costs nothing on the data path, unlike
 * a proxy. RGW 16 counts a GET's requested range when it starts sending (an
 * aborted GET still counts in full), and one byte short (end - start of an
 * inclusive range): expect `requests` bytes less than the bodies' length.
 */
export async function rgwGetBytes(rgw) {
  const { stdout } = await run("ceph", ["--admin-daemon", join(rgw.dir, "run", "client.rgw.asok"), "perf", "dump", "rgw"]);
  const bytes = JSON.parse(stdout).rgw?.get_b;
  if (typeof bytes !== "number") throw new Error(`RGW perf dump has no rgw.get_b: ${stdout.slice(0, 200)}`);
  return bytes;
}
