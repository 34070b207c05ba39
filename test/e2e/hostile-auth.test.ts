// Authentication for every operation the server has: the list of operations comes
// from the handler table, so a new handler without a case here fails the suite.
// Each one is refused unsigned, with a tampered or foreign signature, with a
// query parameter added after signing, off the clock, and as a tampered or
// expired presigned URL; none of the refused requests changes anything. The
// admin API (POST /_s3-overlay/{status,evict,warm,diff,reset}) gets the same treatment,
// plus a signed request replayed with another body.
import { createHash } from "node:crypto";
import {
  CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListBucketsCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKET_CONFIGURATION_READS, parseTarget, resolveOperation } from "../../src/s3/route.js";
import { s3Signer } from "../../src/s3/signer.js";
import { HANDLERS } from "../../src/server/handlers/index.js";
import { ACCESS_KEY, SECRET_KEY, startServer, type RunningServer } from "./harness.js";
import { expectS3Error, md5Base64, queryString, send, signHeaders, type RawRequest, type RawResponse, type SignOptions } from "./raw-http.js";

let server: RunningServer;
let client: S3Client;
const bucket = `hostile-auth-${process.pid}`;
const emptyBucket = `hostile-auth-empty-${process.pid}`;
let uploadId = "";

beforeAll(async () => {
  server = await startServer();
  client = server.client();
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await client.send(new CreateBucketCommand({ Bucket: emptyBucket }));
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: "obj", Body: "original" }));
  uploadId = (await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "mpu" }))).UploadId!;
  await client.send(new UploadPartCommand({ Bucket: bucket, Key: "mpu", UploadId: uploadId, PartNumber: 1, Body: "part one" }));
});

afterAll(async () => {
  client?.destroy();
  await server?.destroy();
});

const deleteXml = "<Delete><Object><Key>obj</Key></Object></Delete>";
const completeXml = () => `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"${md5Hex("part one")}"</ETag></Part></CompleteMultipartUpload>`;
const md5Hex = (text: string) => createHash("md5").update(text).digest("hex");

/** One request per operation; each would change or reveal something if it got through. */
function requestFor(operation: string): RawRequest {
  const object = `/${bucket}/obj`;
  const mpu = `/${bucket}/mpu`;
  const copySource = { "x-amz-copy-source": `/${bucket}/obj` };
  const table: Record<string, RawRequest> = {
    ListBuckets: { method: "GET", path: "/" },
    CreateBucket: { method: "PUT", path: `/${bucket}-new` },
    HeadBucket: { method: "HEAD", path: `/${bucket}` },
    DeleteBucket: { method: "DELETE", path: `/${emptyBucket}` },
    GetBucketLocation: { method: "GET", path: `/${bucket}`, query: { location: "" } },
    ListObjects: { method: "GET", path: `/${bucket}` },
    ListObjectsV2: { method: "GET", path: `/${bucket}`, query: { "list-type": "2" } },
    ListMultipartUploads: { method: "GET", path: `/${bucket}`, query: { uploads: "" } },
    DeleteObjects: { method: "POST", path: `/${bucket}`, query: { delete: "" }, headers: { "content-md5": md5Base64(deleteXml) }, body: deleteXml },
    PutObject: { method: "PUT", path: object, body: "replaced" },
    CopyObject: { method: "PUT", path: `/${bucket}/copy`, headers: copySource },
    GetObject: { method: "GET", path: object },
    HeadObject: { method: "HEAD", path: object },
    DeleteObject: { method: "DELETE", path: object },
    CreateMultipartUpload: { method: "POST", path: `/${bucket}/other-mpu`, query: { uploads: "" } },
    UploadPart: { method: "PUT", path: mpu, query: { partNumber: "2", uploadId }, body: "part two" },
    UploadPartCopy: { method: "PUT", path: mpu, query: { partNumber: "3", uploadId }, headers: copySource },
    CompleteMultipartUpload: { method: "POST", path: mpu, query: { uploadId }, body: completeXml() },
    AbortMultipartUpload: { method: "DELETE", path: mpu, query: { uploadId } },
    ListParts: { method: "GET", path: mpu, query: { uploadId } },
    GetObjectTagging: { method: "GET", path: object, query: { tagging: "" } },
    GetObjectAcl: { method: "GET", path: object, query: { acl: "" } },
    GetObjectAttributes: { method: "GET", path: object, query: { attributes: "" }, headers: { "x-amz-object-attributes": "ETag,ObjectSize" } },
    // bucket configuration reads reveal the owner and the (unconfigured) settings
    ...Object.fromEntries(Object.entries(BUCKET_CONFIGURATION_READS).map(([subresource, name]) => [name, { method: "GET", path: `/${bucket}`, query: { [subresource]: "" } }])),
  };
  const request = table[operation];
  if (request === undefined) throw new Error(`no hostile-auth request for operation ${operation}: add one`);
  return request;
}

