// Trouble that is not a clean refusal: a remote (or S3 local tier) that stalls,
// a remote that answers a listing with garbage, connections dropped mid-body.
// A stall must become a 503 within the configured bound, never a hang; a
// dropped connection must be resumed, not turned into a failed read.
import { createServer, type Server } from "node:http";
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRgw, type RgwServer } from "../servers/rgw.js";
import { ACCESS_KEY, SECRET_KEY, startServer, type RunningServer } from "./harness.js";
import { md5, patternBytes, requireRgw, startOverlay, startRemote, type RemoteFixture } from "./overlay-harness.js";

const skipReason = requireRgw();
const MiB = 1024 * 1024;
/** how long a test client waits: far above the bounds under test (2 s x attempts), below the old ones (90 s, or never) */
const PATIENCE_MS = 25_000;

interface Answer {
  status: number;
  body: string;
  elapsedMs: number;
}

/** One request through a presigned URL: the raw status and error XML, no SDK retries of the 503. */
async function ask(server: RunningServer, command: GetObjectCommand | HeadObjectCommand | ListObjectsV2Command, method: "GET" | "HEAD" = "GET"): Promise<Answer> {
  const client = server.client();
  const url = await getSignedUrl(client, command as Parameters<typeof getSignedUrl>[1], { expiresIn: 300 });
  client.destroy();
  const started = Date.now();
  try {
    const response = await fetch(url, { method, signal: AbortSignal.timeout(PATIENCE_MS) });
    return { status: response.status, body: await response.text(), elapsedMs: Date.now() - started };
  } catch (error) {
    return { status: 0, body: `no answer: ${(error as Error).message}`, elapsedMs: Date.now() - started };
  }
}

async function readAll(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await output.Body!.transformToByteArray());
}

describe.skipIf(skipReason !== undefined)("a stalled remote (RGW frozen behind the proxy), S3_OVERLAY_REMOTE_TIMEOUT=2s", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  const bucket = "stall";

  beforeAll(async () => {
    remote = await startRemote();
    for (const key of ["seen.txt", "never-read.txt", "never-headed.txt"]) await remote.put(bucket, key, `body of ${key}`);
    server = await startOverlay(remote, { env: { S3_OVERLAY_REMOTE_TIMEOUT: "2s" } });
  }, 240_000);

  afterAll(async () => {
    await remote?.rgw.resume().catch(() => undefined);
    await server?.destroy();
    await remote?.stop();
  });

  it("ListObjectsV2, a HEAD miss and a GET miss answer 503 ServiceUnavailable within 3 x 2 s", async () => {
    // the bucket is known (and seen.txt cached) before the stall: the listing itself must go to the remote
    expect((await ask(server, new GetObjectCommand({ Bucket: bucket, Key: "seen.txt" }))).status).toBe(200);
    await remote.rgw.pause("hang");
    try {
      const listing = await ask(server, new ListObjectsV2Command({ Bucket: bucket }));
      const head = await ask(server, new HeadObjectCommand({ Bucket: bucket, Key: "never-headed.txt" }), "HEAD");
      const get = await ask(server, new GetObjectCommand({ Bucket: bucket, Key: "never-read.txt" }));
      for (const answer of [listing, head, get]) {
        expect(answer.status, answer.body).toBe(503);
        // each attempt waits the timeout, and there are 3: about 6 s, never the old 90 s or for ever
        expect(answer.elapsedMs).toBeGreaterThan(1_900);
        expect(answer.elapsedMs).toBeLessThan(12_000);
      }
      expect(listing.body).toMatch(/<Code>ServiceUnavailable<\/Code>/);
      expect(listing.body).toMatch(/remote S3 at 127\.0\.0\.1:\d+ did not answer within \d+ s \(ListObjectsV2 on stall/);
      expect(get.body).toMatch(/<Code>ServiceUnavailable<\/Code>/);
      expect(get.body).toMatch(/remote S3 at 127\.0\.0\.1:\d+ did not answer within 2 s \(3 attempts\)/);
      // cached data is still served meanwhile
      const hit = await ask(server, new GetObjectCommand({ Bucket: bucket, Key: "seen.txt" }));
      expect(hit).toMatchObject({ status: 200, body: "body of seen.txt" });
      expect(server.stderr()).not.toContain(remote.rgw.secretAccessKey);
    } finally {
      await remote.rgw.resume();
    }
    // and once the remote answers again, so does the overlay
    const after = await ask(server, new GetObjectCommand({ Bucket: bucket, Key: "never-read.txt" }));
    expect(after).toMatchObject({ status: 200, body: "body of never-read.txt" });
  }, 90_000);
});

