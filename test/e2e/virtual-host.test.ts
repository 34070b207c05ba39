// Virtual-host style addressing (`serve --domain s3.local`): Host bucket.s3.local[:port]
// names the bucket; path-style keeps working next to it.
import { randomBytes } from "node:crypto";
import dns from "node:dns";
import http from "node:http";
import type { LookupFunction } from "node:net";
import { Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./harness.js";
import { expectS3Error, parseXml, send, signedSend, signHeaders, type RawRequest } from "./raw-http.js";

const DOMAIN = "s3.local";

let server: RunningServer;
let pathStyle: S3Client;
let bucketCounter = 0;

beforeAll(async () => {
  server = await startServer({ args: ["--domain", DOMAIN] });
  pathStyle = server.client();
});

afterAll(async () => {
  pathStyle?.destroy();
  await server?.destroy();
});

function bucketName(): string {
  return `vhost-${process.pid}-${++bucketCounter}`;
}

/** A request signed for, and sent with, Host `<bucket>.s3.local:<port>` (or without the port). */
function vhostSend(bucket: string, request: RawRequest, withPort = true) {
  const host = `${bucket}.${DOMAIN}${withPort ? `:${server.port}` : ""}`;
  return signedSend(server.endpoint, request, { host });
}

describe("raw requests with Host bucket.s3.local", () => {
  it("CreateBucket, PutObject, GetObject and ListObjectsV2 reach the bucket named by the Host", async () => {
    const bucket = bucketName();
    expect((await vhostSend(bucket, { method: "PUT", path: "/" })).status).toBe(200);
    await pathStyle.send(new HeadBucketCommand({ Bucket: bucket }));

    const put = await vhostSend(bucket, { method: "PUT", path: "/dir/key.txt", body: "virtual", headers: { "content-type": "text/plain" } });
    expect(put.status, put.body.toString()).toBe(200);

    const viaPath = await pathStyle.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/key.txt" }));
    expect(await viaPath.Body!.transformToString()).toBe("virtual");
    expect(viaPath.ContentType).toBe("text/plain");

    const viaHost = await vhostSend(bucket, { method: "GET", path: "/dir/key.txt" });
    expect(viaHost.status).toBe(200);
    expect(viaHost.body.toString()).toBe("virtual");

    const list = await vhostSend(bucket, { method: "GET", path: "/", query: { "list-type": "2", prefix: "dir/" } });
    expect(list.status).toBe(200);
    const result = parseXml(list.body).ListBucketResult as { Name: string; KeyCount: string; Contents: { Key: string } };
    expect(result.Name).toBe(bucket);
    expect(result.KeyCount).toBe("1");
    expect(result.Contents.Key).toBe("dir/key.txt");
  });

  it("works with a Host header without a port", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    expect((await vhostSend(bucket, { method: "PUT", path: "/no-port", body: "np" }, false)).status).toBe(200);
    const got = await vhostSend(bucket, { method: "GET", path: "/no-port" }, false);
    expect(got.body.toString()).toBe("np");
  });

  it("a bucket name with dots is everything before .s3.local", async () => {
    const bucket = `dotted.${bucketName()}.name`;
    expect((await vhostSend(bucket, { method: "PUT", path: "/" })).status).toBe(200);
    expect((await vhostSend(bucket, { method: "PUT", path: "/k", body: "dots" })).status).toBe(200);
    const got = await pathStyle.send(new GetObjectCommand({ Bucket: bucket, Key: "k" }));
    expect(await got.Body!.transformToString()).toBe("dots");
  });

  it("keys are the whole path, percent-decoded, including a leading slash segment", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    expect((await vhostSend(bucket, { method: "PUT", path: "/a%20b/%C3%BC%2Bc", body: "one" })).status).toBe(200);
    expect((await vhostSend(bucket, { method: "PUT", path: "//leading", body: "two" })).status).toBe(200);
    const first = await pathStyle.send(new GetObjectCommand({ Bucket: bucket, Key: "a b/ü+c" }));
    expect(await first.Body!.transformToString()).toBe("one");
    const second = await pathStyle.send(new GetObjectCommand({ Bucket: bucket, Key: "/leading" }));
    expect(await second.Body!.transformToString()).toBe("two");
  });

  it("a missing bucket is 404 NoSuchBucket", async () => {
    const response = await vhostSend("no-such-vhost-bucket", { method: "GET", path: "/key" });
    expectS3Error(response, 404, "NoSuchBucket");
  });

  it("the signature covers the Host: a request signed for another bucket's host is refused", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    const headers = await signHeaders(server.endpoint, { method: "GET", path: "/" }, { host: `${bucket}.${DOMAIN}:${server.port}` });
    headers.host = `other-${bucket}.${DOMAIN}:${server.port}`;
    expectS3Error(await send(server.endpoint, { method: "GET", path: "/", headers }), 403, "SignatureDoesNotMatch");
  });
});

