// A TCP proxy on 127.0.0.1 that limits each connection's download rate (bytes
// from the target), like one TCP stream from a distant S3: a local RGW serves
// one stream at over 1 GB/s, a WAN link far less per stream.
// Run directly (`node throttle-proxy.mjs HOST PORT BYTES_PER_SEC`) it prints
// "port=N" and forwards until killed, so its CPU is not the benchmark's.
import { connect, createServer } from "node:net";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

/** a connection idle for a while may send this much ahead of its rate */
const BURST_MS = 10;

/**
 * Forward every connection to targetHost:targetPort, sending at most
 * bytesPerSec per connection toward the client. Returns { port, close() }.
 */
export async function startThrottledProxy(targetHost, targetPort, bytesPerSec) {
  const live = new Set();
  const server = createServer((client) => {
    const target = connect({ host: targetHost, port: targetPort });
    for (const socket of [client, target]) {
      live.add(socket);
      socket.on("close", () => live.delete(socket));
      socket.on("error", () => undefined);
    }
    client.on("close", () => target.destroy());
    target.on("close", () => client.destroy());
    client.pipe(target);

    // when the bytes sent so far will have gone out at the rate
    let dueAt = 0;
    let waiting = false;
    const resumeWhenDue = () => {
      const earlyByMs = dueAt - performance.now();
      if (earlyByMs <= 0) return target.resume();
      waiting = true;
      setTimeout(() => {
        waiting = false;
        if (!client.writableNeedDrain) target.resume(); // else "drain" resumes
      }, earlyByMs);
    };
    target.on("data", (chunk) => {
      dueAt = Math.max(dueAt, performance.now() - BURST_MS) + (chunk.length / bytesPerSec) * 1000;
      target.pause();
      if (client.write(chunk)) resumeWhenDue();
    });
    client.on("drain", () => {
      if (!waiting) resumeWhenDue();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of live) socket.destroy();
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [host, port, rate] = process.argv.slice(2);
  if (!rate) {
    console.error("usage: node throttle-proxy.mjs HOST PORT BYTES_PER_SEC");
    process.exit(2);
  }
  const proxy = await startThrottledProxy(host, Number(port), Number(rate));
  console.log(`port=${proxy.port}`);
}
