// Multipart uploads: S3's rules for parts and their completion, on the store's
// UploadStore. The engine owns one (engine.multipart) and lends it bucket checks,
// disk-space staging and the per-key write lock.
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { S3Error, errors } from "../s3/errors.js";
import { requirePartChecksum } from "../s3/multipart-checksum.js";
import type { Checksum, ChecksumAlgorithm, ListUploadsOptions, NewObject, ObjectInfo, PartInfo, StagedData, Store, UploadInfo } from "../store/types.js";
import { RecentCompletions } from "./completions.js";
import type { KeyedMutex } from "./mutex.js";

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;

/** A part the client names in CompleteMultipartUpload (ETag without quotes). */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

/** Throws if the write must not happen given the current object (conditional writes). */
export type Precondition = (current: ObjectInfo | undefined) => void;

/** What a completed upload's object is made of, for the caller to describe it. */
export interface Assembled {
  etag: string;
  partSizes: number[];
  upload: UploadInfo;
  parts: PartInfo[];
}

/** What the engine lends to its multipart uploads. */
export interface MultipartHost {
  store: Store;
  keyLocks: KeyedMutex;
  requireBucket(name: string): Promise<unknown>;
  /** stages `body` with `size` bytes of disk reserved; discarded if `use` fails */
  stageWithin<T>(size: number | undefined, body: Readable, use: (staged: StagedData) => Promise<T>): Promise<T>;
  /** runs `commit` under the key's write lock, after `precondition` saw the current object */
  commitChecked(bucket: string, key: string, precondition: Precondition | undefined, commit: () => Promise<ObjectInfo>): Promise<ObjectInfo>;
}

export class Multipart {
  private readonly completions = new RecentCompletions();

  constructor(private readonly host: MultipartHost) {}

  private get store(): Store {
    return this.host.store;
  }

  async create(bucket: string, key: string, meta: Omit<UploadInfo, "uploadId" | "bucket" | "key" | "initiated">): Promise<UploadInfo> {
    await this.host.requireBucket(bucket);
    return this.store.createUpload(bucket, key, meta);
  }

  async require(bucket: string, key: string, uploadId: string): Promise<UploadInfo> {
    const upload = await this.store.getUpload(bucket, uploadId);
    if (!upload || upload.key !== key) {
      await this.host.requireBucket(bucket);
      throw errors.noSuchUpload(uploadId);
    }
    return upload;
  }

  /**
   * `size`: the declared length (checked against the free space); `checksumAlgorithm`: that of the
   * checksum the part comes with, which must be the upload's, checked before the body is read.
   */
  async uploadPart(
    bucket: string, key: string, uploadId: string, partNumber: number, body: Readable,
    describe: (staged: StagedData) => { etag: string; checksum?: Checksum },
    options: { size?: number; checksumAlgorithm?: ChecksumAlgorithm },
  ): Promise<PartInfo> {
    checkPartNumber(partNumber);
    const upload = await this.require(bucket, key, uploadId);
    requirePartChecksum(upload, options.checksumAlgorithm);
    const size = options.size;
    // one part number commits at a time, in the order the bodies finished, so the last to finish is the part
    // (an S3 tier takes the part, then its marker: two interleaved commits could pair one's bytes with the other's ETag)
    return this.host.stageWithin(size, body, (staged) =>
      this.host.keyLocks.run(`${uploadId}\npart ${partNumber}`, () => this.store.putPart(uploadId, partNumber, staged, describe(staged))));
  }

  async listParts(bucket: string, key: string, uploadId: string): Promise<{ upload: UploadInfo; parts: PartInfo[] }> {
    const upload = await this.require(bucket, key, uploadId);
    return { upload, parts: await this.store.listParts(uploadId) };
  }

  async list(bucket: string, options: ListUploadsOptions): Promise<UploadInfo[]> {
    await this.host.requireBucket(bucket);
    return this.store.listUploads(bucket, options);
  }

  async abort(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.require(bucket, key, uploadId);
    await this.store.abortUpload(uploadId);
  }

  /**
   * Validates the client's part list against the stored parts as S3 does and makes
   * the object. The ETag is the MD5 of the parts' binary MD5s, then "-N".
   */
  async complete(
    bucket: string, key: string, uploadId: string, requested: CompletedPart[],
    describe: (assembled: Assembled) => NewObject, precondition?: Precondition,
  ): Promise<ObjectInfo> {
    try {
      const info = await this.completeOnce(bucket, key, uploadId, requested, describe, precondition);
      this.completions.remember(uploadId, bucket, key, requested, info);
      return info;
    } catch (error) {
      // a retry of a Complete that already succeeded gets that answer again, as from S3
      const earlier = error instanceof S3Error && error.code === "NoSuchUpload" ? this.completions.find(uploadId, bucket, key, requested) : undefined;
      if (earlier) return earlier;
      throw error;
    }
  }

  private async completeOnce(
    bucket: string, key: string, uploadId: string, requested: CompletedPart[],
    describe: (assembled: Assembled) => NewObject, precondition?: Precondition,
  ): Promise<ObjectInfo> {
    const upload = await this.require(bucket, key, uploadId);
    if (requested.length === 0) {
      throw new S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
    }
    const stored = new Map((await this.store.listParts(uploadId)).map((part) => [part.partNumber, part]));
    const chosen: PartInfo[] = [];
    let previous = 0;
    for (const [index, want] of requested.entries()) {
      if (want.partNumber <= previous) {
        throw new S3Error("InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
      }
      previous = want.partNumber;
      const part = stored.get(want.partNumber);
      // the XML parser already took the quotes off
      if (!part || want.etag !== part.etag) {
        throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag.", { PartNumber: String(want.partNumber), ETag: want.etag });
      }
      if (index < requested.length - 1 && part.size < MIN_PART_SIZE) {
        throw new S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", { ProposedSize: String(part.size), MinSizeAllowed: String(MIN_PART_SIZE), PartNumber: String(part.partNumber), ETag: part.etag });
      }
      chosen.push(part);
    }
    const md5 = createHash("md5");
    for (const part of chosen) md5.update(Buffer.from(part.etag, "hex"));
    const etag = `${md5.digest("hex")}-${chosen.length}`;
    const meta = describe({ etag, partSizes: chosen.map((part) => part.size), upload, parts: chosen });
    return this.host.commitChecked(bucket, key, precondition, () => this.store.completeUpload(uploadId, chosen.map((part) => part.partNumber), meta));
  }
}

export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw errors.invalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", String(partNumber));
  }
}
