// One miss-fill: remote bytes go to a spool file, read by every client that
// asked for the object meanwhile, and committed to the store only once
// complete and verified (length, and MD5 where the ETag is one).
//
// The first request asks for the first chunk's worth of bytes only: that is the
// whole of a small object, and the size it reports decides the rest. A large
// object (above the chunk threshold) hands that response over as its first
// chunk; a medium one fetches the remainder with If-Match, so the two halves
// are always the same version. A body cut by a lost connection is resumed the
// same way (resume.ts).
//
// A disk that cannot take the object makes the fill a pass-through: known up
// front (statfs, see disk-space.ts), no spool is made and readers stream from the
// remote; found out midway (ENOSPC), the readers already attached get the rest
// from memory (spool.ts) and nothing is committed.
import { md5 } from "../digests.js";
import { BlockCrcs } from "../block-crc.js";
import type { Readable } from "node:stream";
import type { ByteRange } from "../store/types.js";
import type { DiskSpace } from "./disk-space.js";
import type { RemoteApi, RemoteObject, RemoteRead } from "./remote.js";
import { discard, remoteRange } from "./resume.js";
import { Spool } from "./spool.js";

/** Called with the complete, verified spool file and its block CRCs; returns true if it took the file. */
export type CommitSpool = (path: string, object: RemoteObject, blockCrcs: number[]) => Promise<boolean>;
/** Called when the fill stops accepting readers (just before its spool is released). */
export type Detach = () => void;

const PLAIN_MD5 = /^[0-9a-f]{32}$/;

/** What a fill found once the remote's headers were in. */
export interface FillStart {
  object: RemoteObject;
  /** larger than the chunk threshold: read it in chunks; `firstChunk` carries chunk 0's bytes */
  chunked: boolean;
  firstChunk?: Readable;
  /** the disk has no room for it: read it from the remote, nothing is kept */
  passThrough?: boolean;
}

export interface FillSizes {
  chunkSize: number;
  chunkThreshold: number;
}

export class Fill {
  /** resolves once the remote's headers are in, or with undefined for a remote 404 */
  readonly ready: Promise<FillStart | undefined>;
  /** settles when the fill is over (committed, or failed and cleaned up); never rejects */
  readonly done: Promise<void>;
  private spool: Spool | undefined;
  /** the disk filled up during the fill: late readers go to the remote */
  passedThrough = false;
  /** why the copy failed (its readers got the same error); set before `done` settles */
  failure: Error | undefined;

  constructor(
    remote: RemoteApi, bucket: string, key: string, spoolPath: string, sizes: FillSizes, private readonly space: DiskSpace,
    commit: CommitSpool, private readonly onDetach: Detach,
  ) {
    let resolveReady!: (start: FillStart | undefined) => void;
    let rejectReady!: (error: unknown) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.done = this.run(remote, bucket, key, spoolPath, sizes, commit, resolveReady, rejectReady).catch(() => undefined);
  }

  private detach(): void {
    this.detached = true;
    this.onDetach();
  }

  private detached = false;

  /**
   * Bytes of the object as they arrive (after `ready` resolved with an unchunked
   * object); undefined once the fill is over: the object is then in the store.
   */
  reader(range: ByteRange): Readable | undefined {
    return this.detached || !this.spool?.joinable ? undefined : this.spool.reader(range);
  }

  private async run(
    remote: RemoteApi, bucket: string, key: string, spoolPath: string, sizes: FillSizes, commit: CommitSpool,
    resolveReady: (start: FillStart | undefined) => void, rejectReady: (error: unknown) => void,
  ): Promise<void> {
    let first: RemoteRead | undefined;
    let release: (() => void) | undefined;
    // the spool file and the disk's free space are got while the remote answers: in turn after it,
    // they were ~1 ms of a cold 4 KiB GET's time to first byte (traced); an unused spool is removed
    const opening = Spool.create(spoolPath);
    opening.catch(() => undefined); // awaited below, or discarded
    const discardSpool = () => void opening.then((unused) => unused.release(true), () => undefined);
    const freeNow = this.space.free();
    try {
      first = await remote.getFirstBytes(bucket, key, sizes.chunkSize);
      if (!first) {
        discardSpool();
        return resolveReady(undefined);
      }
      if (first.object.size > sizes.chunkThreshold) {
        discardSpool();
        return resolveReady({ object: first.object, chunked: true, firstChunk: first.body });
      }
      release = this.space.reserveFrom(await freeNow, first.object.size);
      if (!release) {
        discardSpool();
        discard(first.body);
        this.passedThrough = true;
        return resolveReady({ object: first.object, chunked: false, passThrough: true });
      }
      this.spool = await opening;
    } catch (error) {
      discardSpool();
      if (first) discard(first.body);
      release?.();
      return rejectReady(error);
    }
    try {
      await this.copy(remote, bucket, key, first, commit, resolveReady);
    } finally {
      release();
    }
  }

  private async copy(remote: RemoteApi, bucket: string, key: string, first: RemoteRead, commit: CommitSpool, resolveReady: (start: FillStart) => void): Promise<void> {
    const { object } = first;
    const spool = this.spool!;
    resolveReady({ object, chunked: false });
    const hash = PLAIN_MD5.test(object.etag) ? md5(object.size) : undefined;
    // checksums of the bytes as fetched: every later read of the mirror is checked against them
    const crcs = new BlockCrcs();
    const bytes = remoteRange(remote, bucket, key, object.etag, { start: 0, end: object.size - 1 }, first.body);
    const noticeFull = () => this.noticeDiskFull(spool, `${bucket}/${key}`);
    try {
      for await (const chunk of bytes) {
        hash?.update(chunk);
        crcs.update(chunk);
        await spool.append(chunk);
        noticeFull();
        await hash?.ready();
      }
      await spool.drain();
      noticeFull();
      if (spool.received !== object.size) {
        throw new Error(`remote sent ${spool.received} of ${object.size} bytes of ${bucket}/${key}`);
      }
      if (hash && (await hash.digest()).toString("hex") !== object.etag) {
        throw new Error(`remote bytes of ${bucket}/${key} do not match its ETag ${object.etag}`);
      }
    } catch (error) {
      this.failure = error as Error;
      await bytes.return(undefined);
      hash?.cancel();
      this.detach();
      spool.fail(error as Error);
      await spool.release(true);
      return;
    }
    spool.finish();
    // a spool the disk could not take whole is only the readers' copy
    const taken = !spool.diskFull && (await commit(spool.path, object, crcs.finish()).catch(() => false));
    this.detach();
    await spool.release(!taken);
  }

  /** The spool ran out of disk: from now on the fill only feeds its readers; new requests start their own. */
  private noticeDiskFull(spool: Spool, what: string): void {
    if (this.passedThrough || !spool.diskFull) return;
    this.passedThrough = true;
    this.space.stats.passThroughDiskFull++;
    this.space.markFull(`filling ${what}: ${spool.diskFull.message}`);
    this.detach();
  }
}