const OPERATIONS = Object.keys(HANDLERS);

/** A presigned URL (path + query) for `request`, signed with @smithy/signature-v4. */
async function presign(request: RawRequest, options: { expiresIn?: number; signingDate?: Date } = {}): Promise<string> {
  const url = new URL(server.endpoint);
  const signer = s3Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, "us-east-1");
  const signed = await signer.presign(
    {
      method: request.method, protocol: "http:", hostname: url.hostname, port: Number(url.port), path: request.path, query: request.query ?? {},
      headers: { host: url.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...request.headers },
    },
    // headers stay signed headers (hoisted into the query they would be sent twice, once unsigned)
    { expiresIn: options.expiresIn ?? 300, signingDate: options.signingDate, unhoistableHeaders: new Set(Object.keys(request.headers ?? {})) },
  );
  return request.path + queryString(signed.query as Record<string, string>);
}

const flipHex = (hex: string) => (hex[0] === "0" ? "1" : "0") + hex.slice(1);

/** Ways to get a request wrong, and what S3 answers for each. */
const VARIANTS: [name: string, code: string, build: (request: RawRequest) => Promise<RawRequest>][] = [
  ["without credentials", "AccessDenied", async (request) => request],
  ["with one hex digit of the signature changed", "SignatureDoesNotMatch", async (request) => {
    const headers = await signHeaders(server.endpoint, request);
    return { ...request, headers: { ...headers, authorization: headers.authorization!.replace(/Signature=([0-9a-f]+)/, (_, sig: string) => `Signature=${flipHex(sig)}`) } };
  }],
  ["signed with the wrong secret", "SignatureDoesNotMatch", async (request) => ({ ...request, headers: await signHeaders(server.endpoint, request, { secretAccessKey: "not-the-secret" }) })],
  ["signed with an unknown access key", "InvalidAccessKeyId", async (request) => ({ ...request, headers: await signHeaders(server.endpoint, request, { accessKeyId: "nobody" }) })],
  ["with a query parameter added after signing", "SignatureDoesNotMatch", async (request) => ({
    ...request, headers: await signHeaders(server.endpoint, request), query: { ...request.query, "added-later": "1" },
  })],
  ["dated 20 minutes ahead", "RequestTimeTooSkewed", async (request) => ({ ...request, headers: await signHeaders(server.endpoint, request, { date: new Date(Date.now() + 20 * 60_000) }) })],
  ["presigned, with the signature changed", "SignatureDoesNotMatch", async (request) => {
    const url = (await presign(request)).replace(/X-Amz-Signature=([0-9a-f]+)/, (_, sig: string) => `X-Amz-Signature=${flipHex(sig)}`);
    return { ...request, path: url, query: undefined };
  }],
  ["presigned, expired an hour ago", "AccessDenied", async (request) => ({
    ...request, path: await presign(request, { expiresIn: 60, signingDate: new Date(Date.now() - 3_600_000) }), query: undefined,
  })],
];

/** What a refused request could have changed. */
async function snapshot() {
  const objects = async (name: string) => ((await client.send(new ListObjectsV2Command({ Bucket: name }))).Contents ?? []).map((o) => [o.Key, o.ETag]);
  const [buckets, contents, empty, body, uploads, parts] = await Promise.all([
    client.send(new ListBucketsCommand({})).then((out) => (out.Buckets ?? []).map((b) => b.Name).sort()),
    objects(bucket),
    objects(emptyBucket),
    client.send(new GetObjectCommand({ Bucket: bucket, Key: "obj" })).then((out) => out.Body!.transformToString()),
    client.send(new ListMultipartUploadsCommand({ Bucket: bucket })).then((out) => (out.Uploads ?? []).map((u) => [u.Key, u.UploadId])),
    client.send(new ListPartsCommand({ Bucket: bucket, Key: "mpu", UploadId: uploadId })).then((out) => (out.Parts ?? []).map((p) => [p.PartNumber, p.ETag])),
  ]);
  return { buckets, contents, empty, body, uploads, parts };
}

