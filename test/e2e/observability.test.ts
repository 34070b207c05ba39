// What an operator sees: GET /metrics (Prometheus text) with the same counters
// as `status`, an access log line per request in JSON, a start-up line that
// names the remote and its buckets, and no secret anywhere.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, startServer, storeEnv, TEST_TIER, type RunningServer } from "./harness.js";
import { patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();

/** The value of one series in Prometheus text, e.g. metric(text, 's3o_requests_total{operation="PutObject",status_class="2xx"}'). */
function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(server: RunningServer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string | null }> {
  const response = await fetch(`${server.endpoint}/metrics`, { headers });
  return { status: response.status, text: await response.text(), type: response.headers.get("content-type") };
}

describe.skipIf(skipReason !== undefined)("metrics and logs of an overlay", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  const remoteBody = patternBytes(300_000, 5);

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put("obs", "remote.bin", remoteBody);
    server = await startOverlay(remote, {
      env: { S3_OVERLAY_LOG_FORMAT: "json", S3_OVERLAY_ACCESS_LOG: "info", S3_OVERLAY_REMOTE_BUCKETS: "obs", S3_OVERLAY_BUCKET_MAPPING: "dev:obs" },
    });
  }, 240_000);

  afterAll(async () => {
    await server?.destroy();
    await remote?.stop();
  });

  it("counts requests, hits, misses and the bytes each side served; status reads the same counters", async () => {
    const client = server.client();
    try {
      await client.send(new CreateBucketCommand({ Bucket: "scratch" }));
      await client.send(new PutObjectCommand({ Bucket: "scratch", Key: "a.txt", Body: "0123456789" }));
      await (await client.send(new GetObjectCommand({ Bucket: "scratch", Key: "a.txt" }))).Body!.transformToByteArray();
      await (await client.send(new GetObjectCommand({ Bucket: "obs", Key: "remote.bin" }))).Body!.transformToByteArray();
      // the fill commits just after its last byte went out: the next read is a hit once it has
      for (let tries = 0; metric((await scrape(server)).text, "s3o_filled_bytes_total") !== remoteBody.length && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await (await client.send(new GetObjectCommand({ Bucket: "obs", Key: "remote.bin" }))).Body!.transformToByteArray();
    } finally {
      client.destroy();
    }
    // a request is counted when its response closes, just after the client has its last byte: wait for the third GET
    let scraped = await scrape(server);
    for (let tries = 0; metric(scraped.text, 's3o_requests_total{operation="GetObject",status_class="2xx"}') !== 3 && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      scraped = await scrape(server);
    }
    const { status, text, type } = scraped;
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metric(text, 's3o_requests_total{operation="PutObject",status_class="2xx"}')).toBe(1);
    expect(metric(text, 's3o_requests_total{operation="GetObject",status_class="2xx"}'), text.split("\n").filter((line) => line.startsWith("s3o_requests_total") || line.startsWith("s3o_cache")).join("\n")).toBe(3);
    expect(metric(text, 's3o_cache_misses_total')).toBe(1);
    expect(metric(text, "s3o_cache_hits_total")).toBe(1);
    expect(metric(text, 's3o_served_bytes_total{source="remote"}')).toBe(remoteBody.length);
    // the local client write and the second read of the mirror came from the store
    expect(metric(text, 's3o_served_bytes_total{source="store"}')).toBe(remoteBody.length);
    expect(metric(text, 's3o_filled_bytes_total')).toBe(remoteBody.length);
    expect(metric(text, 's3o_request_duration_seconds_count{operation="GetObject"}')).toBe(3);
    expect(metric(text, "s3o_process_resident_memory_bytes")).toBeGreaterThan(0);
    // no key and no bucket name in any label
    expect(text).not.toContain("remote.bin");
    expect(text).not.toMatch(/bucket="/);

    const statusRun = await runCli(["status", "--json", "--data-dir", server.dataDir], { ...(await storeEnv()), ...remote.env, S3_OVERLAY_REMOTE_BUCKETS: "obs" });
    expect(statusRun.code, statusRun.stderr).toBe(0);
    const counters = (JSON.parse(statusRun.stdout) as { server: { counters: { hits: number; misses: number; filledBytes: number } } }).server.counters;
    const again = (await scrape(server)).text;
    expect(counters.hits).toBe(metric(again, "s3o_cache_hits_total"));
    expect(counters.misses).toBe(metric(again, "s3o_cache_misses_total"));
    expect(counters.filledBytes).toBe(metric(again, "s3o_filled_bytes_total"));
  });

  it("reports the embedded store's hot set of small objects (no hot set on an S3 tier), as status does", async () => {
    const client = server.client();
    try {
      for (let read = 0; read < 3; read++) {
        await (await client.send(new GetObjectCommand({ Bucket: "scratch", Key: "a.txt" }))).Body!.transformToByteArray();
      }
    } finally {
      client.destroy();
    }
    const text = (await scrape(server)).text;
    if (TEST_TIER === "rgw") {
      expect(metric(text, "s3o_hot_set_hits_total")).toBeUndefined();
      return;
    }
    expect(metric(text, "s3o_hot_set_max_bytes")).toBe(32 * 1024 * 1024);
    expect(metric(text, "s3o_hot_set_objects")).toBeGreaterThanOrEqual(1);
    expect(metric(text, "s3o_hot_set_bytes")).toBeGreaterThanOrEqual(10);
    // the first read loads it; the later ones are answered from memory
    expect(metric(text, "s3o_hot_set_hits_total")).toBeGreaterThanOrEqual(2);
    const statusRun = await runCli(["status", "--json", "--data-dir", server.dataDir], { ...(await storeEnv()), ...remote.env, S3_OVERLAY_REMOTE_BUCKETS: "obs" });
    expect(statusRun.code, statusRun.stderr).toBe(0);
    const hotSet = (JSON.parse(statusRun.stdout) as { server: { counters: { hotSet: { hits: number } } } }).server.counters.hotSet;
    expect(hotSet.hits).toBe(metric((await scrape(server)).text, "s3o_hot_set_hits_total"));
  });

  it("logs one JSON line per request and a start-up line naming the remote, never a secret", async () => {
    // JSON lines, less the runtime's own warnings (e.g. the AWS SDK's on Node 20)
    const lines = server.stderr().split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>);
    const startup = lines.find((line) => /listening on/.test(String(line.msg)));
    expect(startup?.level).toBe("info");
    expect(String(startup?.msg)).toMatch(/overlay on http:\/\/127\.0\.0\.1:\d+ \(region us-east-1, path style; buckets dev->obs, obs\)/);
    const miss = lines.find((line) => line.msg === "request" && line.op === "GetObject" && line.cache === "miss");
    expect(miss).toMatchObject({ level: "info", bucket: "obs", status: 200, bytes: remoteBody.length });
    expect(typeof miss?.id).toBe("string");
    expect(typeof miss?.ms).toBe("number");
    const put = lines.find((line) => line.msg === "request" && line.op === "PutObject");
    expect(put).toMatchObject({ bucket: "scratch", status: 200 });
    for (const secret of [remote.rgw.secretAccessKey, "minioadmin"]) expect(server.stderr()).not.toContain(secret);
  });
});

