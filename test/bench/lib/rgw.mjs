// Ceph RGW for benchmarks (plain JS: run.mjs cannot import test/servers/rgw.ts).
// Drives the same scripts, test/servers/rgw-up.sh and rgw-down.sh.
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const SERVERS = fileURLToPath(new URL("../../servers/", import.meta.url));

/**
 * Start a throwaway RGW (see rgw-up.sh). Returns { endpoint, accessKeyId,
 * secretAccessKey, region, dir, pids(), stop() }; pids() are the mon, osd and
 * radosgw process ids, e.g. for RSS sampling. The cluster also goes away on its
 * own when this process exits (rgw-up.sh's watchdog).
 */
export async function startRgw({ accessKeyId = "test", secretAccessKey = "testsecret", port = 0 } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "s3o-bench-rgw-"));
  const env = { ...process.env, RGW_DIR: dir, RGW_PORT: String(port), RGW_ACCESS_KEY: accessKeyId, RGW_SECRET_KEY: secretAccessKey, RGW_OWNER_PID: String(process.pid) };
  const { stdout } = await run("bash", [join(SERVERS, "rgw-up.sh")], { env });
  const endpoint = /^endpoint=(\S+)$/m.exec(stdout)?.[1];
  if (!endpoint) throw new Error(`rgw-up.sh printed no endpoint: ${stdout}`);
  const pid = async (name) => Number(await readFile(join(dir, "pids", `${name}.pid`), "utf8"));
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region: "us-east-1",
    dir,
    pids: async () => ({ mon: await pid("mon"), osd: await pid("osd"), rgw: await pid("rgw") }),
    stop: () => run("bash", [join(SERVERS, "rgw-down.sh")], { env: { ...process.env, RGW_DIR: dir } }).then(() => {}),
  };
}
