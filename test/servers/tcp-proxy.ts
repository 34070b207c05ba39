// A counting TCP proxy on 127.0.0.1: put it between s3-overlay and its remote
// to see how many connections and bytes went to the remote, or to cut every
// live connection ("remote dies mid-transfer").
import { connect, createServer, type Socket } from "node:net";

export interface TcpProxyStats {
  /** client connections accepted since start / reset() */
  connections: number;
  /** bytes the target sent back to clients */
  bytesFromTarget: number;
  /** bytes clients sent to the target */
  bytesToTarget: number;
}

export interface TcpProxy {
  port: number;
  stats(): TcpProxyStats;
  /** zero the counters (live connections keep counting) */
  reset(): void;
  /** destroy every live socket, both sides; new connections are still accepted */
  killConnections(): void;
  /** stop listening and destroy every live socket */
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const live = new Set<Socket>();
  let counters: TcpProxyStats = { connections: 0, bytesFromTarget: 0, bytesToTarget: 0 };
  const track = (socket: Socket) => {
    live.add(socket);
    socket.on("close", () => live.delete(socket));
  };

  const server = createServer((client) => {
    counters.connections++;
    const target = connect({ host: targetHost, port: targetPort });
    track(client);
    track(target);
    client.on("data", (chunk: Buffer) => (counters.bytesToTarget += chunk.length));
    target.on("data", (chunk: Buffer) => (counters.bytesFromTarget += chunk.length));
    client.pipe(target);
    target.pipe(client);
    // one side failing or closing takes the other down, as a dead peer would
    client.on("error", () => target.destroy());
    target.on("error", () => client.destroy());
    client.on("close", () => target.destroy());
    target.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });

  const killConnections = () => {
    for (const socket of live) socket.destroy();
  };
  return {
    port: (server.address() as { port: number }).port,
    stats: () => ({ ...counters }),
    reset: () => {
      counters = { connections: 0, bytesFromTarget: 0, bytesToTarget: 0 };
    },
    killConnections,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        killConnections();
      }),
  };
}