describe("every operation of the handler table", () => {
  it("has a request here, and that request routes to it", () => {
    expect(OPERATIONS.length).toBeGreaterThanOrEqual(21);
    for (const operation of OPERATIONS) {
      const request = requestFor(operation);
      const target = parseTarget(request.path + queryString(request.query), "127.0.0.1");
      expect(resolveOperation(request.method, target, request.headers ?? {}), operation).toBe(operation);
    }
  });

  it("a presigned URL made by presign() works untampered", async () => {
    const response = await send(server.endpoint, { method: "GET", path: await presign(requestFor("GetObject")) });
    expect([response.status, response.body.toString()]).toEqual([200, "original"]);
  });

  let before: Awaited<ReturnType<typeof snapshot>>;
  beforeAll(async () => {
    before = await snapshot();
  });

  describe.each(VARIANTS)("%s", (_name, code, build) => {
    it.each(OPERATIONS)(`%s is 403 ${code} and changes nothing`, async (operation) => {
      const request = requestFor(operation);
      const response = await send(server.endpoint, await build(request));
      expectS3Error(response, 403, code, request.method);
      expect(await snapshot()).toEqual(before);
    });
  });

  it("the same requests, signed properly, are not refused (so the refusals above are the auth's doing)", async () => {
    for (const operation of OPERATIONS) {
      const request = requestFor(operation);
      const response = await send(server.endpoint, { ...request, headers: await signHeaders(server.endpoint, request) });
      expect(response.status, `${operation}: ${response.body.toString().slice(0, 300)}`).not.toBe(403);
    }
  });
});

// ---------------------------------------------------------------- admin API

interface AdminOptions extends SignOptions {
  /** the body sent when it differs from the one signed */
  sentBody?: string;
  method?: string;
}

async function admin(command: string, body: string, options: AdminOptions = {}): Promise<{ status: number; code?: string; json: unknown; raw: RawResponse }> {
  const request: RawRequest = { method: options.method ?? "POST", path: `/_s3-overlay/${command}`, headers: { "content-type": "application/json" }, body };
  const headers = await signHeaders(server.endpoint, request, options);
  const raw = await send(server.endpoint, { ...request, headers, body: options.sentBody ?? body });
  const json = raw.body.length > 0 && String(raw.headers["content-type"]).includes("json") ? JSON.parse(raw.body.toString().split("\n")[0]!) : undefined;
  return { status: raw.status, code: (json as { error?: { code: string } } | undefined)?.error?.code, json, raw };
}

const ADMIN_BODIES: Record<string, string> = {
  status: "{}",
  evict: JSON.stringify({ dryRun: true, clientWrites: true }),
  warm: JSON.stringify({ targets: [] }),
  diff: "{}",
  reset: JSON.stringify({ dryRun: true }),
};

