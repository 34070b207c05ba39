// Binding the HTTP server. listhen would quietly move to another port when the
// asked one is busy; an S3 endpoint that clients were configured for must not,
// so every fallback is switched off and a busy port is an error.
import type { IncomingMessage, ServerResponse, Server } from "node:http";
import type { Socket } from "node:net";
import { listen } from "listhen";
import { answerClientErrors } from "./client-errors.js";
import type { ListenTls } from "./tls.js";
import { continueOnFirstRead } from "./unread-body.js";

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Listening {
  url: string;
  /** the certificate listhen generated, when asked for a self-signed one */
  generatedTls?: { cert: string; key: string };
  port: number;
  server: Server;
  /** stop accepting, let in-flight requests finish (up to graceMs), then close what is left */
  shutdown(graceMs: number): Promise<void>;
}

export class PortInUseError extends Error {}

const ANY_HOST = new Set(["0.0.0.0", "::"]);

export async function listenStrict(handler: NodeHandler, host: string, port: number, tls?: ListenTls): Promise<Listening> {
  let listener;
  try {
    listener = await listen(handler, {
      hostname: host,
      // listhen maps "any host" to localhost unless told the server is public
      public: ANY_HOST.has(host),
      // port 0: any free port (a port range, even [0, 0], would make get-port-please try 3000)
      port: port === 0 ? { port: 0, random: true, verbose: false } : { port, ports: [], portRange: [port, port], alternativePortRange: [port, port], verbose: false },
      showURL: false,
      https: tls ?? false,
      autoClose: false,
      isProd: true,
      qr: false,
    });
  } catch (error) {
    const message = (error as Error).message ?? "";
    if (/Unable to find|EADDRINUSE/i.test(message)) throw new PortInUseError(`port ${port} on ${host} is already in use`);
    throw error;
  }
  const address = listener.server.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  if (port !== 0 && boundPort !== port) {
    await listener.close();
    throw new PortInUseError(`port ${port} on ${host} is already in use`);
  }
  const server = listener.server as Server;
  server.keepAliveTimeout = 65_000;
  answerClientErrors(server);
  // a listener here stops Node from sending "100 Continue" before the request is handled
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    continueOnFirstRead(req, res);
    // as an ordinary request: the handler and the shutdown's bookkeeping both listen for "request"
    server.emit("request", req, res);
  });
  const connections = trackBusyConnections(server);
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `${tls ? "https" : "http"}://${shownHost}:${boundPort}`,
    generatedTls: tls && "domains" in tls && listener.https ? listener.https : undefined,
    port: boundPort,
    server,
    shutdown: (graceMs) => shutdown(server, connections, graceMs),
  };
}

/**
 * Counts the responses each connection still has to deliver. Node's own
 * closeIdleConnections() treats a response as done once end() is called, and
 * would cut one whose last megabytes are still queued for a slow reader.
 */
function trackBusyConnections(server: Server): { idle(): Socket[] } {
  const pending = new Map<Socket, number>();
  server.on("connection", (socket: Socket) => {
    pending.set(socket, 0);
    socket.once("close", () => pending.delete(socket));
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    pending.set(socket, (pending.get(socket) ?? 0) + 1);
    // 'close' comes after the last byte was handed to the OS, or when the socket died
    res.once("close", () => {
      if (pending.has(socket)) pending.set(socket, pending.get(socket)! - 1);
    });
  });
  return { idle: () => [...pending].filter(([, count]) => count === 0).map(([socket]) => socket) };
}

async function shutdown(server: Server, connections: { idle(): Socket[] }, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // keep-alive connections with no response in flight would hold close() open
  const sweep = () => connections.idle().forEach((socket) => socket.destroy());
  sweep();
  const idleSweep = setInterval(sweep, 100);
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
  await Promise.race([closed, deadline]);
  clearInterval(idleSweep);
  server.closeAllConnections();
}