describe("path style next to virtual hosts", () => {
  it("Host 127.0.0.1:<port> is path style", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    await pathStyle.send(new PutObjectCommand({ Bucket: bucket, Key: "p/q", Body: "path" }));
    const listed = await pathStyle.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((object) => object.Key)).toEqual(["p/q"]);
  });

  it("Host s3.local:<port> (the domain itself) is path style", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    await pathStyle.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "on the domain" }));
    const host = `${DOMAIN}:${server.port}`;
    const buckets = await signedSend(server.endpoint, { method: "GET", path: "/" }, { host });
    expect(buckets.status).toBe(200);
    expect(buckets.body.toString()).toContain(`<Name>${bucket}</Name>`);
    const object = await signedSend(server.endpoint, { method: "GET", path: `/${bucket}/k` }, { host });
    expect(object.status).toBe(200);
    expect(object.body.toString()).toBe("on the domain");
  });

  it("a Host outside the domain is path style", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    await pathStyle.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "elsewhere" }));
    const object = await signedSend(server.endpoint, { method: "GET", path: `/${bucket}/k` }, { host: `${bucket}.example.test:${server.port}` });
    expect(object.status).toBe(200);
    expect(object.body.toString()).toBe("elsewhere");
  });
});

describe("an SDK client with virtual-host addressing", () => {
  // *.s3.local does not resolve: send it to the server's loopback address.
  const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    if (hostname !== DOMAIN && !hostname.endsWith(`.${DOMAIN}`)) return dns.lookup(hostname, options, callback as never);
    if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
    else callback(null, "127.0.0.1", 4);
  }) as unknown as LookupFunction;
  const agent = new http.Agent({ keepAlive: true, lookup });
  let client: S3Client;
  const hostnames: string[] = [];

  beforeAll(() => {
    client = server.client({
      endpoint: `http://${DOMAIN}:${server.port}`,
      forcePathStyle: false,
      requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        hostnames.push((args.request as { hostname: string }).hostname);
        return next(args);
      },
      { step: "finalizeRequest", name: "recordHostname" },
    );
  });
  afterAll(() => {
    client?.destroy();
    agent.destroy();
  });

  it("runs the object lifecycle with the bucket in the hostname", async () => {
    const bucket = bucketName();
    hostnames.length = 0;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "dir/file.txt", Body: "sdk virtual host", Metadata: { origin: "vhost" } }));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: "dir/file.txt" }));
    expect(head.Metadata).toEqual({ origin: "vhost" });
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "dir/file.txt" }));
    expect(await got.Body!.transformToString()).toBe("sdk virtual host");
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
    expect(listed.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(["dir/"]);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: "dir/file.txt" }));
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    await expect(pathStyle.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });

    expect(hostnames.length).toBeGreaterThanOrEqual(7);
    expect(new Set(hostnames)).toEqual(new Set([`${bucket}.${DOMAIN}`]));
  });

  it("a streamed upload (aws-chunked with a CRC32 trailer) signed for the virtual host is stored", async () => {
    const bucket = bucketName();
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const halves = [data.subarray(0, 1024 * 1024), data.subarray(1024 * 1024)];
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "streamed.bin", Body: Readable.from(halves), ContentLength: data.length }));
    const got = await pathStyle.send(new GetObjectCommand({ Bucket: bucket, Key: "streamed.bin" }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
  });

  it("a presigned virtual-host URL works", async () => {
    const bucket = bucketName();
    await pathStyle.send(new CreateBucketCommand({ Bucket: bucket }));
    await pathStyle.send(new PutObjectCommand({ Bucket: bucket, Key: "shared.txt", Body: "presigned vhost" }));
    const url = new URL(await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: "shared.txt" }), { expiresIn: 300 }));
    expect(url.hostname).toBe(`${bucket}.${DOMAIN}`);
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        })
        .on("error", reject);
    });
    expect(body).toEqual({ status: 200, text: "presigned vhost" });
  });
});