describe("admin API", () => {
  it.each(Object.keys(ADMIN_BODIES))("%s answers a properly signed request (the baseline for the refusals)", async (command) => {
    const result = await admin(command, ADMIN_BODIES[command]!);
    expect([200, 400], JSON.stringify(result.json)).toContain(result.status);
    expect(result.code ?? "", JSON.stringify(result.json)).not.toMatch(/AccessDenied|Signature|InvalidAccessKeyId|Mismatch/);
  });

  describe.each(Object.keys(ADMIN_BODIES))("%s", (command) => {
    const body = () => ADMIN_BODIES[command]!;

    it("unsigned is 403 AccessDenied", async () => {
      const raw = await send(server.endpoint, { method: "POST", path: `/_s3-overlay/${command}`, headers: { "content-type": "application/json" }, body: body() });
      expect(raw.status).toBe(403);
      expect(JSON.parse(raw.body.toString()).error.code).toBe("AccessDenied");
    });

    it("with a changed signature is 403 SignatureDoesNotMatch", async () => {
      const request: RawRequest = { method: "POST", path: `/_s3-overlay/${command}`, body: body() };
      const headers = await signHeaders(server.endpoint, request);
      headers.authorization = headers.authorization!.replace(/Signature=([0-9a-f]+)/, (_, sig: string) => `Signature=${flipHex(sig)}`);
      const raw = await send(server.endpoint, { ...request, headers });
      expect([raw.status, JSON.parse(raw.body.toString()).error.code]).toEqual([403, "SignatureDoesNotMatch"]);
    });

    it("signed with the wrong secret or an unknown key is 403", async () => {
      expect(await admin(command, body(), { secretAccessKey: "wrong" })).toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });
      expect(await admin(command, body(), { accessKeyId: "nobody" })).toMatchObject({ status: 403, code: "InvalidAccessKeyId" });
    });

    it("replayed with another body is 400 XAmzContentSHA256Mismatch", async () => {
      const other = command === "evict" ? JSON.stringify({ clientWrites: true }) : `${body()} `;
      expect(await admin(command, body(), { sentBody: other })).toMatchObject({ status: 400, code: "XAmzContentSHA256Mismatch" });
    });

    it("with an unsigned payload (UNSIGNED-PAYLOAD) is 403 AccessDenied", async () => {
      expect(await admin(command, body(), { payloadHash: "UNSIGNED-PAYLOAD" })).toMatchObject({ status: 403, code: "AccessDenied" });
    });

    it("off the clock by 20 minutes is 403 RequestTimeTooSkewed", async () => {
      expect(await admin(command, body(), { date: new Date(Date.now() - 20 * 60_000) })).toMatchObject({ status: 403, code: "RequestTimeTooSkewed" });
    });

    it("as a presigned URL (no payload hash) is refused", async () => {
      const url = await presign({ method: "POST", path: `/_s3-overlay/${command}` });
      const raw = await send(server.endpoint, { method: "POST", path: url, body: body() });
      expect(raw.status).toBe(403);
      expect(JSON.parse(raw.body.toString()).error.code).toBe("AccessDenied");
    });

    it("with GET, even signed, is 405", async () => {
      expect((await admin(command, "", { method: "GET" })).status).toBe(405);
    });
  });

  // a body the CLI would never send is the client's mistake (400), never a crash (500):
  // not an object, a field of the wrong type, a bad bucket name, or a field no request has (raw flags)
  const MALFORMED = [
    "null", "[]", '"text"', "5", "{", '{"flags":{}}', '{"target":"bucket"}', '{"scope":5}', '{"scope":{"bucket":5}}',
    '{"scope":{"bucket":"Not_A_Bucket"}}', '{"dryRun":"yes"}', '{"targets":"bucket"}', '{"targets":[1]}',
    '{"keys":[{"bucket":"bucket-a"}]}', '{"include":[null]}', '{"concurrency":0}', '{"chunks":[{"kind":"middle"}]}',
  ];
  it.each(Object.keys(ADMIN_BODIES))("%s answers a malformed JSON body with 400 InvalidArgument", async (command) => {
    for (const body of MALFORMED) {
      const result = await admin(command, body);
      expect([result.status, result.code], `${command} ${body}: ${result.raw.body.toString()}`).toEqual([400, "InvalidArgument"]);
    }
    // fields left out take their defaults (a real reset would drop the client writes other cases use)
    expect((await admin(command, command === "reset" ? ADMIN_BODIES.reset! : "{}")).status).toBe(200);
  });

  it("a refused evict of client writes leaves the client's object in place", async () => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: "kept", Body: "client write" }));
    const evictAll = JSON.stringify({ clientWrites: true });
    expect((await admin("evict", ADMIN_BODIES.evict!, { sentBody: evictAll })).status).toBe(400);
    expect((await admin("evict", evictAll, { secretAccessKey: "wrong" })).status).toBe(403);
    expect((await admin("evict", evictAll, { payloadHash: "UNSIGNED-PAYLOAD" })).status).toBe(403);
    const kept = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "kept" }));
    expect(await kept.Body!.transformToString()).toBe("client write");
  });
});
