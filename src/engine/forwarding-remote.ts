// A RemoteApi that hands every call to another one: the base of the remotes that
// change a few answers (pinned.ts, as-of.ts) and pass the rest through.
import type { ReadOptions, RemoteApi, RemoteObject, RemoteRead, VersionPage } from "./remote.js";
import { firstBytes } from "./first-bytes.js";

export class ForwardingRemote implements RemoteApi {
  constructor(protected readonly inner: RemoteApi) {}

  get health() {
    return this.inner.health;
  }

  overlays(localBucket: string): boolean {
    return this.inner.overlays(localBucket);
  }

  mappedBuckets(): string[] {
    return this.inner.mappedBuckets();
  }

  bucketExists(bucket: string): Promise<boolean> {
    return this.inner.bucketExists(bucket);
  }

  head(bucket: string, key: string, options?: Pick<ReadOptions, "versionId">): Promise<RemoteObject | undefined> {
    return this.inner.head(bucket, key, options);
  }

  get(bucket: string, key: string, options?: ReadOptions): Promise<RemoteRead | undefined> {
    return this.inner.get(bucket, key, options);
  }

  /** through this remote's get, so an override of get applies to it too */
  getFirstBytes(bucket: string, key: string, count: number): Promise<RemoteRead | undefined> {
    return firstBytes(this, bucket, key, count);
  }

  list(bucket: string, options: { prefix?: string; startAfter?: string; limit: number }): Promise<RemoteObject[]> {
    return this.inner.list(bucket, options);
  }

  listVersions(bucket: string, options: { prefix?: string; keyMarker?: string; versionIdMarker?: string; limit: number }): Promise<VersionPage> {
    return this.inner.listVersions(bucket, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
