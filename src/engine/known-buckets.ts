// What the remote said about bucket names the store does not have. With
// S3_OVERLAY_REMOTE_BUCKETS="*" every name a client sends gets asked about, so
// the memory is bounded (oldest answer dropped first), and a "no" lasts only
// as long as a remembered 404 (S3_OVERLAY_NEGATIVE_TTL): a bucket created on
// the remote later shows up without a restart.

export const KNOWN_BUCKETS_LIMIT = 1000;

export class KnownBuckets {
  /** name -> true, or the time (ms) a "no" stops counting; Map order is insertion order, oldest first */
  private readonly answers = new Map<string, true | number>();

  constructor(private readonly negativeTtlMs: number) {}

  /** true/false as remembered, undefined if the remote must be asked */
  lookup(bucket: string): boolean | undefined {
    const answer = this.answers.get(bucket);
    if (answer === undefined || answer === true) return answer;
    if (answer > Date.now()) return false;
    this.answers.delete(bucket);
    return undefined;
  }

  remember(bucket: string, exists: boolean): void {
    this.answers.delete(bucket);
    if (!exists && this.negativeTtlMs <= 0) return;
    if (this.answers.size >= KNOWN_BUCKETS_LIMIT) this.answers.delete(this.answers.keys().next().value!);
    this.answers.set(bucket, exists || Date.now() + this.negativeTtlMs);
  }
}
