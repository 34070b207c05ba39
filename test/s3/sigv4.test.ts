import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { Sha256 } from "@smithy/core/checksum";
import { SignatureV4 } from "@smithy/signature-v4";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Signer } from "../../src/s3/signer.js";
import { canonicalUri, parseQuery, verifyRequest, type AuthRequest } from "../../src/s3/sigv4.js";
import { ACCESS_KEY, CaptureServer, lookup, SECRET_KEY, type CapturedRequest } from "./auth-capture.js";

const TRICKY_KEYS = [
  "plain.txt",
  "a b/c d.txt",
  "plus+sign",
  "100%/percent%20literal",
  "unicode/ünïcödé/日本語/😀",
  "double//slash",
  "dots/../up/./here",
  "~tilde~",
  "!'()*[]{}",
  "a?b#c&d=e;f:g,h@i$j",
  "tab\there",
  "trailing/",
];

/** The error code verifyRequest throws, or "ok". */
function outcome(req: AuthRequest, now?: Date, credentials: (accessKeyId: string) => string | undefined = lookup): string {
  try {
    verifyRequest(req, credentials, now);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

function withHeaders(req: CapturedRequest, headers: Record<string, string | undefined>): AuthRequest {
  return { ...req, headers: { ...req.headers, ...headers } };
}

const server = new CaptureServer();
beforeAll(() => server.start());
afterAll(() => server.stop());

describe("header auth, signed by the real @aws-sdk/client-s3", () => {
  it("accepts every tricky key, with and without a session token", async () => {
    for (const sessionToken of [undefined, "FwoGZXIvYXdzEBY+/token=="]) {
      const client = server.client({ sessionToken });
      for (const key of TRICKY_KEYS) {
        const get = await server.capture(() => client.send(new GetObjectCommand({ Bucket: "bucket", Key: key, Range: "bytes=0-9" })));
        const result = verifyRequest(get, lookup);
        expect(result).toMatchObject({ accessKeyId: ACCESS_KEY, region: "us-east-1", payload: { mode: "signed" } });
        expect(result.streaming).toBeUndefined();

        const put = await server.capture(() =>
          client.send(new PutObjectCommand({ Bucket: "bucket", Key: key, Body: Buffer.from("hello"), Metadata: { "my-meta": "  two  spaces  " } })),
        );
        expect(outcome(put), `PUT ${key}`).toBe("ok");
        const head = await server.capture(() => client.send(new HeadObjectCommand({ Bucket: "bucket", Key: key, IfMatch: '"abc"' })));
        expect(outcome(head), `HEAD ${key}`).toBe("ok");
        const copy = await server.capture(() => client.send(new CopyObjectCommand({ Bucket: "bucket", Key: "copy", CopySource: `bucket/${encodeURIComponent(key)}` })));
        expect(outcome(copy), `COPY ${key}`).toBe("ok");
      }
      client.destroy();
    }
  });

  it("accepts tricky query strings (ListObjectsV2 with odd prefixes, delimiters, start-after)", async () => {
    const client = server.client({ region: "eu-west-3" });
    for (const prefix of TRICKY_KEYS) {
      const list = await server.capture(() =>
        client.send(new ListObjectsV2Command({ Bucket: "bucket", Prefix: prefix, Delimiter: "+ /", StartAfter: `${prefix}=&`, MaxKeys: 7 })),
      );
      expect(list.rawQuery).toContain("list-type=2");
      expect(verifyRequest(list, lookup).region).toBe("eu-west-3");
    }
    client.destroy();
  });

  it("returns the streaming context for STREAMING-AWS4-HMAC-SHA256-PAYLOAD", async () => {
    const signer = new SignatureV4({ service: "s3", region: "us-east-1", sha256: Sha256, uriEscapePath: false, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
    const signed = await signer.sign(
      {
        method: "PUT",
        protocol: "http:",
        hostname: "localhost",
        port: 9000,
        path: "/bucket/key",
        query: {},
        headers: { host: "localhost:9000", "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "x-amz-decoded-content-length": "5" },
      },
      { signingDate: new Date("2024-01-02T03:04:05Z") },
    );
    const req: AuthRequest = { method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: lowerCase(signed.headers) };
    const result = verifyRequest(req, lookup, new Date("2024-01-02T03:10:00Z"));
    expect(result.payload).toEqual({ mode: "streaming-signed" });
    const authorization = String(req.headers.authorization);
    expect(result.streaming?.seedSignature).toBe(authorization.slice(authorization.indexOf("Signature=") + 10));
    expect(result.streaming?.amzDate).toBe("20240102T030405Z");
    expect(result.streaming?.scope).toBe("20240102/us-east-1/s3/aws4_request");
    expect(result.streaming?.signingKey.symmetricKeySize).toBe(32);
  });
});

describe("tampering with an SDK-signed request", () => {
  let put: CapturedRequest;
  beforeAll(async () => {
    const client = server.client();
    put = await server.capture(() =>
      client.send(new PutObjectCommand({ Bucket: "bucket", Key: "dir/a b+c", Body: Buffer.from("hello"), ContentType: "text/plain", Metadata: { color: "blue" } })),
    );
    client.destroy();
  });

  it("rejects a change to any signed header", () => {
    expect(outcome(put)).toBe("ok");
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(String(put.headers.authorization))![1].split(";");
    expect(signedHeaders).toEqual(expect.arrayContaining(["host", "x-amz-date", "x-amz-content-sha256", "x-amz-meta-color", "content-type"]));
    for (const name of signedHeaders) {
      const original = String(put.headers[name]);
      const changed = name === "x-amz-date" ? original.replace(/.$/, "") + (original.endsWith("Z") ? "" : "Z") : `${original}x`;
      const expected = name === "x-amz-content-sha256" ? "InvalidArgument" : name === "x-amz-date" ? "AccessDenied" : "SignatureDoesNotMatch";
      expect(outcome(withHeaders(put, { [name]: changed })), name).toBe(expected);
    }
  });

  it("rejects a changed path, query, method, secret, or unknown key", () => {
    expect(outcome({ ...put, rawPath: put.rawPath.replace("dir", "dur") })).toBe("SignatureDoesNotMatch");
    expect(outcome({ ...put, rawQuery: "x-id=PutObject&acl" })).toBe("SignatureDoesNotMatch");
    expect(outcome({ ...put, method: "POST" })).toBe("SignatureDoesNotMatch");
    expect(outcome(put, undefined, (id) => (id === ACCESS_KEY ? "wrong" : undefined))).toBe("SignatureDoesNotMatch");
    expect(outcome(put, undefined, () => undefined)).toBe("InvalidAccessKeyId");
    const date = String(put.headers["x-amz-date"]);
    const oneSecondLater = date.replace(/\d\dZ$/, (seconds) => `${String((parseInt(seconds, 10) + 1) % 60).padStart(2, "0")}Z`);
    expect(outcome(withHeaders(put, { "x-amz-date": oneSecondLater }))).toBe("SignatureDoesNotMatch");
  });

  it("the SignatureDoesNotMatch error carries the canonical request and string to sign", () => {
    try {
      verifyRequest({ ...put, method: "POST" }, lookup);
      expect.unreachable();
    } catch (error) {
      const details = (error as { details: Record<string, string> }).details;
      expect(details.CanonicalRequest.startsWith("POST\n/bucket/dir/a%20b%2Bc\n")).toBe(true);
      expect(details.StringToSign.startsWith("AWS4-HMAC-SHA256\n")).toBe(true);
      expect((error as { status: number }).status).toBe(403);
    }
  });

  it("rejects unsigned x-amz-* headers and requires x-amz-content-sha256", () => {
    expect(outcome(withHeaders(put, { "x-amz-meta-injected": "evil" }))).toBe("AccessDenied");
    expect(outcome(withHeaders(put, { "x-amz-content-sha256": undefined }))).toBe("InvalidRequest");
    expect(outcome(withHeaders(put, { "user-agent": "unsigned headers that are not x-amz-* are fine" }))).toBe("ok");
  });

  it("rejects a request more than 15 minutes off the server's clock", () => {
    expect(outcome(put, new Date(Date.now() + 14 * 60_000))).toBe("ok");
    expect(outcome(put, new Date(Date.now() + 16 * 60_000))).toBe("RequestTimeTooSkewed");
    expect(outcome(put, new Date(Date.now() - 16 * 60_000))).toBe("RequestTimeTooSkewed");
  });

  it("reports malformed or missing Authorization properly", () => {
    const auth = String(put.headers.authorization);
    expect(outcome(withHeaders(put, { authorization: undefined }))).toBe("AccessDenied");
    // SigV2 (sigv2.test.ts has the rest)
    expect(outcome(withHeaders(put, { authorization: "AWS AKID:c2lnbmF0dXJl" }))).toBe("InvalidAccessKeyId");
    // SigV2 takes an HTTP date; SigV4's x-amz-date format is not one
    expect(outcome(withHeaders(put, { authorization: `AWS ${ACCESS_KEY}:c2lnbmF0dXJl` }))).toBe("AccessDenied");
    expect(outcome(withHeaders(put, { authorization: "AWS c2lnbmF0dXJl" }))).toBe("InvalidArgument");
    expect(outcome(withHeaders(put, { authorization: auth.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256") }))).toBe("InvalidArgument");
    expect(outcome(withHeaders(put, { authorization: auth.replace(/, ?Signature=[0-9a-f]+/, "") }))).toBe("AuthorizationHeaderMalformed");
    expect(outcome(withHeaders(put, { authorization: auth.replace("/s3/", "/ec2/") }))).toBe("AuthorizationHeaderMalformed");
    expect(outcome(withHeaders(put, { authorization: auth.replace(/\/\d{8}\//, "/19990101/") }))).toBe("AuthorizationHeaderMalformed");
    expect(outcome(withHeaders(put, { authorization: auth.replace("aws4_request", "aws5_request") }))).toBe("AuthorizationHeaderMalformed");
    expect(outcome(withHeaders(put, { authorization: auth.replace("SignedHeaders=", "SignedHeaders=x-dummy;").replace("host;", "") }))).toBe(
      "AuthorizationHeaderMalformed",
    );
    expect(outcome(withHeaders(put, { authorization: auth.replace(/Signature=[0-9a-f]{4}/, "Signature=0000") }))).toBe("SignatureDoesNotMatch");
    expect(outcome(withHeaders(put, { authorization: `${auth}0` }))).toBe("SignatureDoesNotMatch");
  });

  it("rejects header and query auth together", () => {
    expect(outcome({ ...put, rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256" })).toBe("InvalidArgument");
  });

  it("accepts the Date header when X-Amz-Date is absent", async () => {
    const signer = new SignatureV4({ service: "s3", region: "us-east-1", sha256: Sha256, uriEscapePath: false, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
    const when = new Date("2024-05-06T07:08:09Z");
    const signed = await signer.sign(
      { method: "GET", protocol: "http:", hostname: "h", path: "/b/k", query: {}, headers: { host: "h", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } },
      { signingDate: when },
    );
    const headers = lowerCase(signed.headers);
    const authorization = String(headers.authorization).replace("x-amz-date", "date");
    // smithy always sends x-amz-date; re-sign the same request by hand with Date instead is impossible,
    // so check that a Date-only request at least reaches the signature check with the right timestamp.
    delete headers["x-amz-date"];
    const req = { method: "GET", rawPath: "/b/k", rawQuery: "", headers: { ...headers, date: when.toUTCString(), authorization } };
    try {
      verifyRequest(req, lookup, when);
      expect.unreachable();
    } catch (error) {
      expect((error as { code: string }).code).toBe("SignatureDoesNotMatch");
      expect((error as { details: Record<string, string> }).details.StringToSign).toContain("\n20240506T070809Z\n");
    }
    expect(outcome({ ...req, headers: { ...req.headers, date: "not a date" } }, when)).toBe("AccessDenied");
  });
});

describe("presigned URLs from @aws-sdk/s3-request-presigner", () => {
  it("accepts GET and PUT URLs for every tricky key, with and without session token", async () => {
    for (const sessionToken of [undefined, "Fwo+token/with=chars"]) {
      const client = server.client({ sessionToken });
      for (const key of TRICKY_KEYS) {
        const getUrl = await getSignedUrl(client, new GetObjectCommand({ Bucket: "bucket", Key: key, ResponseContentDisposition: 'attachment; filename="a b.txt"' }), {
          expiresIn: 600,
        });
        const get = await server.captureUrl(getUrl);
        expect(outcome(get), key).toBe("ok");
        const result = verifyRequest(get, lookup);
        expect(result.payload).toEqual({ mode: "unsigned" });
        const putUrl = await getSignedUrl(client, new PutObjectCommand({ Bucket: "bucket", Key: key }), { expiresIn: 3600 });
        const put = await server.captureUrl(putUrl, "PUT", "data");
        expect(outcome(put), key).toBe("ok");
      }
      client.destroy();
    }
  });

  it("rejects tampering, expiry and bad parameters with the right codes", async () => {
    const client = server.client();
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: "bucket", Key: "k" }), { expiresIn: 60 });
    client.destroy();
    const get = await server.captureUrl(url);
    const param = (name: string) => new URLSearchParams(get.rawQuery).get(name)!;
    const replaceParam = (name: string, value: string) => ({
      ...get,
      rawQuery: get.rawQuery.replace(new RegExp(`${name}=[^&]*`), `${name}=${encodeURIComponent(value)}`),
    });
    expect(outcome(get)).toBe("ok");
    expect(outcome(get, new Date(Date.now() + 61_000))).toBe("AccessDenied");
    expect(outcome(get, new Date(Date.now() - 20 * 60_000))).toBe("AccessDenied");
    expect(outcome({ ...get, rawPath: "/bucket/K" })).toBe("SignatureDoesNotMatch");
    expect(outcome({ ...get, rawQuery: `${get.rawQuery}&extra=1` })).toBe("SignatureDoesNotMatch");
    expect(outcome(replaceParam("X-Amz-Signature", param("X-Amz-Signature").replace(/^./, (c) => (c === "0" ? "1" : "0"))))).toBe("SignatureDoesNotMatch");
    expect(outcome(replaceParam("X-Amz-Expires", "61"))).toBe("SignatureDoesNotMatch");
    expect(outcome(replaceParam("X-Amz-Expires", "604801"))).toBe("AuthorizationQueryParametersError");
    expect(outcome(replaceParam("X-Amz-Expires", "-5"))).toBe("AuthorizationQueryParametersError");
    expect(outcome(replaceParam("X-Amz-Expires", "0"))).toBe("AccessDenied"); // valid, and expired at once
    expect(outcome(replaceParam("X-Amz-Algorithm", "AWS4-HMAC-SHA512"))).toBe("AuthorizationQueryParametersError");
    expect(outcome(replaceParam("X-Amz-Date", "2024-01-01"))).toBe("AuthorizationQueryParametersError");
    expect(outcome(replaceParam("X-Amz-Credential", "nonsense"))).toBe("AuthorizationQueryParametersError");
    expect(outcome(replaceParam("X-Amz-Credential", param("X-Amz-Credential").replace(ACCESS_KEY, "OTHER")))).toBe("InvalidAccessKeyId");
    expect(outcome({ ...get, rawQuery: get.rawQuery.replace(/&?X-Amz-SignedHeaders=[^&]*/, "") })).toBe("AuthorizationQueryParametersError");
    expect(outcome(withHeaders(get, { "x-amz-meta-injected": "1" }))).toBe("AccessDenied");
    expect(outcome(withHeaders(get, { host: "evil.example" }))).toBe("SignatureDoesNotMatch");
  });
});

describe("hand-checked vectors from the AWS S3 SigV4 documentation", () => {
  const docsLookup = (id: string) => (id === "AKIAIOSFODNN7EXAMPLE" ? "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" : undefined);
  const docsNow = new Date("2013-05-24T00:00:00Z");

  it("GET object with a Range header", () => {
    const req: AuthRequest = {
      method: "GET",
      rawPath: "/test.txt",
      rawQuery: "",
      headers: {
        host: "examplebucket.s3.amazonaws.com",
        range: "bytes=0-9",
        "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-amz-date": "20130524T000000Z",
        authorization:
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
      },
    };
    expect(verifyRequest(req, docsLookup, docsNow)).toMatchObject({ accessKeyId: "AKIAIOSFODNN7EXAMPLE", region: "us-east-1", payload: { mode: "signed" } });
  });

  it("presigned GET object", () => {
    const req: AuthRequest = {
      method: "GET",
      rawPath: "/test.txt",
      rawQuery:
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
      headers: { host: "examplebucket.s3.amazonaws.com" },
    };
    expect(outcome(req, docsNow, docsLookup)).toBe("ok");
    expect(outcome(req, new Date("2013-05-25T00:00:01Z"), docsLookup)).toBe("AccessDenied");
  });
});

describe("non-ASCII header values", () => {
  // Node hands the server each header byte as one char (latin1). A client sending UTF-8 bytes
  // (the JS SDK, botocore) arrives as the first form; one sending latin-1 bytes as the second.
  const asUtf8Wire = (value: string) => Buffer.from(value, "utf8").toString("latin1");
  const asLatin1Wire = (value: string) => (/[\u0100-\uffff]/.test(value) ? undefined : value);
  const DATE = new Date("2024-05-06T07:08:09Z");

  /** A PUT with x-amz-meta-v signed over `signedValue` (as the SDK's signer does: its UTF-8), carrying `sentValue`. */
  async function putWith(signedValue: string): Promise<(sentValue: string) => AuthRequest> {
    const signed = await s3Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }, "us-east-1").sign(
      {
        method: "PUT", protocol: "http:", hostname: "localhost", port: 9000, path: "/bucket/key", query: {},
        headers: { host: "localhost:9000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-meta-v": signedValue },
      },
      { signingDate: DATE },
    );
    const headers = lowerCase(signed.headers);
    return (sentValue) => ({ method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: { ...headers, "x-amz-meta-v": sentValue } });
  }

  it("the real SDK's UTF-8 bytes verify, and so does the value re-decoded (latin-1 on the wire)", async () => {
    const client = server.client();
    const put = await server.capture(() => client.send(new PutObjectCommand({ Bucket: "bucket", Key: "k", Body: "x", Metadata: { greeting: "Hello World\u00e9" } })));
    client.destroy();
    expect(put.headers["x-amz-meta-greeting"]).toBe("Hello World\u00c3\u00a9");
    expect(outcome(put)).toBe("ok");
    expect(outcome(withHeaders(put, { "x-amz-meta-greeting": "Hello World\u00e9" }))).toBe("ok");
    expect(outcome(withHeaders(put, { "x-amz-meta-greeting": "Hello World\u00c3\u00aa" }))).toBe("SignatureDoesNotMatch");
    expect(outcome(withHeaders(put, { "x-amz-meta-greeting": "Hello World\u00ea" }))).toBe("SignatureDoesNotMatch");
  });

  it("a signature verifies only the value it was made for, in either wire form; a changed signature never", async () => {
    const text = fc.string({ unit: fc.constantFrom(..."aZ09-\u00e9\u00fc\u00c3\u00a9\u00ff\u20ac\u65e5\u{1f600}"), minLength: 1, maxLength: 6 });
    await fc.assert(
      fc.asyncProperty(text, text, fc.boolean(), async (signedValue, otherValue, otherAsUtf8) => {
        const request = await putWith(signedValue);
        const accepted = [asUtf8Wire(signedValue), asLatin1Wire(signedValue)].filter((form) => form !== undefined);
        for (const form of accepted) expect(verdict(request(form))).toBe("ok");
        const sent = otherAsUtf8 ? asUtf8Wire(otherValue) : (asLatin1Wire(otherValue) ?? asUtf8Wire(otherValue));
        expect(verdict(request(sent))).toBe(accepted.includes(sent) ? "ok" : "SignatureDoesNotMatch");
        const forged = request(accepted[0]!);
        const authorization = String(forged.headers.authorization);
        const flipped = authorization.replace(/.$/, (last) => (last === "0" ? "1" : "0"));
        expect(verdict({ ...forged, headers: { ...forged.headers, authorization: flipped } })).toBe("SignatureDoesNotMatch");
      }),
      { numRuns: 200 },
    );
  });

  function verdict(request: AuthRequest): string {
    return outcome(request, DATE);
  }
});

describe("canonical forms", () => {
  it("re-encodes paths once, the way the SDKs encode them", () => {
    expect(canonicalUri("/bucket/a b")).toBe("/bucket/a%20b");
    expect(canonicalUri("/bucket/a%20b")).toBe("/bucket/a%20b");
    expect(canonicalUri("/bucket/a+b")).toBe("/bucket/a%2Bb");
    expect(canonicalUri("/bucket/a%2bb")).toBe("/bucket/a%2Bb");
    expect(canonicalUri("/bucket/100%")).toBe("/bucket/100%25");
    expect(canonicalUri("/bucket/%E6%97%A5")).toBe("/bucket/%E6%97%A5");
    expect(canonicalUri("/bucket/日")).toBe("/bucket/%E6%97%A5");
    expect(canonicalUri("/bucket//x/../y/~z")).toBe("/bucket//x/../y/~z");
    expect(canonicalUri("/bucket/%FF")).toBe("/bucket/%FF");
    expect(canonicalUri("")).toBe("/");
  });

  it("parses raw queries with '+' as a space and tolerates bad escapes", () => {
    expect(parseQuery("a=1&b&c=x+y&d=%2B&e=%zz&&f=%E2%82%AC")).toEqual([
      ["a", "1"],
      ["b", ""],
      ["c", "x y"],
      ["d", "+"],
      ["e", "%zz"],
      ["f", "€"],
    ]);
  });

  it("decodes invalid UTF-8 and stray '%' in a query byte by byte, as the fast path's fallback", () => {
    expect(parseQuery("g=%E2%82%AC%FF&h=100%&i=%2B+%20&j=plain-value_~.")).toEqual([
      ["g", "€\uFFFD"],
      ["h", "100%"],
      ["i", "+  "],
      ["j", "plain-value_~."],
    ]);
  });
});

function lowerCase(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
