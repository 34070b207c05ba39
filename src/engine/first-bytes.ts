// getFirstBytes in terms of get, for every RemoteApi (the real remote, the
// forwarding ones, test doubles). Its own module because remote.ts loads the
// AWS SDK: importing it from there put ~300 ms of SDK imports in front of every
// CLI command, including those that never call the remote.
import { S3Error } from "../s3/errors.js";
import type { RemoteApi, RemoteRead } from "./remote.js";

/** The first `count` bytes (all of a smaller object); an empty object answers 416 to any range, so then a plain GET. */
export async function firstBytes(remote: Pick<RemoteApi, "get">, bucket: string, key: string, count: number): Promise<RemoteRead | undefined> {
  try {
    return await remote.get(bucket, key, { range: { start: 0, end: count - 1 } });
  } catch (error) {
    if (error instanceof S3Error && error.code === "InvalidRange") return remote.get(bucket, key);
    throw error;
  }
}
