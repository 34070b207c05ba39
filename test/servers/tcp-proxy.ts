// A counting TCP proxy on 127.0.0.1: put it between s3-overlay and its remote
// to see how many connections and bytes went to the remote, or to make the
// remote die after a given number of bytes ("remote dies mid-transfer"), or
// to cut the connections of the moment once and keep serving ("a dropped connection").
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
  /**
   * The remote dies once `bytes` more bytes came from it: every live socket is
   * cut there, and new connections are closed at once until revive().
   */
  dieAfter(bytes: number): void;
  /**
   * Once `bytes` more bytes came from the remote, every live socket is cut
   * there (once); new connections are served as usual.
   */
  dropAfter(bytes: number): void;
  /** accept and forward connections again */
  revive(): void;
  /** Bytes from the target stop flowing once `bytes` more came (connections stay open) until release(). */
  holdAfter(bytes: number): void;
  release(): void;
  /** stop listening and destroy every live socket */
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const live = new Set<Socket>();
  let counters: TcpProxyStats = { connections: 0, bytesFromTarget: 0, bytesToTarget: 0 };
  let forwarded = 0; // from the target, never reset
  let deathAt: number | undefined;
  let dropAt: number | undefined;
  let dead = false;
  let holdAt: number | undefined;
  /** held target sockets and the client each forwards to */
  const held = new Map<Socket, Socket>();
  const track = (socket: Socket) => {
    live.add(socket);
    socket.on("close", () => live.delete(socket));
  };

  const server = createServer((client) => {
    counters.connections++;
    if (dead) {
      client.destroy();
      return;
    }
    const target = connect({ host: targetHost, port: targetPort });
    track(client);
    track(target);
    client.on("data", (chunk: Buffer) => (counters.bytesToTarget += chunk.length));
    target.on("data", (chunk: Buffer) => {
      counters.bytesFromTarget += chunk.length;
      forwarded += chunk.length;
      if (deathAt !== undefined && forwarded >= deathAt) die();
      if (dropAt !== undefined && forwarded >= dropAt) {
        dropAt = undefined;
        killConnections();
      }
      if (holdAt !== undefined && forwarded >= holdAt && !held.has(target)) {
        // unpiped, not only paused: a drained client would resume a piped source
        target.unpipe(client);
        target.pause();
        held.set(target, client);
      }
    });
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
  const die = () => {
    dead = true;
    deathAt = undefined;
    killConnections();
  };
  return {
    port: (server.address() as { port: number }).port,
    stats: () => ({ ...counters }),
    reset: () => {
      counters = { connections: 0, bytesFromTarget: 0, bytesToTarget: 0 };
    },
    dieAfter: (bytes) => {
      deathAt = forwarded + bytes;
    },
    dropAfter: (bytes) => {
      dropAt = forwarded + bytes;
    },
    revive: () => {
      dead = false;
      deathAt = undefined;
    },
    holdAfter: (bytes) => {
      holdAt = forwarded + bytes;
    },
    release: () => {
      holdAt = undefined;
      for (const [target, client] of held) target.pipe(client);
      held.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        killConnections();
      }),
  };
}
