// SigV2 verification against the worked examples of the AWS SigV2 documentation
// (RESTAuthentication.html), and the ways a SigV2 request can be wrong.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { verifyRequest, type AuthRequest } from "../../src/s3/sigv4.js";

const ACCESS = "AKIAIOSFODNN7EXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const lookup = (id: string) => (id === ACCESS ? SECRET : undefined);

function outcome(req: AuthRequest, now: Date): string {
  try {
    verifyRequest(req, lookup, now);
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

const sign = (stringToSign: string, secret = SECRET) => createHmac("sha1", secret).update(stringToSign).digest("base64");

describe("the documentation's examples", () => {
  it("object GET, virtual-hosted: the bucket from the Host is signed in the path", () => {
    const now = new Date("2007-03-27T19:40:00Z");
    const req: AuthRequest = {
      method: "GET", rawPath: "/photos/puppy.jpg", rawQuery: "", virtualHostBucket: "awsexamplebucket1",
      headers: { host: "awsexamplebucket1.us-west-1.s3.amazonaws.com", date: "Tue, 27 Mar 2007 19:36:42 +0000", authorization: `AWS ${ACCESS}:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=` },
    };
    expect(verifyRequest(req, lookup, now)).toEqual({ accessKeyId: ACCESS, region: "", payload: { mode: "unsigned" } });
    // path style names the same resource
    expect(outcome({ ...req, rawPath: "/awsexamplebucket1/photos/puppy.jpg", virtualHostBucket: undefined }, now)).toBe("ok");
    // without the bucket it is another resource
    expect(outcome({ ...req, virtualHostBucket: undefined }, now)).toBe("SignatureDoesNotMatch");
  });

  it("object PUT with Content-Type", () => {
    const req: AuthRequest = {
      method: "PUT", rawPath: "/johnsmith/photos/puppy.jpg", rawQuery: "",
      headers: { "content-type": "image/jpeg", "content-length": "94328", date: "Tue, 27 Mar 2007 21:15:45 +0000", authorization: `AWS ${ACCESS}:MyyxeRY7whkBe+bq8fHCL/2kKUg=` },
    };
    expect(outcome(req, new Date("2007-03-27T21:20:00Z"))).toBe("ok");
    expect(outcome({ ...req, headers: { ...req.headers, "content-type": "image/png" } }, new Date("2007-03-27T21:20:00Z"))).toBe("SignatureDoesNotMatch");
  });

  it("upload with Content-MD5 and x-amz-* headers (names lower-cased and sorted, repeated values joined)", () => {
    const now = new Date("2007-03-27T21:10:00Z");
    const req: AuthRequest = {
      method: "PUT", rawPath: "/db-backup.dat.gz", rawQuery: "", virtualHostBucket: "static.johnsmith.net",
      headers: {
        date: "Tue, 27 Mar 2007 21:06:08 +0000", "x-amz-acl": "public-read", "content-type": "application/x-download",
        "content-md5": "4gJE4saaMU4BqNR0kLY+lw==", "x-amz-meta-reviewedby": ["joe@johnsmith.net", "jane@johnsmith.net"],
        "x-amz-meta-filechecksum": "0x02661779", "x-amz-meta-checksumalgorithm": "crc32",
        "content-disposition": "attachment; filename=database.dat", "content-encoding": "gzip",
        authorization: `AWS ${ACCESS}:ilyl83RwaSoYIEdixDQcA4OnAnc=`,
      },
    };
    expect(outcome(req, now)).toBe("ok");
    expect(outcome({ ...req, headers: { ...req.headers, "x-amz-meta-added": "later" } }, now)).toBe("SignatureDoesNotMatch");
  });

  it("a presigned URL (query auth): Expires takes the Date's place", () => {
    const req: AuthRequest = {
      method: "GET", rawPath: "/photos/puppy.jpg", virtualHostBucket: "johnsmith", headers: { host: "johnsmith.s3.amazonaws.com" },
      rawQuery: `AWSAccessKeyId=${ACCESS}&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D`,
    };
    expect(outcome(req, new Date("2007-03-29T03:00:00Z"))).toBe("ok");
    expect(outcome(req, new Date(1175139621_000))).toBe("AccessDenied");
    // an unescaped "+" arrives as a space
    expect(outcome({ ...req, rawQuery: req.rawQuery.replace("%2B", "+") }, new Date("2007-03-29T03:00:00Z"))).toBe("ok");
    expect(outcome({ ...req, rawQuery: req.rawQuery.replace("Expires=1175139620", "Expires=1175139621") }, new Date("2007-03-29T03:00:00Z"))).toBe("SignatureDoesNotMatch");
  });
});

describe("what is signed and what is refused", () => {
  const now = new Date("2024-01-02T03:04:05Z");
  const date = now.toUTCString();

  it("subresources are signed (sorted, values decoded); other query parameters are not", () => {
    const stringToSign = `GET\n\n\n${date}\n/bucket/key?partNumber=2&response-content-type=text/plain&uploadId=a b`;
    const req: AuthRequest = {
      method: "GET", rawPath: "/bucket/key", rawQuery: "uploadId=a%20b&partNumber=2&x-id=GetObject&response-content-type=text%2Fplain",
      headers: { date, authorization: `AWS ${ACCESS}:${sign(stringToSign)}` },
    };
    expect(outcome(req, now)).toBe("ok");
    expect(outcome({ ...req, rawQuery: `${req.rawQuery}&prefix=anything` }, now)).toBe("ok");
    expect(outcome({ ...req, rawQuery: req.rawQuery.replace("partNumber=2", "partNumber=3") }, now)).toBe("SignatureDoesNotMatch");
    expect(outcome({ ...req, rawQuery: `${req.rawQuery}&acl` }, now)).toBe("SignatureDoesNotMatch");
  });

  it("with x-amz-date, the Date line is empty and x-amz-date is signed among the x-amz-* headers", () => {
    const req: AuthRequest = {
      method: "DELETE", rawPath: "/bucket/key", rawQuery: "",
      headers: { "x-amz-date": date, authorization: `AWS ${ACCESS}:${sign(`DELETE\n\n\n\nx-amz-date:${date}\n/bucket/key`)}` },
    };
    expect(outcome(req, now)).toBe("ok");
  });

  it("refuses a wrong secret, an unknown key, a skewed or missing date, an expired URL, and a malformed header", () => {
    const stringToSign = `GET\n\n\n${date}\n/bucket/key`;
    const req = (authorization: string, headers: Record<string, string> = { date }): AuthRequest => ({
      method: "GET", rawPath: "/bucket/key", rawQuery: "", headers: { ...headers, authorization },
    });
    expect(outcome(req(`AWS ${ACCESS}:${sign(stringToSign)}`), now)).toBe("ok");
    expect(outcome(req(`AWS ${ACCESS}:${sign(stringToSign, "wrong")}`), now)).toBe("SignatureDoesNotMatch");
    expect(outcome(req(`AWS NOBODY:${sign(stringToSign)}`), now)).toBe("InvalidAccessKeyId");
    expect(outcome(req(`AWS ${ACCESS}:${sign(stringToSign)}`), new Date(now.getTime() + 16 * 60_000))).toBe("RequestTimeTooSkewed");
    expect(outcome(req(`AWS ${ACCESS}:${sign(stringToSign)}`, {}), now)).toBe("AccessDenied");
    expect(outcome(req(`AWS ${ACCESS}`), now)).toBe("InvalidArgument");
    const query = (expires: number, extra = "") => ({
      method: "GET", rawPath: "/bucket/key", headers: {},
      rawQuery: `AWSAccessKeyId=${ACCESS}&Expires=${expires}&Signature=${encodeURIComponent(sign(`GET\n\n\n${expires}\n/bucket/key`))}${extra}`,
    });
    const later = Math.floor(now.getTime() / 1000) + 60;
    expect(outcome(query(later), now)).toBe("ok");
    expect(outcome(query(later - 120), now)).toBe("AccessDenied");
    expect(outcome({ ...query(later), rawQuery: query(later).rawQuery.replace(/&Signature=[^&]*/, "") }, now)).toBe("AccessDenied");
    expect(outcome({ ...query(later), headers: { authorization: `AWS ${ACCESS}:x` } }, now)).toBe("InvalidArgument");
  });

  it("boto3's presigned PUT with its Content-Type and x-amz-* headers moved into the query", () => {
    const expires = Math.floor(now.getTime() / 1000) + 60;
    const stringToSign = `PUT\n\ntext/plain\n${expires}\nx-amz-meta-a:1\n/bucket/key`;
    const rawQuery = `AWSAccessKeyId=${ACCESS}&Signature=${encodeURIComponent(sign(stringToSign))}&content-type=text%2Fplain&x-amz-meta-a=1&Expires=${expires}`;
    expect(outcome({ method: "PUT", rawPath: "/bucket/key", rawQuery, headers: {} }, now)).toBe("ok");
    expect(outcome({ method: "PUT", rawPath: "/bucket/key", rawQuery, headers: { "content-type": "text/plain" } }, now)).toBe("ok");
    expect(outcome({ method: "PUT", rawPath: "/bucket/key", rawQuery, headers: { "content-type": "text/html" } }, now)).toBe("SignatureDoesNotMatch");
  });
});
