import { createServer, request, Agent, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const BODY = Buffer.alloc(256 * 1024, "x");

function get(port: number, path: string, agent: Agent | false): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("counting TCP proxy", () => {
  let server: Server;
  let proxy: TcpProxy;
  let onSlowRequest: () => void = () => {};

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/slow") {
        // headers and a first chunk, then nothing: the transfer is "in flight"
        res.writeHead(200, { "content-length": String(BODY.length) });
        res.write(BODY.subarray(0, 1024));
        onSlowRequest();
        return;
      }
      res.writeHead(200, { "content-length": String(BODY.length) }).end(BODY);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    proxy = await startTcpProxy("127.0.0.1", (server.address() as { port: number }).port);
  });
  afterAll(async () => {
    await proxy.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("forwards both ways and counts connections and bytes", async () => {
    proxy.reset();
    const res = await get(proxy.port, "/a", false);
    expect(res.status).toBe(200);
    expect(res.body.equals(BODY)).toBe(true);
    const stats = proxy.stats();
    expect(stats.connections).toBe(1);
    expect(stats.bytesFromTarget).toBeGreaterThan(BODY.length); // body plus response headers
    expect(stats.bytesFromTarget).toBeLessThan(BODY.length + 1024);
    expect(stats.bytesToTarget).toBeGreaterThan(20); // the request line and headers
    expect(stats.bytesToTarget).toBeLessThan(1024);
  });

  it("counts one connection for keep-alive requests and zeroes on reset()", async () => {
    proxy.reset();
    expect(proxy.stats()).toEqual({ connections: 0, bytesFromTarget: 0, bytesToTarget: 0 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) expect((await get(proxy.port, `/k${i}`, agent)).body.length).toBe(BODY.length);
    agent.destroy();
    expect(proxy.stats().connections).toBe(1);
    expect(proxy.stats().bytesFromTarget).toBeGreaterThan(3 * BODY.length);
  });

  it("dieAfter() breaks a transfer in flight and refuses connections until revive()", async () => {
    const inFlight = new Promise<void>((r) => (onSlowRequest = r));
    const slow = get(proxy.port, "/slow", false);
    await inFlight;
    // wait until the first chunk went through the proxy
    while (proxy.stats().bytesFromTarget < 1024) await new Promise((r) => setTimeout(r, 5));
    proxy.dieAfter(0);
    await expect(get(proxy.port, "/trigger", false)).rejects.toThrow(/aborted|ECONNRESET|socket hang up/);
    await expect(slow).rejects.toThrow(/aborted|ECONNRESET|socket hang up/);
    await expect(get(proxy.port, "/refused", false)).rejects.toThrow(/ECONNRESET|socket hang up/);
    proxy.revive();
    const after = await get(proxy.port, "/after", false);
    expect(after.body.equals(BODY)).toBe(true);
  });

  it("dieAfter(n) lets n bytes through first", async () => {
    proxy.reset();
    proxy.dieAfter(BODY.length * 2);
    expect((await get(proxy.port, "/one", false)).body.equals(BODY)).toBe(true);
    await expect(Promise.all([get(proxy.port, "/two", false), get(proxy.port, "/three", false)])).rejects.toThrow(/aborted|ECONNRESET|socket hang up/);
    expect(proxy.stats().bytesFromTarget).toBeLessThan(BODY.length * 3);
    proxy.revive();
  });

  it("dropAfter(n) cuts the transfer in flight once and keeps serving new connections", async () => {
    const inFlight = new Promise<void>((r) => (onSlowRequest = r));
    const slow = get(proxy.port, "/slow", false).then(() => "completed", (error: Error) => error.message);
    await inFlight;
    while (proxy.stats().bytesFromTarget < 1024) await new Promise((r) => setTimeout(r, 5));
    proxy.dropAfter(1);
    // the next bytes from the target (this request's answer) trigger the cut
    await get(proxy.port, "/trigger", false).catch(() => undefined);
    expect(await slow).toMatch(/aborted|ECONNRESET|socket hang up/);
    const after = await get(proxy.port, "/after", false);
    expect(after.body.equals(BODY)).toBe(true);
  });

  it("a client connecting to a dead target is cut off", async () => {
    const dead = await startTcpProxy("127.0.0.1", 1); // nothing listens on port 1
    try {
      await expect(get(dead.port, "/", false)).rejects.toThrow(/ECONNRESET|socket hang up/);
      expect(dead.stats().connections).toBe(1);
      expect(dead.stats().bytesFromTarget).toBe(0);
    } finally {
      await dead.close();
    }
  });
});
