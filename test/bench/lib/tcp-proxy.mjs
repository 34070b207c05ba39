// A counting TCP proxy on 127.0.0.1 (plain JS twin of test/servers/tcp-proxy.ts):
// put it between s3-overlay and its remote to count the bytes the remote sent.
import { connect, createServer } from "node:net";

/**
 * Forward every connection to targetHost:targetPort.
 * Returns { port, stats() -> { connections, bytesFromTarget, bytesToTarget }, reset(), close() }.
 */
export async function startTcpProxy(targetHost, targetPort) {
  const live = new Set();
  let counters = { connections: 0, bytesFromTarget: 0, bytesToTarget: 0 };
  const track = (socket) => {
    live.add(socket);
    socket.on("close", () => live.delete(socket));
  };
  const server = createServer((client) => {
    counters.connections++;
    const target = connect({ host: targetHost, port: targetPort });
    track(client);
    track(target);
    client.on("data", (chunk) => (counters.bytesToTarget += chunk.length));
    target.on("data", (chunk) => (counters.bytesFromTarget += chunk.length));
    client.pipe(target);
    target.pipe(client);
    // either side failing or closing takes the other down
    client.on("error", () => target.destroy());
    target.on("error", () => client.destroy());
    client.on("close", () => target.destroy());
    target.on("close", () => client.destroy());
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    port: server.address().port,
    stats: () => ({ ...counters }),
    reset: () => {
      counters = { connections: 0, bytesFromTarget: 0, bytesToTarget: 0 };
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of live) socket.destroy();
      }),
  };
}
