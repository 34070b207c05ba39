// The results of recently completed multipart uploads. A client whose first
// CompleteMultipartUpload answer was lost retries it; S3 answers the retry with the
// same result, so the engine remembers each result for a while (bounded, in memory).
import type { ObjectInfo } from "../store/types.js";

/** What identifies the request: each listed part's number and ETag. */
type ListedParts = { partNumber: number; etag: string }[];

interface Completion {
  bucket: string;
  key: string;
  /** the parts the request listed, as "number:etag,..." */
  parts: string;
  info: ObjectInfo;
  at: number;
}

function partsSignature(parts: ListedParts): string {
  return parts.map((part) => `${part.partNumber}:${part.etag}`).join(",");
}

export class RecentCompletions {
  private readonly entries = new Map<string, Completion>();

  constructor(private readonly ttlMs = 15 * 60_000, private readonly max = 1000) {}

  remember(uploadId: string, bucket: string, key: string, parts: ListedParts, info: ObjectInfo, now = Date.now()): void {
    this.entries.delete(uploadId);
    this.entries.set(uploadId, { bucket, key, parts: partsSignature(parts), info, at: now });
    // Map order is insertion order: the first entries are the oldest
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= this.max && now - entry.at <= this.ttlMs) break;
      this.entries.delete(id);
    }
  }

  /** The earlier result when this is a retry of the same request (same bucket, key and parts). */
  find(uploadId: string, bucket: string, key: string, parts: ListedParts, now = Date.now()): ObjectInfo | undefined {
    const entry = this.entries.get(uploadId);
    if (entry === undefined || now - entry.at > this.ttlMs) return undefined;
    return entry.bucket === bucket && entry.key === key && entry.parts === partsSignature(parts) ? entry.info : undefined;
  }
}
