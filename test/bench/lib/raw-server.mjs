// The baseline: a plain node:http server on the same disk, doing the least a
// file server can do. s3-overlay's numbers are compared against this.
// Run directly (`node raw-server.mjs FILE`) it prints "port=N" and serves
// until killed, so a benchmark can sample its RSS as a separate process.
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";

const MiB = 1 << 20;

/**
 * GET (any path): the file at filePath, streamed with an explicit Content-Length.
 * PUT (any path): the body streamed to putPath (default filePath + ".put").
 * Returns { url, port, close() }.
 */
export async function startRawServer(filePath, { port = 0, putPath = `${filePath}.put` } = {}) {
  const server = createServer(async (req, res) => {
    try {
      if (req.method === "GET" || req.method === "HEAD") {
        const { size } = await stat(filePath);
        res.writeHead(200, { "content-length": size, "content-type": "application/octet-stream" });
        if (req.method === "HEAD") return res.end();
        // a read buffer no larger than the file: a 1 MiB one per 4 KiB GET was most of its cost
        await pipeline(createReadStream(filePath, { highWaterMark: Math.min(MiB, Math.max(size, 1)) }), res);
      } else if (req.method === "PUT") {
        await pipeline(req, createWriteStream(putPath, { highWaterMark: MiB }));
        res.writeHead(200, { "content-length": 0 }).end();
      } else {
        res.writeHead(405, { "content-length": 0 }).end();
      }
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end(String(err));
      else res.destroy(err);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const actualPort = server.address().port;
  return {
    url: `http://127.0.0.1:${actualPort}/`,
    port: actualPort,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node raw-server.mjs FILE [PORT]");
    process.exit(2);
  }
  const { port } = await startRawServer(file, { port: Number(process.argv[3] ?? 0) });
  console.log(`port=${port}`);
}
