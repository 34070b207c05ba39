// S3 conformance of authentication (issue 13), through real clients: non-ASCII
// metadata values as the JS SDK and boto3 sign and send them, and SigV2 (boto3's
// signature_version "s3", its presigned URLs, curl).
import http from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { PYTHON, boto3 as runBoto3 } from "./boto3.js";
import { startServer, type RunningServer } from "./harness.js";
import { signHeaders } from "./raw-http.js";
import { startWithBucket, stopWithClient } from "./sdk-helpers.js";

let server: RunningServer;
let s3: S3Client;
let bucket: string;

beforeAll(async () => {
  ({ server, s3, bucket } = await startWithBucket("conform-auth"));
});

afterAll(() => stopWithClient(server, s3));

const boto3 = (body: string, config?: string): unknown => runBoto3(server.endpoint, body, config);

/** The raw bytes of one response header of a GET or HEAD, as they came over the wire. */
function rawHeader(method: string, path: string, name: string, headers: Record<string, string>): Promise<Buffer | undefined> {
  const url = new URL(server.endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      res.resume();
      const index = res.rawHeaders.findIndex((header, i) => i % 2 === 0 && header.toLowerCase() === name);
      // Node gives header values as latin1: one char per byte received
      resolve(index < 0 ? undefined : Buffer.from(res.rawHeaders[index + 1]!, "latin1"));
    });
    req.on("error", reject).end();
  });
}

describe("x-amz-meta-* values with non-ASCII characters", () => {
  const VALUE = "Hello World\u00e9";
  /** What a client reading response headers as latin-1 (Node, Python's http.client) gets for VALUE's UTF-8 bytes. */
  const asLatin1 = (value: string) => Buffer.from(value, "utf8").toString("latin1");

  test("the JS SDK (UTF-8 bytes) is accepted, and GET/HEAD send back the same bytes", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "meta/js", Body: "x", Metadata: { greeting: VALUE } }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "meta/js" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "meta/js" }));
    await got.Body!.transformToString();
    expect([head.Metadata?.greeting, got.Metadata?.greeting]).toEqual([asLatin1(VALUE), asLatin1(VALUE)]);
    expect(Buffer.from(head.Metadata!.greeting!, "latin1").toString("utf8")).toBe(VALUE);
  });

  test.runIf(PYTHON)("boto3 with the value set in a before-call hook (UTF-8 on the wire): put, then head and get give its bytes back", () => {
    const answer = boto3([
      "def hook(params, **kwargs):",
      `    params["headers"]["x-amz-meta-greeting"] = ${JSON.stringify(VALUE)}`,
      "s3.meta.events.register('before-call.s3.PutObject', hook)",
      "s3.meta.events.register('before-call.s3.CreateMultipartUpload', hook)",
      `s3.put_object(Bucket="${bucket}", Key="meta/boto3", Body=b"x")`,
      `upload = s3.create_multipart_upload(Bucket="${bucket}", Key="meta/boto3-mpu")["UploadId"]`,
      `etag = s3.upload_part(Bucket="${bucket}", Key="meta/boto3-mpu", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]`,
      `s3.complete_multipart_upload(Bucket="${bucket}", Key="meta/boto3-mpu", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})`,
      "values = []",
      `for key in ("meta/boto3", "meta/boto3-mpu"):`,
      `    values.append(s3.head_object(Bucket="${bucket}", Key=key)["Metadata"]["greeting"])`,
      `    values.append(s3.get_object(Bucket="${bucket}", Key=key)["Metadata"]["greeting"])`,
      // http.client reads response headers as latin-1: the UTF-8 bytes sent come back as such
      "print(json.dumps([value.encode('latin-1').decode('utf-8') for value in values]))",
    ].join("\n"));
    expect(answer).toEqual([VALUE, VALUE, VALUE, VALUE]);
  });

  test.runIf(PYTHON)("botocore's signature sent through http.client (latin-1 on the wire) is accepted too, and that byte is stored", async () => {
    const answer = boto3([
      "import http.client, urllib.parse",
      "from botocore.auth import S3SigV4Auth",
      "from botocore.awsrequest import AWSRequest",
      `url = endpoint + "/${bucket}/meta/latin1"`,
      `request = AWSRequest(method="PUT", url=url, data=b"x", headers={"x-amz-meta-greeting": ${JSON.stringify(VALUE)}})`,
      "S3SigV4Auth(s3._request_signer._credentials, 's3', 'us-east-1').add_auth(request)",
      "parts = urllib.parse.urlsplit(url)",
      "connection = http.client.HTTPConnection(parts.hostname, parts.port)",
      // putheader encodes str values as latin-1, so the byte on the wire is 0xE9
      "connection.request('PUT', parts.path, body=b'x', headers=dict(request.headers.items()))",
      "put = connection.getresponse()",
      "put.read()",
      `print(json.dumps([put.status, s3.head_object(Bucket="${bucket}", Key="meta/latin1")["Metadata"]["greeting"]]))`,
    ].join("\n"));
    expect(answer).toEqual([200, VALUE]);
    const bytes = await rawHeader("HEAD", `/${bucket}/meta/latin1`, "x-amz-meta-greeting", await signHeaders(server.endpoint, { method: "HEAD", path: `/${bucket}/meta/latin1` }));
    expect(bytes).toEqual(Buffer.from(VALUE, "latin1"));
  });

  test.runIf(PYTHON)("a non-ASCII value changed after signing, in UTF-8 or latin-1 bytes, is still 403 SignatureDoesNotMatch", () => {
    const answer = boto3([
      "from botocore.exceptions import ClientError",
      "codes = []",
      // botocore has encoded the headers to UTF-8 bytes by before-send; put other bytes in their place
      `forged = ${JSON.stringify("Hello World\u00ea")}`,
      "for sent in (forged.encode('utf-8'), forged.encode('latin-1')):",
      "    def sign(request, **kwargs):",
      `        request.headers["x-amz-meta-greeting"] = ${JSON.stringify(VALUE)}`,
      "    def swap(request, sent=sent, **kwargs):",
      "        request.headers['x-amz-meta-greeting'] = sent",
      "    s3.meta.events.register_first('before-sign.s3.PutObject', sign, unique_id='sign')",
      "    s3.meta.events.register_last('before-send.s3.PutObject', swap, unique_id='swap')",
      "    try:",
      `        s3.put_object(Bucket="${bucket}", Key="meta/forged", Body=b"x")`,
      "        codes.append('stored')",
      "    except ClientError as e:",
      "        codes.append([e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code']])",
      "    s3.meta.events.unregister('before-sign.s3.PutObject', unique_id='sign')",
      "    s3.meta.events.unregister('before-send.s3.PutObject', unique_id='swap')",
      "print(json.dumps(codes))",
    ].join("\n"));
    expect(answer).toEqual([[403, "SignatureDoesNotMatch"], [403, "SignatureDoesNotMatch"]]);
  });
});