describe.skipIf(skipReason !== undefined)("a stalled S3 local tier (RGW frozen), S3_OVERLAY_LOCAL_TIMEOUT=2s", () => {
  let remote: RemoteFixture;
  let tier: RgwServer;
  let server: RunningServer;

  beforeAll(async () => {
    [remote, tier] = await Promise.all([startRemote(), startRgw({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY })]);
    server = await startServer({ env: { ...remote.env, S3_OVERLAY_LOCAL_ENDPOINT: tier.endpoint, S3_OVERLAY_LOCAL_TIMEOUT: "2s" } });
    const client = server.client();
    await client.send(new CreateBucketCommand({ Bucket: "tiered" }));
    await client.send(new PutObjectCommand({ Bucket: "tiered", Key: "mine.txt", Body: "kept in the tier" }));
    client.destroy();
  }, 240_000);

  afterAll(async () => {
    await tier?.resume().catch(() => undefined);
    await server?.destroy();
    await Promise.all([remote?.stop(), tier?.stop()]);
  });

  it("GET, HEAD and ListObjectsV2 answer 503 naming the tier within the bound", async () => {
    expect(await ask(server, new GetObjectCommand({ Bucket: "tiered", Key: "mine.txt" }))).toMatchObject({ status: 200, body: "kept in the tier" });
    await tier.pause("hang");
    try {
      const get = await ask(server, new GetObjectCommand({ Bucket: "tiered", Key: "mine.txt" }));
      const head = await ask(server, new HeadObjectCommand({ Bucket: "tiered", Key: "mine.txt" }), "HEAD");
      const listing = await ask(server, new ListObjectsV2Command({ Bucket: "tiered" }));
      for (const answer of [get, head, listing]) {
        expect(answer.status, answer.body).toBe(503);
        // one signed request waits 2 s; an SDK call makes 2 attempts
        expect(answer.elapsedMs).toBeGreaterThan(1_900);
        expect(answer.elapsedMs).toBeLessThan(8_000);
      }
      for (const answer of [get, listing]) {
        expect(answer.body).toMatch(/<Code>ServiceUnavailable<\/Code>/);
        expect(answer.body).toMatch(/the S3 local tier at 127\.0\.0\.1:\d+ did not answer within 2 s/);
      }
    } finally {
      await tier.resume();
    }
    expect(await ask(server, new GetObjectCommand({ Bucket: "tiered", Key: "mine.txt" }))).toMatchObject({ status: 200, body: "kept in the tier" });
  }, 90_000);
});

