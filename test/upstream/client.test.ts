// The upstream client against a real local HTTP server: which requests it
// retries, how it waits, and how answers become S3 errors.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { S3Error } from "../../src/s3/errors.js";
import { UpstreamClient, retryAfterMs, type UpstreamSettings } from "../../src/upstream/client.js";
import { errorFor } from "../../src/upstream/errors.js";

type Reply = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

let server: Server;
let endpoint: string;
let replies: Reply[] = [];
const seen: { method: string; url: string; host: string; at: number; body: Buffer; authorization: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, host: req.headers.host!, at: Date.now(), body, authorization: String(req.headers.authorization) });
      const reply = replies.shift() ?? ((_req, out) => out.end("ok"));
      reply(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
afterEach(() => {
  replies = [];
  seen.length = 0;
});

function client(overrides: Partial<UpstreamSettings> = {}): UpstreamClient {
  return new UpstreamClient({
    role: "test S3",
    credentialsName: "test",
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
    addressingStyle: "path",
    timeoutMs: 2_000,
    idleMs: 1_000,
    attempts: 3,
    controlAttempts: 1,
    ...overrides,
  });
}

const status = (code: number, xmlCode?: string, headers: Record<string, string> = {}): Reply => (_req, res) => {
  res.writeHead(code, headers);
  res.end(xmlCode === undefined ? "" : `<?xml version="1.0"?><Error><Code>${xmlCode}</Code><Message>m</Message></Error>`);
};

describe("retries", () => {
  test("a GET answered 503 is sent again, signed again, and the next answer is returned", async () => {
    replies = [status(503, "SlowDown"), (_req, res) => res.end("second")];
    const http = client();
    const response = await http.send({ method: "GET", bucket: "b", key: "k" });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe("second");
    expect(seen.map((s) => s.url)).toEqual(["/b/k", "/b/k"]);
    expect(seen[0]!.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKID\//);
    await http.close();
  });

  test("after the last attempt the 5xx answer is the caller's, and maps to ServiceUnavailable naming the upstream's code", async () => {
    replies = [status(500, "InternalError"), status(500, "InternalError"), status(500, "InternalError")];
    const http = client();
    const response = await http.send({ method: "GET", bucket: "b", key: "k" });
    expect(response.statusCode).toBe(500);
    expect(seen).toHaveLength(3);
    const error = await http.errorOf(response, "GET b/k");
    expect(error.code).toBe("ServiceUnavailable");
    expect(error.message).toBe(`test S3 at ${new URL(endpoint).host} answered InternalError to GET b/k`);
    expect(error.status).toBe(503);
    await http.close();
  });

  test("Retry-After is waited for before the next attempt", async () => {
    replies = [status(503, "SlowDown", { "retry-after": "1" })];
    const http = client();
    const response = await http.send({ method: "GET", bucket: "b", key: "k" });
    expect(response.statusCode).toBe(200);
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(950);
    await http.close();
  });

  test("a Retry-After longer than a client would wait is not waited for: that answer is returned", async () => {
    replies = [status(503, "SlowDown", { "retry-after": "60" })];
    const http = client();
    const response = await http.send({ method: "GET", bucket: "b", key: "k" });
    expect(response.statusCode).toBe(503);
    expect(seen).toHaveLength(1);
    await http.close();
  });

  test("a streamed body is sent once (it cannot be sent again); a Buffer body is retried whole", async () => {
    const http = client();
    replies = [status(500, "InternalError")];
    const streamed = await http.send({ method: "PUT", bucket: "b", key: "k", body: Readable.from([Buffer.from("abc")]), contentLength: 3 });
    expect(streamed.statusCode).toBe(500);
    expect(seen).toHaveLength(1);
    seen.length = 0;
    replies = [status(500, "InternalError")];
    const buffered = await http.send({ method: "PUT", bucket: "b", key: "k", body: Buffer.from("abc"), contentLength: 3 });
    expect(buffered.statusCode).toBe(200);
    expect(seen.map((s) => s.body.toString())).toEqual(["abc", "abc"]);
    await http.close();
  });

  test("an upstream nobody listens on is ServiceUnavailable through the client's failure, after every attempt", async () => {
    const troubles: string[] = [];
    const http = client({ endpoint: "http://127.0.0.1:1", failure: (message, code) => (troubles.push(message), new S3Error(code, message)) });
    const error = await http.send({ method: "GET", bucket: "b", key: "k" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3Error);
    expect((error as S3Error).code).toBe("ServiceUnavailable");
    expect(troubles).toEqual(["test S3 at 127.0.0.1:1 is unreachable (ECONNREFUSED)"]);
    await http.close();
  });

  test("the call's name, when given, is in the message of no answer", async () => {
    const troubles: string[] = [];
    const http = client({ endpoint: "http://127.0.0.1:1", failure: (message, code) => (troubles.push(message), new S3Error(code, message)) });
    await http.send({ method: "GET", bucket: "b", what: "ListObjectsV2 on b" }).catch(() => undefined);
    expect(troubles).toEqual(["test S3 at 127.0.0.1:1 is unreachable (ECONNREFUSED) (ListObjectsV2 on b)"]);
    await http.close();
  });

  test("an aborted signal ends the call with the abort, not a retry or an upstream failure", async () => {
    const troubles: string[] = [];
    const http = client({ failure: (message, code) => (troubles.push(message), new S3Error(code, message)) });
    replies.push(() => undefined); // never answers
    const signal = AbortSignal.timeout(200);
    const started = Date.now();
    const error = await http.send({ method: "GET", bucket: "b", signal }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(S3Error);
    expect(signal.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(troubles).toEqual([]);
    expect(seen).toHaveLength(1);
    await http.close();
  });
});

describe("requests", () => {
  test("keys keep their . and .. segments and are percent-encoded; the query is sent and signed", async () => {
    const http = client();
    await (await http.send({ method: "GET", bucket: "b", key: "a/../b c/./d+e", query: { uploadId: "x y" } })).body.text();
    expect(seen[0]!.url).toBe("/b/a/../b%20c/./d%2Be?uploadId=x%20y");
    await http.close();
  });

  test("query values are sent as SigV4's canonical query encodes them (RFC 3986, / and !'()* included)", async () => {
    const http = client();
    await (await http.send({ method: "GET", bucket: "b", query: { "list-type": "2", prefix: "a (b)*!'/c~_.-" } })).body.text();
    expect(seen[0]!.url).toBe("/b?list-type=2&prefix=a%20%28b%29%2A%21%27%2Fc~_.-");
    await http.close();
  });
});

describe("errors", () => {
  const upstream = client({ endpoint: "http://upstream.test:9000" });
  afterAll(() => upstream.close());

  test.each([
    [403, "AccessDenied", "AccessDenied", "test S3 at upstream.test:9000 denied"],
    [404, "NoSuchKey", "NoSuchKey", "The specified key does not exist."],
    [404, "NoSuchBucket", "NoSuchBucket", "The specified bucket does not exist"],
    [412, "PreconditionFailed", "PreconditionFailed", "pre-conditions"],
    [416, "InvalidRange", "InvalidRange", "not satisfiable"],
    [400, "InvalidArgument", "InvalidArgument", "answered InvalidArgument to GET b/k"],
    [400, "SomethingNew", "InternalError", "answered SomethingNew to GET b/k"],
    [502, undefined, "ServiceUnavailable", "answered HTTP 502 to GET b/k"],
  ])("HTTP %i with <Code>%s</Code> is %s", (httpStatus, code, expected, message) => {
    const error = errorFor(upstream, httpStatus, code, "GET b/k", { bucket: "b", key: "k" });
    expect(error.code).toBe(expected);
    expect(error.message).toContain(message);
  });

  test("a 403 asks to check the right credentials", () => {
    expect(errorFor(upstream, 403, "SignatureDoesNotMatch", "GET b/k", {}).message).toBe(
      "test S3 at upstream.test:9000 denied GET b/k (SignatureDoesNotMatch): check the test credentials",
    );
  });
});

test("Retry-After reads seconds and HTTP dates", () => {
  expect(retryAfterMs("3")).toBe(3000);
  expect(retryAfterMs(undefined)).toBe(0);
  expect(retryAfterMs("soon")).toBe(0);
  expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
});
