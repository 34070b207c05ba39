// Bytes onto the tier: one PUT, a parallel multipart upload when large, and
// server-side copies (in place for metadata, UploadPartCopy above 5 GiB).
import type { Dispatcher } from "undici";
import { S3Error, errors } from "../../s3/errors.js";
import { unquoteEtag } from "../../s3/signer.js";
import { readSpan, type StagedFile } from "./staging.js";
import { mapLimited, xmlValue, type Tier } from "./tier.js";

/** Objects up to this size are one PUT; larger ones are multipart uploads of parts this size. */
export const PART_SIZE = 64 * 1024 * 1024;
const PARALLEL_PARTS = 4;
/** the largest object one server-side CopyObject may copy */
export const MAX_COPY = 5 * 1024 ** 3;
export const COPY_PART_SIZE = 1024 ** 3;

export class Transfer {
  constructor(private readonly tier: Tier) {}

  /** Staged files to bucket/key: one PUT, or a parallel multipart upload when large. */
  async upload(bucket: string, key: string, files: StagedFile[], size: number, headers: Record<string, string>): Promise<void> {
    if (size <= PART_SIZE) return this.tier.putBody(bucket, key, headers, readSpan(files, 0, size), size);
    await this.multipart(bucket, key, headers, size, PART_SIZE, async (partNumber, start, end, uploadId) => {
      const response = await this.tier.http.send({
        method: "PUT", bucket, key, query: { partNumber: String(partNumber), uploadId }, body: readSpan(files, start, end), contentLength: end - start,
      });
      if (response.statusCode !== 200) throw await this.tier.failure(response, `UploadPart ${bucket}/${key}`, bucket, key);
      response.body.resume();
      return unquoteEtag(String(response.headers.etag ?? ""));
    });
  }

  /** A tier multipart upload of `size` bytes in parts of `partSize`, PARALLEL_PARTS at a time; aborted on failure. */
  async multipart(
    bucket: string, key: string, headers: Record<string, string>, size: number, partSize: number,
    sendPart: (partNumber: number, start: number, end: number, uploadId: string) => Promise<string>,
  ): Promise<void> {
    const uploadId = await this.createTierUpload(bucket, key, headers);
    try {
      const numbers = Array.from({ length: Math.ceil(size / partSize) }, (_, i) => i + 1);
      const etags = await mapLimited(numbers, PARALLEL_PARTS, (n) => sendPart(n, (n - 1) * partSize, Math.min(n * partSize, size), uploadId));
      await this.completeTier(bucket, key, uploadId, numbers.map((partNumber, i) => ({ partNumber, etag: etags[i]! })));
    } catch (error) {
      await this.tier.http.send({ method: "DELETE", bucket, key, query: { uploadId } }).then((r) => r.body.resume(), () => undefined);
      throw error;
    }
  }

  /** UploadPartCopy of bytes [start, end) of the copy source; the part's ETag. */
  async copyPart(bucket: string, key: string, uploadId: string, partNumber: number, copySource: Record<string, string>, start: number, end: number): Promise<string> {
    const xml = await this.tier.expectXml(this.tier.http.send({
      method: "PUT", bucket, key,
      query: { partNumber: String(partNumber), uploadId },
      headers: { ...copySource, "x-amz-copy-source-range": `bytes=${start}-${end - 1}` },
    }), `UploadPartCopy ${bucket}/${key}`, bucket, key);
    return unquoteEtag(xmlValue(xml, "ETag") ?? "");
  }

  async createTierUpload(bucket: string, key: string, headers: Record<string, string>): Promise<string> {
    const xml = await this.tier.expectXml(this.tier.http.send({ method: "POST", bucket, key, query: { uploads: "" }, headers }), `CreateMultipartUpload ${bucket}/${key}`, bucket, key);
    return xmlValue(xml, "UploadId")!;
  }

  async completeTier(bucket: string, key: string, uploadId: string, parts: { partNumber: number; etag: string }[]): Promise<void> {
    const body = Buffer.from(
      `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>"${p.etag}"</ETag></Part>`).join("")}</CompleteMultipartUpload>`,
    );
    const response = this.tier.http.send({ method: "POST", bucket, key, query: { uploadId }, headers: { "content-type": "application/xml" }, body, contentLength: body.length });
    await this.tier.expectXml(response, `CompleteMultipartUpload ${bucket}/${key}`, bucket, key);
  }

  async copyInPlace(bucket: string, key: string, headers: Record<string, string>): Promise<void> {
    const response: Promise<Dispatcher.ResponseData> = this.tier.http.send({ method: "PUT", bucket, key, headers });
    const what = `CopyObject to ${bucket}/${key}`;
    try {
      await this.tier.expectXml(response, what, bucket, key);
    } catch (error) {
      // the source changed since it was checked
      if (error instanceof S3Error && error.code === "PreconditionFailed") throw errors.noSuchKey(key);
      throw error;
    }
  }
}
