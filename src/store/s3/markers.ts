// Tombstones and remembered remote 404s: zero-byte marker objects in the cache
// bucket, so every `serve` process on the tier sees the same deletions and misses.
import { S3Error, errors } from "../../s3/errors.js";
import type { ListOptions } from "../types.js";
import { absentKey, fitsTier, requireStorableKey, storableKey, tombstoneKey, tombstonePrefix } from "./cache-keys.js";
import type { Tier } from "./tier.js";

const ABSENT_UNTIL = "x-amz-meta-s3o-absent-until";

export class Markers {
  constructor(private readonly tier: Tier) {}

  // ---- tombstones

  async putTombstone(bucket: string, key: string): Promise<void> {
    requireStorableKey(key);
    if (!(await this.tier.bucketExists(bucket))) throw errors.noSuchBucket(bucket);
    if (!fitsTier(tombstoneKey(bucket, key))) {
      throw new S3Error("KeyTooLongError", "This key is too long for the S3 local tier to remember its deletion (the tombstone's key would exceed 1024 bytes).");
    }
    await this.tier.putMarker(tombstoneKey(bucket, key));
  }

  async hasTombstone(bucket: string, key: string): Promise<boolean> {
    // a key too long for a tombstone, or one the tier cannot store, never has one (putTombstone refuses it)
    if (!fitsTier(tombstoneKey(bucket, key)) || !storableKey(key)) return false;
    return this.tier.exists(this.tier.cache, tombstoneKey(bucket, key));
  }

  async deleteTombstone(bucket: string, key: string): Promise<boolean> {
    if (!(await this.hasTombstone(bucket, key))) return false;
    await this.tier.deleteKey(this.tier.cache, tombstoneKey(bucket, key));
    return true;
  }

  async listTombstones(bucket: string, options: ListOptions): Promise<string[]> {
    const base = tombstonePrefix(bucket);
    const listed = await this.tier.listTier(this.tier.cache, base + (options.prefix ?? ""), options.startAfter === undefined ? undefined : base + options.startAfter, options.limit);
    return listed.map((entry) => entry.key.slice(base.length));
  }

  async countTombstones(bucket: string, prefix: string): Promise<number> {
    return (await this.tier.listAllKeys(this.tier.cache, tombstonePrefix(bucket) + prefix)).length;
  }

  // ---- negative cache: marker objects with an expiry

  async rememberAbsent(bucket: string, key: string, until: Date): Promise<void> {
    await this.tier.putMarker(absentKey(bucket, key), { [ABSENT_UNTIL]: String(until.getTime()) });
  }

  async absentUntil(bucket: string, key: string): Promise<Date | undefined> {
    const { http, cache } = this.tier;
    const response = await http.send({ method: "HEAD", bucket: cache, key: absentKey(bucket, key) });
    response.body.resume();
    if (response.statusCode === 404) return undefined;
    if (response.statusCode !== 200) throw await this.tier.failure(response, "HEAD of a negative-cache marker", cache);
    const until = Number(response.headers[ABSENT_UNTIL]);
    if (Number.isFinite(until) && until > Date.now()) return new Date(until);
    // expired: whoever sees it first removes it
    await this.tier.deleteKey(cache, absentKey(bucket, key));
    return undefined;
  }

  async forgetAbsent(bucket: string, key: string): Promise<void> {
    await this.tier.deleteKey(this.tier.cache, absentKey(bucket, key));
  }
}