describe("SigV2 (boto3 with signature_version 's3')", () => {
  const V2 = 'signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}';

  test.runIf(PYTHON)("a boto3 client puts, gets, lists, copies and deletes", () => {
    const answer = boto3([
      `s3.put_object(Bucket="${bucket}", Key="v2/a b+c", Body=b"sigv2 body", ContentType="text/plain", Metadata={"m": "1"})`,
      `got = s3.get_object(Bucket="${bucket}", Key="v2/a b+c")`,
      `s3.copy_object(Bucket="${bucket}", Key="v2/copy", CopySource={"Bucket": "${bucket}", "Key": "v2/a b+c"})`,
      `listed = [o["Key"] for o in s3.list_objects_v2(Bucket="${bucket}", Prefix="v2/")["Contents"]]`,
      `s3.delete_object(Bucket="${bucket}", Key="v2/copy")`,
      `after = [o["Key"] for o in s3.list_objects(Bucket="${bucket}", Prefix="v2/")["Contents"]]`,
      "print(json.dumps([got['Body'].read().decode(), got['ContentType'], got['Metadata'], listed, after]))",
    ].join("\n"), V2);
    expect(answer).toEqual(["sigv2 body", "text/plain", { m: "1" }, ["v2/a b+c", "v2/copy"], ["v2/a b+c"]]);
  });

  test.runIf(PYTHON)("a wrong secret is 403 SignatureDoesNotMatch, an unknown key 403 InvalidAccessKeyId", () => {
    const answer = boto3([
      "from botocore.exceptions import ClientError",
      "codes = []",
      `for key, secret in (("${"minioadmin"}", "wrong-secret"), ("nobody", "x")):`,
      `    other = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret, config=Config(${V2}))`,
      "    try:",
      `        other.get_object(Bucket="${bucket}", Key="v2/a b+c")`,
      "        codes.append('read')",
      "    except ClientError as e:",
      "        codes.append([e.response['ResponseMetadata']['HTTPStatusCode'], e.response['Error']['Code']])",
      "print(json.dumps(codes))",
    ].join("\n"), V2);
    expect(answer).toEqual([[403, "SignatureDoesNotMatch"], [403, "InvalidAccessKeyId"]]);
  });

  test.runIf(PYTHON)("presigned GET and PUT URLs work through urllib; expired and tampered ones are refused", () => {
    const answer = boto3([
      "import urllib.request, urllib.error, re",
      "def fetch(url, method='GET', data=None):",
      "    try:",
      // Content-Type is signed: the one the URL was made for (urllib would add a form type)
      "        request = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'text/plain'} if data else {})",
      "        with urllib.request.urlopen(request) as r: return [r.status, r.read().decode()]",
      "    except urllib.error.HTTPError as e:",
      "        return [e.code, re.search('<Code>(.*?)</Code>', e.read().decode()).group(1)]",
      `put = s3.generate_presigned_url("put_object", Params={"Bucket": "${bucket}", "Key": "v2/presigned", "ContentType": "text/plain"}, ExpiresIn=300)`,
      `get = s3.generate_presigned_url("get_object", Params={"Bucket": "${bucket}", "Key": "v2/presigned"}, ExpiresIn=300)`,
      `expired = s3.generate_presigned_url("get_object", Params={"Bucket": "${bucket}", "Key": "v2/presigned"}, ExpiresIn=-10)`,
      "tampered = get.replace('v2/presigned', 'v2/a%20b%2Bc')",
      "print(json.dumps(['Signature=' in get and 'X-Amz-' not in get, fetch(put, 'PUT', b'presigned body'), fetch(get), fetch(expired), fetch(tampered)]))",
    ].join("\n"), V2);
    expect(answer).toEqual([true, [200, ""], [200, "presigned body"], [403, "AccessDenied"], [403, "SignatureDoesNotMatch"]]);
  });

  test.runIf(PYTHON)("virtual-hosted style signs /bucket/key", async () => {
    const domain = await startServer({ env: { S3_OVERLAY_DOMAIN: "s3.localhost" } }).catch(() => undefined);
    expect(domain, "a server with S3_OVERLAY_DOMAIN").toBeDefined();
    try {
      const answer = runBoto3(domain!.endpoint, [
        // botocore's SigV2 signer, as for virtual-hosted addressing (auth_path keeps the bucket), sent to 127.0.0.1
        "import http.client",
        "from botocore.auth import HmacV1Auth",
        "from botocore.awsrequest import AWSRequest",
        `s3.create_bucket(Bucket="vh-bucket")`,
        "port = int(endpoint.rsplit(':', 1)[1])",
        "def send(method, body=None, auth_path='/vh-bucket/k'):",
        "    request = AWSRequest(method=method, url=f'http://vh-bucket.s3.localhost:{port}/k', data=body)",
        "    request.auth_path = auth_path",
        "    HmacV1Auth(s3._request_signer._credentials).add_auth(request)",
        "    connection = http.client.HTTPConnection('127.0.0.1', port)",
        "    connection.request(method, '/k', body=body, headers={**dict(request.headers.items()), 'Host': f'vh-bucket.s3.localhost:{port}'})",
        "    response = connection.getresponse()",
        "    return [response.status, response.read().decode()[:200]]",
        "put = send('PUT', b'hosted')",
        "got = send('GET')",
        // signed as if path-style without the bucket: another resource
        "wrong = send('GET', auth_path='/k')",
        "print(json.dumps([put[0], got, wrong[0], 'SignatureDoesNotMatch' in wrong[1]]))",
      ].join("\n"));
      expect(answer).toEqual([200, [200, "hosted"], 403, true]);
    } finally {
      await domain?.destroy();
    }
  });
});
