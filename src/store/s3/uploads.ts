// Client multipart uploads: 1:1 tier multipart uploads, plus a JSON marker with
// what the tier does not keep (headers, metadata, checksum algorithm and type) and
// per-part markers for a part's own ETag and checksum (cache-keys.ts).
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from "@aws-sdk/client-s3";
import { S3Error, errors } from "../../s3/errors.js";
import { encodeKey, unquoteEtag } from "../../s3/signer.js";
import type { Checksum, ListUploadsOptions, NewObject, ObjectInfo, PartInfo, StagedData, UploadInfo } from "../types.js";
import { parsePartMarker, partDir, partMarkerKey, partsPrefix, requireStorableKey, uploadMarker, type PartMarker } from "./cache-keys.js";
import { describeObject, headersFor } from "./metadata.js";
import type { Objects } from "./objects.js";
import { readSpan, removeAll, type Staging, type StagedFile } from "./staging.js";
import { mapLimited, PARALLEL_HEADS, type Tier } from "./tier.js";
import { MAX_COPY, type Transfer } from "./transfer.js";

interface TierPart {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: Date;
}

export class Uploads {
  constructor(
    private readonly tier: Tier,
    private readonly staging: Staging,
    private readonly transfer: Transfer,
    private readonly objects: Objects,
  ) {}

  async createUpload(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> {
    requireStorableKey(key);
    const headers = headersFor({ etag: "", headers: meta.headers, userMetadata: meta.userMetadata, origin: "local" }, new Date());
    const uploadId = await this.transfer.createTierUpload(bucket, key, onlyClientHeaders(headers));
    const upload: UploadInfo = { uploadId, bucket, key, initiated: new Date(), headers: { ...meta.headers }, userMetadata: { ...meta.userMetadata } };
    if (meta.checksumAlgorithm !== undefined) upload.checksumAlgorithm = meta.checksumAlgorithm;
    if (meta.checksumType !== undefined) upload.checksumType = meta.checksumType;
    const body = Buffer.from(JSON.stringify(upload));
    await this.tier.putBody(this.tier.cache, uploadMarker(upload.uploadId), { "content-type": "application/json" }, body, body.length);
    return upload;
  }

  async getUpload(bucket: string, uploadId: string): Promise<UploadInfo | undefined> {
    const upload = await this.readUploadMarker(uploadId);
    return upload?.bucket === bucket ? upload : undefined;
  }

  async putPart(uploadId: string, partNumber: number, data: StagedData, meta: { etag: string; checksum?: Checksum }): Promise<PartInfo> {
    const [file] = this.staging.take([data]) as [StagedFile];
    try {
      const upload = await this.requireUpload(uploadId);
      const response = await this.tier.http.send({
        method: "PUT", bucket: upload.bucket, key: upload.key,
        query: { partNumber: String(partNumber), uploadId },
        body: readSpan([file], 0, file.size), contentLength: file.size,
      });
      if (response.statusCode === 404) {
        response.body.resume();
        throw errors.noSuchUpload(uploadId);
      }
      if (response.statusCode !== 200) throw await this.tier.failure(response, `UploadPart ${upload.bucket}/${upload.key}`, upload.bucket, upload.key);
      response.body.resume();
      const tierEtag = unquoteEtag(String(response.headers.etag ?? ""));
      // What the tier cannot say about the part (our ETag if it differs, the checksum) goes into a marker's name.
      await this.tier.deleteCachePrefix(partDir(uploadId, partNumber));
      if (meta.checksum !== undefined || meta.etag !== tierEtag) await this.tier.putMarker(partMarkerKey(uploadId, partNumber, meta.etag, meta.checksum));
      const part: PartInfo = { partNumber, size: file.size, etag: meta.etag, lastModified: new Date() };
      if (meta.checksum !== undefined) part.checksum = { ...meta.checksum };
      return part;
    } finally {
      await removeAll([file]);
    }
  }

  async listParts(uploadId: string): Promise<PartInfo[]> {
    const upload = await this.requireUpload(uploadId);
    const [tierParts, markers] = await Promise.all([this.listTierParts(upload, uploadId), this.tier.listAllKeys(this.tier.cache, partsPrefix(uploadId))]);
    const own = new Map<number, PartMarker>();
    for (const marker of markers) {
      const parsed = parsePartMarker(uploadId, marker.key);
      own.set(parsed.partNumber, parsed);
    }
    return tierParts.map((part) => {
      const mine = own.get(part.partNumber);
      const info: PartInfo = { partNumber: part.partNumber, size: part.size, etag: mine?.etag ?? part.etag, lastModified: part.lastModified };
      if (mine?.checksum) info.checksum = mine.checksum;
      return info;
    });
  }

  async listUploads(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> {
    const output = await this.tier.control("ListMultipartUploads", () => this.tier.sdk.send(new ListMultipartUploadsCommand({
      Bucket: bucket,
      Prefix: options.prefix || undefined,
      KeyMarker: options.keyMarker || undefined,
      UploadIdMarker: options.keyMarker ? options.uploadIdMarker || undefined : undefined,
      MaxUploads: Math.min(options.limit, 1000),
    })), bucket).catch((error: unknown) => {
      if (error instanceof S3Error && error.code === "NoSuchBucket") return { Uploads: [] };
      throw error;
    });
    return mapLimited(output.Uploads ?? [], PARALLEL_HEADS, async (entry) => {
      const marker = await this.readUploadMarker(entry.UploadId!);
      return {
        // uploads started directly on the tier have no marker
        ...(marker ?? { headers: {}, userMetadata: {} }),
        uploadId: entry.UploadId!,
        bucket,
        key: entry.Key!,
        initiated: entry.Initiated ?? marker?.initiated ?? new Date(0),
      };
    });
  }

  /**
   * The tier completes the upload (no data copied; its ETag is S3's md5-of-md5s), then a
   * metadata-only copy onto itself records what is known only now (checksum, part sizes).
   * Above 5 GiB that copy is impossible: such an object keeps the tier's own facts.
   */
  async completeUpload(uploadId: string, partNumbers: number[], meta: NewObject): Promise<ObjectInfo> {
    if (meta.chunkSize !== undefined) throw new Error("only commitObject makes a manifest (chunkSize set)");
    const upload = await this.requireUpload(uploadId);
    const { bucket, key } = upload;
    const tierParts = new Map((await this.listTierParts(upload, uploadId)).map((part) => [part.partNumber, part]));
    const chosen = partNumbers.map((partNumber) => {
      const part = tierParts.get(partNumber);
      if (part === undefined) {
        throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded.", { UploadId: uploadId, PartNumber: String(partNumber) });
      }
      return part;
    });
    const previous = await this.tier.headObject(bucket, key);
    try {
      await this.transfer.completeTier(bucket, key, uploadId, chosen.map((part) => ({ partNumber: part.partNumber, etag: part.etag })));
    } catch (error) {
      // every listed part exists (checked above): a tier that still says InvalidPart cannot leave parts out
      if (error instanceof S3Error && error.code === "InvalidPart" && chosen.length < tierParts.size) throw subsetCompleteRefused();
      throw error;
    }
    const partSizes = meta.partSizes ?? chosen.map((part) => part.size);
    const size = partSizes.reduce((sum, partSize) => sum + partSize, 0);
    const lastModified = meta.lastModified ?? new Date();
    const full = { ...meta, partSizes };
    let info = describeObject(bucket, key, size, full, lastModified);
    if (size <= MAX_COPY) {
      await this.transfer.copyInPlace(bucket, key, { ...headersFor(full, lastModified), "x-amz-copy-source": `/${bucket}/${encodeKey(key)}`, "x-amz-metadata-directive": "REPLACE" });
    } else {
      info = (await this.tier.headObject(bucket, key)) ?? info;
    }
    await this.forgetMarkers(uploadId);
    await this.objects.replaced(previous, info);
    return info;
  }

  async abortUpload(uploadId: string): Promise<void> {
    const upload = await this.requireUpload(uploadId);
    await this.tier.control("AbortMultipartUpload", () => this.tier.sdk.send(new AbortMultipartUploadCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: uploadId })), upload.bucket, uploadId);
    await this.forgetMarkers(uploadId);
  }

