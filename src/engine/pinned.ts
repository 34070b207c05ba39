// Pinning: the remote as a lockfile fixes it. Every read of a locked key is that
// exact version: fetched with If-Match on the locked ETag (and the version ID when
// the lock has one), so the remote can only answer with those bytes or fail. When
// it no longer has the version, the read fails with 412 PreconditionFailed naming
// the key and both versions, never a silently different object. Listings show the
// locked keys with their locked sizes and ETags. Keys outside the lock read the
// remote as they are, or are refused (strict). The cache needs no change: what it
// fills comes through here, and cached copies of other versions are dropped at start.
import { S3Error } from "../s3/errors.js";
import { compareKeys } from "../store/fs/key-order.js";
import type { ObjectStore, OverlayMarkers } from "../store/types.js";
import type { OverlaySettings } from "../config.js";
import { compareEntries, escapeKey, readLockfile, type LockEntry } from "./lockfile.js";
import { ForwardingRemote } from "./forwarding-remote.js";
import type { ReadOptions, RemoteApi, RemoteObject, RemoteRead } from "./remote.js";

export interface LockSettings {
  entries: LockEntry[];
  /** refuse keys the lock does not name (S3_OVERLAY_LOCK_STRICT) */
  strict: boolean;
}

export class PinnedRemote extends ForwardingRemote {
  private readonly locked = new Map<string, LockEntry>();
  /** per bucket, the locked keys in S3 order (listings merge them in) */
  private readonly byBucket = new Map<string, LockEntry[]>();

  constructor(inner: RemoteApi, readonly lock: LockSettings) {
    super(inner);
    for (const entry of [...lock.entries].sort(compareEntries)) {
      this.locked.set(id(entry.bucket, entry.key), entry);
      let keys = this.byBucket.get(entry.bucket);
      if (!keys) this.byBucket.set(entry.bucket, (keys = []));
      keys.push(entry);
    }
  }

  /** The locked version of bucket/key, if the lock names it. */
  entry(bucket: string, key: string): LockEntry | undefined {
    return this.locked.get(id(bucket, key));
  }

  override async head(bucket: string, key: string, options: Pick<ReadOptions, "versionId"> = {}): Promise<RemoteObject | undefined> {
    const entry = this.pinned(bucket, key);
    if (!entry) return this.inner.head(bucket, key, options);
    const found = await this.inner.head(bucket, key, { versionId: entry.versionId });
    if (found?.etag !== entry.etag) throw await this.mismatch(entry, found);
    return found;
  }

  override async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    const entry = this.pinned(bucket, key);
    if (!entry) return this.inner.get(bucket, key, options);
    // a caller's If-Match for another ETag cannot hold for the locked version
    if (options.ifMatch !== undefined && options.ifMatch !== entry.etag) throw await this.mismatch(entry, undefined);
    let read: RemoteRead | undefined;
    try {
      read = await this.inner.get(bucket, key, { ...options, ifMatch: entry.etag, versionId: entry.versionId });
    } catch (error) {
      if (error instanceof S3Error && error.code === "PreconditionFailed") throw await this.mismatch(entry, undefined);
      throw error;
    }
    if (!read) throw await this.mismatch(entry, undefined);
    return read;
  }

  /**
   * The remote's listing with locked keys as locked (also those it no longer
   * has) and, strict, only those. Pages until `limit` entries or the end, so a
   * short page still means the end of the listing.
   */
  override async list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]> {
    const limit = Math.min(options.limit, 1000);
    const prefix = options.prefix ?? "";
    const merged: RemoteObject[] = [];
    for (let after = options.startAfter; merged.length < limit;) {
      const page = await this.inner.list(bucket, { prefix: options.prefix, startAfter: after, limit });
      // a full page ends at its last key: locked keys beyond it come with later pages
      const last = page.length === limit ? page[page.length - 1]!.key : undefined;
      const lockedHere = (this.byBucket.get(bucket) ?? []).filter((entry) => entry.key.startsWith(prefix)
        && (after === undefined || compareKeys(entry.key, after) > 0) && (last === undefined || compareKeys(entry.key, last) <= 0));
      const listed = new Map(page.map((object) => [object.key, object]));
      const entries = this.lock.strict ? [] : page.filter((object) => !this.entry(bucket, object.key));
      for (const entry of lockedHere) entries.push(lockedObject(entry, listed.get(entry.key)));
      merged.push(...entries.sort((a, b) => compareKeys(a.key, b.key)));
      if (last === undefined) break;
      after = last;
    }
    return merged.slice(0, limit);
  }

  /** The lock's entry for the key; throws for a key outside a strict lock. */
  private pinned(bucket: string, key: string): LockEntry | undefined {
    const entry = this.entry(bucket, key);
    if (!entry && this.lock.strict) {
      throw new S3Error("AccessDenied", `${bucket}/${escapeKey(key)} is not in the lockfile, and S3_OVERLAY_LOCK_STRICT refuses keys outside it`, { Key: key });
    }
    return entry;
  }

  /** 412 naming the key, the locked version and what the remote has instead (looked up when not known). */
  private async mismatch(entry: LockEntry, found: RemoteObject | undefined): Promise<S3Error> {
    let current = found;
    if (!current) current = await this.inner.head(entry.bucket, entry.key).catch(() => undefined);
    const locked = describeVersion(entry.etag, entry.versionId);
    const now = current ? describeVersion(current.etag, current.versionId) : "no such object";
    return new S3Error(
      "PreconditionFailed",
      `${entry.bucket}/${escapeKey(entry.key)} is locked at ${locked}, but the remote no longer has that version (it has ${now})`,
      { Key: entry.key, Condition: "If-Match" },
    );
  }
}

/** The remote as the settings fix it: pinned to a lockfile (S3_OVERLAY_LOCK), or as it is. */
export async function pinnedRemote(store: ObjectStore & OverlayMarkers, settings: OverlaySettings, remote: RemoteApi | undefined): Promise<RemoteApi | undefined> {
  if (!remote || !settings.lock) return remote;
  const lock = { entries: await readLockfile(settings.lock.file), strict: settings.lock.strict };
  await dropUnlockedCopies(store, lock);
  return new PinnedRemote(remote, lock);
}

/**
 * Drops cached copies of locked keys that hold another version (mirrored before
 * the lock) and forgets remembered 404s of them: a hit never asks the remote, so
 * what the cache holds of a locked key must be the locked version. Client writes stay.
 */
export async function dropUnlockedCopies(store: ObjectStore & OverlayMarkers, lock: LockSettings): Promise<number> {
  let dropped = 0;
  for (const entry of lock.entries) {
    const local = await store.headObject(entry.bucket, entry.key);
    if (local?.origin === "remote" && local.etag !== entry.etag && (await store.deleteObject(entry.bucket, entry.key))) dropped++;
    await store.forgetAbsent(entry.bucket, entry.key);
  }
  return dropped;
}

/** A listing entry of a locked key: its locked size and ETag. */
function lockedObject(entry: LockEntry, listed: RemoteObject | undefined): RemoteObject {
  return {
    key: entry.key, size: entry.size, etag: entry.etag,
    // the lock keeps no dates: the remote's while it still lists that version
    lastModified: listed?.etag === entry.etag ? listed.lastModified : new Date(0),
    headers: {}, userMetadata: {}, ...(entry.versionId ? { versionId: entry.versionId } : {}),
  };
}

function describeVersion(etag: string, versionId: string | undefined): string {
  return `ETag "${etag}"${versionId ? ` (version ${versionId})` : ""}`;
}

function id(bucket: string, key: string): string {
  return `${bucket}\n${key}`;
}
