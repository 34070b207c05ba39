// nginx (Debian's nginx-light) as a static file baseline: sendfile on, no access
// log, one worker (the machine has two cores, one of them is the load generator's),
// run in the foreground from a temp config so it stops with the bench.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";

const NGINX = "/usr/sbin/nginx";

/** True when nginx can be run here. */
export function hasNginx() {
  return spawnSync(NGINX, ["-v"]).status === 0;
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Serve `root` (a directory) with sendfile; resolves to { url, pid, stop() }. */
export async function startNginx({ root, workDir }) {
  const dir = join(workDir, "nginx");
  await mkdir(join(dir, "logs"), { recursive: true });
  const port = await freePort();
  const config = `
worker_processes 1;
daemon off;
master_process off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "logs", "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${join(dir, "body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`;
  const configPath = join(dir, "nginx.conf");
  await writeFile(configPath, config);
  const child = spawn(NGINX, ["-p", dir, "-c", configPath], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const exited = once(child, "exit");
  const url = `http://127.0.0.1:${port}`;
  // ready once it answers
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}`);
    try {
      await fetch(`${url}/`, { method: "HEAD" });
      break;
    } catch (error) {
      if (i > 100) throw new Error(`nginx did not answer: ${error.message} ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}
