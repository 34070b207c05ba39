// Warm and lockfiles: `warm --lock` records the versions it warmed, and
// `warm --locked` warms exactly the versions of a lock (through the pinned remote).
import { ConfigError, type CacheTarget } from "../config.js";
import type { Engine } from "./engine.js";
import { escapeKey, type LockEntry } from "./lockfile.js";
import { PinnedRemote } from "./pinned.js";
import type { RemoteObject } from "./remote.js";

export interface WarmCandidate {
  bucket: string;
  object: RemoteObject;
}

/**
 * The locked objects to warm (under the targets, if any). The engine must be pinned
 * to the same versions: a serve started with another lock, or none, would fill others.
 */
export function lockedCandidates(engine: Engine, locked: LockEntry[], targets: CacheTarget[], wanted: (key: string) => boolean): WarmCandidate[] {
  const pinned = engine.remote instanceof PinnedRemote ? engine.remote : undefined;
  const inScope = (entry: LockEntry) => targets.length === 0 || targets.some((target) => target.bucket === entry.bucket && entry.key.startsWith(target.prefix));
  return locked.filter((entry) => inScope(entry) && wanted(entry.key)).map((entry) => {
    const pin = pinned?.entry(entry.bucket, entry.key);
    if (!pin || pin.etag !== entry.etag || pin.size !== entry.size || pin.versionId !== entry.versionId) {
      throw new ConfigError(`warm --locked: ${entry.bucket}/${escapeKey(entry.key)} is not pinned to that version here: start serve with the same lockfile (--lock, S3_OVERLAY_LOCK)`);
    }
    const object: RemoteObject = { key: entry.key, size: entry.size, etag: entry.etag, lastModified: new Date(0), headers: {}, userMetadata: {} };
    if (entry.versionId !== undefined) object.versionId = entry.versionId;
    return { bucket: entry.bucket, object };
  });
}

/**
 * The lock of what a warm covered (its failures left out). A listing carries no
 * version IDs: one ListObjectVersions per target finds the current version of
 * each key, taken only where its ETag is the one warmed.
 */
export async function lockOfWarm(engine: Engine, targets: CacheTarget[], candidates: WarmCandidate[], failed: { bucket: string; key: string }[]): Promise<LockEntry[]> {
  const failures = new Set(failed.map(({ bucket, key }) => `${bucket}\n${key}`));
  const current = new Map<string, { versionId: string; etag: string }>();
  for (const target of targets) {
    for (let marker: { keyMarker: string; versionIdMarker?: string } | undefined, first = true; first || marker; first = false) {
      const page = await engine.remote!.listVersions(target.bucket, { prefix: target.prefix, ...marker, limit: 1000 });
      for (const version of page.versions) {
        if (version.isLatest && !version.deleteMarker) current.set(`${target.bucket}\n${version.key}`, version);
      }
      marker = page.next;
    }
  }
  return candidates.filter(({ bucket, object }) => !failures.has(`${bucket}\n${object.key}`)).map(({ bucket, object }) => {
    const latest = current.get(`${bucket}\n${object.key}`);
    const versionId = object.versionId ?? (latest?.etag === object.etag ? latest.versionId : undefined);
    const entry: LockEntry = { bucket, key: object.key, size: object.size, etag: object.etag };
    if (versionId !== undefined && versionId !== "null") entry.versionId = versionId;
    return entry;
  });
}