/** A "remote" that answers every request 200 with whatever body it is told to. */
async function junkRemote(): Promise<{ endpoint: string; answer(body: string): void; close(): Promise<void> }> {
  let body = "";
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/xml" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    answer: (next) => (body = next),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe("a remote that answers a listing with garbage", () => {
  let junk: Awaited<ReturnType<typeof junkRemote>>;
  let server: RunningServer;

  beforeAll(async () => {
    junk = await junkRemote();
    server = await startServer({
      env: {
        S3_OVERLAY_REMOTE_ENDPOINT: junk.endpoint, S3_OVERLAY_REMOTE_REGION: "us-east-1", S3_OVERLAY_REMOTE_ADDRESSING_STYLE: "path",
        S3_OVERLAY_REMOTE_ACCESS_KEY_ID: "junk", S3_OVERLAY_REMOTE_SECRET_ACCESS_KEY: "junksecret", S3_OVERLAY_REMOTE_BUCKETS: "*",
      },
    });
  }, 60_000);

  afterAll(async () => {
    await server?.destroy();
    await junk?.close();
  });

  const cases: [string, string][] = [
    ["text that is not XML", "this is not xml <<< at all"],
    ["truncated XML", "<?xml version=\"1.0\"?><ListBucketResult><Name>junk</Name><Contents><Key>a</Key>"],
    // the SDK parses these without complaint: they must not list as an empty bucket
    ["an HTML error page", "<html><body><h1>502 Bad Gateway</h1></body></html>"],
    ["an empty body", ""],
  ];
  for (const [what, body] of cases) {
    it(`${what}: 503 saying the answer is not a ListBucketResult`, async () => {
      junk.answer(body);
      const listing = await ask(server, new ListObjectsV2Command({ Bucket: "junk" }));
      expect(listing.status, listing.body).toBe(503);
      expect(listing.body).toMatch(/<Code>ServiceUnavailable<\/Code>/);
      expect(listing.body).toMatch(/remote S3 at 127\.0\.0\.1:\d+ answered ListObjectsV2 on junk with something that could not be parsed as a ListBucketResult/);
      expect(listing.body).not.toMatch(/answered Error/);
    });
  }
});

describe.skipIf(skipReason !== undefined)("remote connections dropped mid-body (4 MiB chunks above 8 MiB)", () => {
  let remote: RemoteFixture;
  let server: RunningServer;
  let client: S3Client;
  const bucket = "drops";
  const chunked = patternBytes(22 * MiB + 4321, 11);
  const whole = patternBytes(7 * MiB + 99, 12);

  beforeAll(async () => {
    remote = await startRemote();
    await remote.put(bucket, "chunked.bin", chunked);
    await remote.put(bucket, "whole.bin", whole);
    server = await startOverlay(remote, {
      env: { S3_OVERLAY_CHUNK_THRESHOLD: String(8 * MiB), S3_OVERLAY_CHUNK_SIZE: String(4 * MiB), S3_OVERLAY_MAX_INFLIGHT_CHUNKS: "2" },
    });
    client = server.client();
  }, 240_000);

  afterAll(async () => {
    client?.destroy();
    await server?.destroy();
    await remote?.stop();
  });

  it("a chunked read resumes the chunks whose connection was cut, and keeps them", async () => {
    remote.proxy.reset();
    // cut every remote connection once, 1.5 chunks in: chunk 1 and the one fetched ahead are mid-way
    remote.proxy.dropAfter(6 * MiB + 4321);
    const body = await readAll(client, bucket, "chunked.bin");
    expect(body.length).toBe(chunked.length);
    expect(md5(body)).toBe(md5(chunked));
    // the rest of each cut chunk was fetched, not the whole chunk again
    expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(chunked.length + MiB);
    await new Promise((resolve) => setTimeout(resolve, 300));
    remote.proxy.reset();
    expect(md5(await readAll(client, bucket, "chunked.bin"))).toBe(md5(chunked));
    expect(remote.proxy.stats().bytesFromTarget).toBe(0);
  });

  it("a whole-object fill resumes after its connection was cut, and is kept", async () => {
    remote.proxy.reset();
    remote.proxy.dropAfter(2 * MiB + 777);
    const body = await readAll(client, bucket, "whole.bin");
    expect(md5(body)).toBe(md5(whole));
    expect(remote.proxy.stats().bytesFromTarget).toBeLessThan(whole.length + MiB);
    await new Promise((resolve) => setTimeout(resolve, 300));
    remote.proxy.reset();
    expect(md5(await readAll(client, bucket, "whole.bin"))).toBe(md5(whole));
    expect(remote.proxy.stats().bytesFromTarget).toBe(0);
  });
});
