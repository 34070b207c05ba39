// Time travel: the remote as it was at a past time (S3_OVERLAY_REMOTE_AS_OF).
// For each key, the version current then is the newest one (ListObjectVersions)
// last modified at or before that time; a delete marker there, or no version
// yet, means the key is absent. Reads fetch that version by its ID, so the
// overlay caches it like any other version. A key's version at a past time does
// not change, so the answer is remembered (bounded).
import { compareKeys } from "../store/fs/key-order.js";
import { ForwardingRemote } from "./forwarding-remote.js";
import type { ReadOptions, RemoteApi, RemoteObject, RemoteRead, RemoteVersion, VersionPage } from "./remote.js";

/** keys whose version at the time is remembered; beyond this the memory starts over */
const REMEMBERED = 10_000;

export class AsOfRemote extends ForwardingRemote {
  private readonly known = new Map<string, RemoteVersion | undefined>();

  constructor(inner: RemoteApi, readonly asOf: Date) {
    super(inner);
  }

  override async head(bucket: string, key: string, options: Pick<ReadOptions, "versionId"> = {}): Promise<RemoteObject | undefined> {
    const versionId = options.versionId ?? (await this.versionAt(bucket, key))?.versionId;
    return versionId === undefined ? undefined : this.inner.head(bucket, key, { versionId });
  }

  override async get(bucket: string, key: string, options: ReadOptions = {}): Promise<RemoteRead | undefined> {
    const versionId = options.versionId ?? (await this.versionAt(bucket, key))?.versionId;
    return versionId === undefined ? undefined : this.inner.get(bucket, key, { ...options, versionId });
  }

  /** Keys after startAfter under prefix that existed at the time, with the size and ETag they had then. */
  override async list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]> {
    const limit = Math.min(options.limit, 1000);
    const found: RemoteObject[] = [];
    let current: string | undefined;
    let decided = false;
    let marker: VersionPage["next"] = options.startAfter === undefined ? undefined : { keyMarker: options.startAfter };
    do {
      const page = await this.inner.listVersions(bucket, { prefix: options.prefix, ...marker, limit: 1000 });
      // versions come newest first within a key: the first one old enough decides the key
      for (const version of page.versions) {
        // RGW answers a KeyMarker with that key's versions too (AWS starts after it)
        if (options.startAfter !== undefined && compareKeys(version.key, options.startAfter) <= 0) continue;
        if (version.key !== current) [current, decided] = [version.key, false];
        if (decided || version.lastModified > this.asOf) continue;
        decided = true;
        this.remember(bucket, version);
        if (version.deleteMarker) continue;
        found.push({ key: version.key, size: version.size, etag: version.etag, lastModified: version.lastModified, headers: {}, userMetadata: {}, versionId: version.versionId });
        if (found.length === limit) return found;
      }
      marker = page.next;
    } while (marker);
    return found;
  }

  /** The version of bucket/key current at the time; undefined when it did not exist then. */
  private async versionAt(bucket: string, key: string): Promise<RemoteVersion | undefined> {
    const id = `${bucket}\n${key}`;
    if (this.known.has(id)) return this.known.get(id);
    let chosen: RemoteVersion | undefined;
    let marker: VersionPage["next"];
    scan: do {
      const page = await this.inner.listVersions(bucket, { prefix: key, ...marker, limit: 1000 });
      for (const version of page.versions) {
        // the key itself sorts first among the keys it prefixes
        if (version.key !== key) break scan;
        if (version.lastModified <= this.asOf) {
          chosen = version;
          break scan;
        }
      }
      marker = page.next;
    } while (marker);
    const version = chosen?.deleteMarker ? undefined : chosen;
    if (this.known.size >= REMEMBERED) this.known.clear();
    this.known.set(id, version);
    return version;
  }

  private remember(bucket: string, version: RemoteVersion): void {
    if (this.known.size >= REMEMBERED) this.known.clear();
    this.known.set(`${bucket}\n${version.key}`, version.deleteMarker ? undefined : version);
  }
}
