// The remote's connections go back when idle. The SDK's default pool kept idle
// listing sockets open until the remote closed them, so after a burst of
// listings serve held up to 50 remote connections (and fds); listings now share
// the data path's undici pool, where a server's Keep-Alive hint (Node's says
// 60 s) would keep them past the idle time unless keepAliveMaxTimeout caps it.
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Remote } from "../../src/engine/remote.js";

const LISTING = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>10</MaxKeys><IsTruncated>false</IsTruncated>
<Contents><Key>k</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0cc175b9c0f1b6a831c399e269772661"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`;

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

async function fakeRemote(): Promise<{ port: number; open: Set<Socket> }> {
  const open = new Set<Socket>();
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/xml" }).end(LISTING);
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", (socket: Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { port: (server!.address() as AddressInfo).port, open };
}

function remoteAt(port: number): Remote {
  return new Remote({
    endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", addressingStyle: "path",
    credentials: { accessKeyId: "a", secretAccessKey: "b" }, bucketMapping: {}, remoteBuckets: ["*"], timeoutMs: 5_000,
  }, { idleMs: 300 });
}

async function closedWithin(open: Set<Socket>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (open.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return open.size === 0;
}

describe("idle remote connections", () => {
  it("of listings close after the idle time", async () => {
    const { port, open } = await fakeRemote();
    const remote = remoteAt(port);
    try {
      expect((await remote.list("b", { limit: 10 })).map((o) => o.key)).toEqual(["k"]);
      expect(open.size).toBe(1);
      expect(await closedWithin(open, 3000)).toBe(true);
    } finally {
      await remote.close();
    }
  });
});
