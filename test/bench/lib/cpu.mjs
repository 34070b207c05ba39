// CPU time another process has used, from /proc/<pid>/stat (Linux): user + system.
import { readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux the project runs on

export function cpuSeconds(pid) {
  // the command name is in parentheses and may hold spaces: count fields after it
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}
