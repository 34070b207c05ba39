// Bucket operations: client buckets are same-named tier buckets; the cache
// bucket is created on start and hidden from clients.
import { CreateBucketCommand, DeleteBucketCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
import { S3Error, errors } from "../../s3/errors.js";
import type { BucketInfo } from "../types.js";
import { bucketPrefixes } from "./cache-keys.js";
import type { Tier } from "./tier.js";

export class Buckets {
  /**
   * Creation dates from the last listing. HeadBucket answers whether a bucket exists
   * but not when it was made, so getBucket asks HEAD for existence (authoritative on
   * every call: another process may delete the bucket) and takes the date from here.
   */
  private readonly created = new Map<string, Date>();

  constructor(
    private readonly tier: Tier,
    /** LocationConstraint for buckets the store creates; "" or "us-east-1" sends none */
    private readonly defaultLocation: string,
    private readonly region: string,
    /** whether the bucket has uploads in progress */
    private readonly hasUploads: (bucket: string) => Promise<boolean>,
  ) {}

  /** The cache bucket exists afterwards. */
  async prepare(): Promise<void> {
    const { cache } = this.tier;
    if (await this.tier.bucketExists(cache)) return;
    await this.tier.control("CreateBucket", () => this.tier.sdk.send(new CreateBucketCommand({ Bucket: cache, ...this.location() })), cache).catch((error: unknown) => {
      if (!(error instanceof S3Error && error.code === "BucketAlreadyOwnedByYou")) throw error;
    });
  }

  async listBuckets(): Promise<BucketInfo[]> {
    const output = await this.tier.control("ListBuckets", () => this.tier.sdk.send(new ListBucketsCommand({})));
    this.created.clear();
    for (const bucket of output.Buckets ?? []) this.created.set(bucket.Name!, bucket.CreationDate ?? new Date(0));
    return (output.Buckets ?? [])
      .filter((bucket) => bucket.Name !== this.tier.cache)
      .map((bucket) => ({ name: bucket.Name!, createdAt: bucket.CreationDate ?? new Date(0), region: this.bucketRegion() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async names(): Promise<string[]> {
    return (await this.listBuckets()).map((bucket) => bucket.name);
  }

  /**
   * One HeadBucket instead of a ListBuckets (the engine asks on every request, two or
   * three times on a miss); a listing only to learn the date of a bucket not seen yet.
   */
  async getBucket(name: string): Promise<BucketInfo | undefined> {
    if (name === this.tier.cache) return undefined;
    const exists = await this.tier.bucketExists(name).catch((error: unknown) => {
      // a HEAD the tier refuses (403 for another owner's bucket, a redirect): the listing decides, as before
      if (error instanceof S3Error && error.code !== "ServiceUnavailable") return undefined;
      throw error;
    });
    if (exists === false) {
      this.created.delete(name);
      return undefined;
    }
    const createdAt = (exists && this.created.get(name)) || (await this.listBuckets()).find((bucket) => bucket.name === name)?.createdAt;
    return createdAt === undefined ? undefined : { name, createdAt, region: this.bucketRegion() };
  }

  /** The tier is one place: buckets get the configured location, whatever region a client asks for. */
  async createBucket(name: string, _region: string): Promise<boolean> {
    if (name === this.tier.cache) throw new S3Error("BucketAlreadyExists", "The bucket name is reserved for the overlay's cache", { BucketName: name });
    if (await this.tier.bucketExists(name)) return false;
    this.created.delete(name);
    try {
      await this.tier.control("CreateBucket", () => this.tier.sdk.send(new CreateBucketCommand({ Bucket: name, ...this.location() })), name);
      return true;
    } catch (error) {
      if (error instanceof S3Error && error.code === "BucketAlreadyOwnedByYou") return false;
      throw error;
    }
  }

  async deleteBucket(name: string): Promise<void> {
    if (name === this.tier.cache) throw errors.noSuchBucket(name);
    // Some tiers delete a bucket that still has uploads in progress: S3 does not.
    if (await this.hasUploads(name)) throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: name });
    await this.tier.control("DeleteBucket", () => this.tier.sdk.send(new DeleteBucketCommand({ Bucket: name })), name);
    this.created.delete(name);
    for (const prefix of bucketPrefixes(name)) await this.tier.deleteCachePrefix(prefix);
  }

  private location(): { CreateBucketConfiguration?: { LocationConstraint: never } } {
    const location = this.defaultLocation;
    if (location === "" || location === "us-east-1") return {};
    return { CreateBucketConfiguration: { LocationConstraint: location as never } };
  }

  private bucketRegion(): string {
    return this.defaultLocation || this.region;
  }
}
