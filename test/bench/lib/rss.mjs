// Peak resident memory of another process, from /proc/<pid>/status (Linux).
import { readFileSync } from "node:fs";

function rssMb(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined; // the process is gone
  }
}

/**
 * Sample the RSS of `pid` every intervalMs until stop().
 * stop() returns { maxRssMb, samples } where samples are the readings in MiB.
 */
export function sampleRss(pid, intervalMs = 100) {
  const samples = [];
  const take = () => {
    const mb = rssMb(pid);
    if (mb !== undefined) samples.push(mb);
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      return { maxRssMb: samples.length ? Math.max(...samples) : NaN, samples };
    },
  };
}