describe("an aborted download", () => {
  it("is counted as aborted, not as a delivered 2xx", async () => {
    const server = await startServer();
    const client = server.client();
    try {
      await client.send(new CreateBucketCommand({ Bucket: "big" }));
      await client.send(new PutObjectCommand({ Bucket: "big", Key: "blob", Body: patternBytes(64 * 1024 * 1024, 3) }));
      const output = await client.send(new GetObjectCommand({ Bucket: "big", Key: "blob" }));
      const body = output.Body as NodeJS.ReadableStream & { destroy(): void };
      await new Promise<void>((resolve) => body.once("data", () => resolve()));
      body.destroy();
      client.destroy();
      const series = 's3o_requests_total{operation="GetObject",status_class="aborted"}';
      let text = (await scrape(server)).text;
      for (let tries = 0; metric(text, series) === undefined && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        text = (await scrape(server)).text;
      }
      expect(metric(text, series)).toBe(1);
      expect(metric(text, 's3o_requests_total{operation="GetObject",status_class="2xx"}')).toBeUndefined();
    } finally {
      client.destroy();
      await server.destroy();
    }
  });
});

describe("GET /metrics settings", () => {
  it("with S3_OVERLAY_METRICS_TOKEN it needs the bearer token", async () => {
    const server = await startServer({ env: { S3_OVERLAY_METRICS_TOKEN: "scrape-me" } });
    try {
      const refused = await scrape(server);
      expect(refused.status).toBe(403);
      expect(refused.text).toContain("<Code>AccessDenied</Code>");
      expect((await scrape(server, { authorization: "Bearer wrong" })).status).toBe(403);
      const allowed = await scrape(server, { authorization: "Bearer scrape-me" });
      expect(allowed.status).toBe(200);
      expect(allowed.text).toContain("s3o_requests_total");
    } finally {
      await server.destroy();
    }
  });

  it("S3_OVERLAY_METRICS=false leaves /metrics to S3 (an unsigned request is refused)", async () => {
    const server = await startServer({ env: { S3_OVERLAY_METRICS: "false" } });
    try {
      const answer = await scrape(server);
      expect(answer.status).toBe(403);
      expect(answer.text).not.toContain("s3o_");
    } finally {
      await server.destroy();
    }
  });
});
