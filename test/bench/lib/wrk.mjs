// wrk as the load generator for small requests: one C thread drives the
// connections, so the server under test gets the most of the other core
// (the node-based loadSmallGets costs as much CPU as a fast server).
import { execFile, spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** True when wrk can be run here (Debian package wrk). */
export function hasWrk() {
  return spawnSync("wrk", ["-v"]).error === undefined;
}

// Each connection takes the next path of the list (path and query, presigned or plain);
// a response other than 200 counts as an error.
const SCRIPT = `
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local next = 0
request = function()
  next = next % #paths + 1
  return wrk.format("GET", paths[next])
end
local bad = 0
response = function(status) if status ~= 200 then bad = bad + 1 end end
done = function(summary) io.write(string.format("non200=%d\\n", bad)) end
`;

/**
 * GETs of `paths` (relative to origin) at `connections` for durationSec, one wrk
 * thread. Resolves to { rps, p50Ms, p99Ms, errors }.
 */
export async function wrkGets({ origin, paths, connections, durationSec, workDir, name }) {
  const pathsFile = join(workDir, `${name}.paths`);
  const scriptFile = join(workDir, "cycle.lua");
  await writeFile(pathsFile, `${paths.join("\n")}\n`);
  await writeFile(scriptFile, SCRIPT);
  const { stdout } = await run("wrk", ["-t1", `-c${connections}`, `-d${durationSec}s`, "--latency", "-s", scriptFile, `${origin}/`], {
    env: { ...process.env, WRK_PATHS: pathsFile },
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  if (!Number.isFinite(rps)) throw new Error(`wrk said:\n${stdout}`);
  const latency = (p) => toMs(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(stdout));
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = Number(/non200=(\d+)/.exec(stdout)?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0);
  return { rps, p50Ms: latency(50), p99Ms: latency(99), errors };
}

function toMs(match) {
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
}
