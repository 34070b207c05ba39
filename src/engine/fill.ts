// One miss-fill: a single remote GET whose bytes go to a spool file, read by
// every client that asked for the object meanwhile, and committed to the store
// only once complete and verified (length, and MD5 where the ETag is one).
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type { ByteRange } from "../store/types.js";
import type { Remote, RemoteObject } from "./remote.js";
import { Spool } from "./spool.js";

/** Called with the complete, verified spool file; returns true if it took the file. */
export type CommitSpool = (path: string, object: RemoteObject) => Promise<boolean>;

const PLAIN_MD5 = /^[0-9a-f]{32}$/;

export class Fill {
  /** resolves with the remote object once its headers are in, or undefined for a remote 404 */
  readonly ready: Promise<RemoteObject | undefined>;
  /** settles when the fill is over (committed, or failed and cleaned up); never rejects */
  readonly done: Promise<void>;
  private spool: Spool | undefined;

  constructor(remote: Remote, bucket: string, key: string, spoolPath: string, commit: CommitSpool) {
    let resolveReady!: (object: RemoteObject | undefined) => void;
    let rejectReady!: (error: unknown) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.done = this.run(remote, bucket, key, spoolPath, commit, resolveReady, rejectReady).catch(() => undefined);
  }

  /** Bytes of the object as they arrive; only valid after `ready` resolved with an object. */
  reader(range: ByteRange): Readable {
    return this.spool!.reader(range);
  }

  private async run(
    remote: Remote, bucket: string, key: string, spoolPath: string, commit: CommitSpool,
    resolveReady: (object: RemoteObject | undefined) => void, rejectReady: (error: unknown) => void,
  ): Promise<void> {
    let read;
    try {
      read = await remote.get(bucket, key);
      if (!read) return resolveReady(undefined);
      this.spool = await Spool.create(spoolPath);
    } catch (error) {
      read?.body.destroy();
      return rejectReady(error);
    }
    const { object, body } = read;
    const spool = this.spool;
    resolveReady(object);
    const md5 = PLAIN_MD5.test(object.etag) ? createHash("md5") : undefined;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        md5?.update(chunk);
        await spool.append(chunk);
      }
      if (spool.written !== object.size) {
        throw new Error(`remote sent ${spool.written} of ${object.size} bytes of ${bucket}/${key}`);
      }
      if (md5 && md5.digest("hex") !== object.etag) {
        throw new Error(`remote bytes of ${bucket}/${key} do not match its ETag ${object.etag}`);
      }
    } catch (error) {
      body.destroy();
      spool.fail(error as Error);
      await spool.release(true);
      return;
    }
    spool.finish();
    const taken = await commit(spool.path, object).catch(() => false);
    await spool.release(!taken);
  }
}
