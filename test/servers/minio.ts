// MinIO in a container via testcontainers, for machines that have a Docker or
// Podman engine. The check for an engine is cheap and runs first, so suites can
// skip quickly where there is none.
import { existsSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";

export const MINIO_IMAGE = process.env.MINIO_IMAGE ?? "minio/minio:RELEASE.2025-09-07T16-13-09Z";

export interface MinioServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  stop(): Promise<void>;
}

type RuntimeCheck = { ok: true; dockerHost: string } | { ok: false; reason: string };

/** Unix sockets where Docker / Podman engines usually listen, most common first. */
function candidateSockets(): string[] {
  const runtimeDir = process.env.XDG_RUNTIME_DIR ?? `/run/user/${userInfo().uid}`;
  return [
    "/var/run/docker.sock",
    join(runtimeDir, "docker.sock"),
    join(homedir(), ".docker", "run", "docker.sock"),
    join(homedir(), ".docker", "desktop", "docker.sock"),
    join(runtimeDir, "podman", "podman.sock"),
    "/run/podman/podman.sock",
  ];
}

/** GET /_ping over a unix socket: the Docker API (and Podman's compat API) answers "OK". */
function pingSocket(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.on("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("timeout", () => socket.destroy());
    socket.on("error", () => resolve(false));
    socket.on("close", () => resolve(false));
  });
}

/** Is there a container engine testcontainers could use? Answers within about a second. */
export async function containerRuntimeAvailable(): Promise<RuntimeCheck> {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost) {
    const url = new URL(dockerHost);
    const ok =
      url.protocol === "unix:"
        ? await pingSocket(url.pathname, 1000)
        : await tcpReachable(url.hostname, Number(url.port || 2375), 1000);
    return ok ? { ok: true, dockerHost } : { ok: false, reason: `no container runtime (DOCKER_HOST=${dockerHost} does not answer)` };
  }
  const present = candidateSockets().filter((p) => existsSync(p));
  for (const socketPath of present) {
    if (await pingSocket(socketPath, 1000)) return { ok: true, dockerHost: `unix://${socketPath}` };
  }
  const what = present.length ? `${present.join(", ")} not answering` : "no /var/run/docker.sock";
  return { ok: false, reason: `no container runtime (${what})` };
}

/** Start a MinIO container; throws if no container engine is reachable. */
export async function startMinioContainer(
  opts: { accessKeyId?: string; secretAccessKey?: string } = {},
): Promise<MinioServer> {
  const runtime = await containerRuntimeAvailable();
  if (!runtime.ok) throw new Error(runtime.reason);
  // testcontainers finds Docker's sockets by itself, but not Podman's
  process.env.DOCKER_HOST ??= runtime.dockerHost;
  // Imported lazily: it is heavy, and only needed where an engine exists.
  const { GenericContainer, Wait } = await import("testcontainers");

  const accessKeyId = opts.accessKeyId ?? "minioadmin";
  const secretAccessKey = opts.secretAccessKey ?? "minioadmin";
  const container = await new GenericContainer(MINIO_IMAGE)
    .withCommand(["server", "/data"])
    .withEnvironment({ MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey })
    .withExposedPorts(9000)
    .withWaitStrategy(Wait.forHttp("/minio/health/live", 9000))
    .withStartupTimeout(120_000)
    .start();
  return {
    endpoint: `http://${container.getHost()}:${container.getMappedPort(9000)}`,
    accessKeyId,
    secretAccessKey,
    region: "us-east-1",
    async stop() {
      await container.stop();
    },
  };
}
