// Our own outgoing S3 requests (to the remote, the local tier, a running serve's
// admin API): signing with @smithy/signature-v4, keys as paths, reading answers.
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBytes(data: SourceData): string | Uint8Array {
  if (typeof data === "string") return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** node:crypto behind the hash interface @smithy/signature-v4 expects. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

/** A SigV4 signer for S3 (paths signed as sent: S3 does not double-encode). */
export function s3Signer(credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider, region: string): SignatureV4 {
  return new SignatureV4({ credentials, region, service: "s3", sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
}

/**
 * A key as a URL path: everything but unreserved characters and "/" is
 * percent-encoded. "." and ".." segments stay as they are (S3 keys may have
 * them): send such paths with undici's { origin, path }, never through URL,
 * which would resolve them away.
 */
export function encodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, "/").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An ETag header's value without quotes or a weak prefix. */
export function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/** A short name for why a request never got an answer (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT…). */
export function networkErrorName(error: unknown): string {
  const err = error as { code?: string; cause?: { code?: string }; name?: string };
  return err.code ?? err.cause?.code ?? err.name ?? "network error";
}