  /** The part markers and the upload's own marker. */
  private async forgetMarkers(uploadId: string): Promise<void> {
    await this.tier.deleteCacheKeys([...(await this.tier.listAllKeys(this.tier.cache, partsPrefix(uploadId))), { key: uploadMarker(uploadId) }]);
  }

  private async listTierParts(upload: UploadInfo, uploadId: string): Promise<TierPart[]> {
    const parts: TierPart[] = [];
    let marker: string | undefined;
    do {
      const output = await this.tier.control("ListParts", () => this.tier.sdk.send(new ListPartsCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: uploadId, PartNumberMarker: marker })), upload.bucket, uploadId);
      for (const part of output.Parts ?? []) {
        parts.push({ partNumber: part.PartNumber!, etag: unquoteEtag(part.ETag ?? ""), size: part.Size ?? 0, lastModified: part.LastModified ?? new Date(0) });
      }
      marker = output.IsTruncated ? output.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  private async readUploadMarker(uploadId: string): Promise<UploadInfo | undefined> {
    const { http, cache } = this.tier;
    const response = await http.send({ method: "GET", bucket: cache, key: uploadMarker(uploadId) });
    if (response.statusCode === 404) {
      response.body.resume();
      return undefined;
    }
    if (response.statusCode !== 200) throw await this.tier.failure(response, `GET upload ${uploadId}`, cache);
    const upload = (await response.body.json()) as UploadInfo & { initiated: string };
    return { ...upload, initiated: new Date(upload.initiated) };
  }

  private async requireUpload(uploadId: string): Promise<UploadInfo> {
    const upload = await this.readUploadMarker(uploadId);
    if (upload === undefined) throw errors.noSuchUpload(uploadId);
    return upload;
  }
}

function subsetCompleteRefused(): S3Error {
  return new S3Error(
    "NotImplemented",
    "The S3 local tier cannot complete an upload with a subset of its uploaded parts (Ceph RGW refuses it). " +
      "The upload is unchanged: complete it with every uploaded part, or abort it and upload again.",
  );
}

/** The content headers and user metadata of an upload: the rest is only known at completion. */
function onlyClientHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith("x-amz-meta-s3o-")));
}
