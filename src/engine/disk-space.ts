// Free space on the disk of the data dir. A write that cannot fit is refused
// with 507 before its body is read, and a miss that cannot fit is served from
// the remote without being kept, instead of both failing halfway with ENOSPC.
// What runs concurrently reserves its bytes, so two writers that each fit but
// not together do not both start.
import { statfs } from "node:fs/promises";
import { log } from "../log.js";
import { errors } from "../s3/errors.js";

/** room kept free beyond what a write needs: the catalog (SQLite WAL) grows on every commit */
export const FREE_MARGIN = 8 * 1024 * 1024;

const NO_SPACE_CODES = new Set(["ENOSPC", "EDQUOT", "EFBIG", "SQLITE_FULL"]);

/** An error that means the disk (or quota, or file size limit) is full, not that something is broken. */
export function isNoSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && NO_SPACE_CODES.has(code);
}

/** Counters for status: how often a full disk changed what a request got. */
export interface DiskFullStats {
  /** writes (PUT, UploadPart, copies) answered 507 XMinioStorageFull */
  storageFull: number;
  /** whole-object misses and chunk reads served from the remote without being kept */
  passThroughDiskFull: number;
}

export class DiskSpace {
  readonly stats: DiskFullStats = { storageFull: 0, passThroughDiskFull: 0 };
  /** bytes promised to writes and fills in progress, not yet on disk */
  private reserved = 0;
  /** free bytes when the disk was found full; undefined while it is not */
  private freeWhenFull: number | undefined;

  constructor(private readonly dir: string) {}

  /** Bytes available to this process; Infinity when the filesystem cannot say (the write then finds out). */
  async free(): Promise<number> {
    try {
      const stats = await statfs(this.dir);
      return stats.bavail * stats.bsize;
    } catch {
      return Infinity;
    }
  }

  /**
   * Reserves `bytes` if they fit with the margin beside every other reservation;
   * returns the release function, or undefined (and marks the disk full) if not.
   */
  async reserve(bytes: number): Promise<(() => void) | undefined> {
    return this.reserveFrom(await this.free(), bytes);
  }

  /** reserve() with the free bytes just measured (free()), e.g. while waiting for something else */
  reserveFrom(free: number, bytes: number): (() => void) | undefined {
    if (bytes > free - this.reserved - FREE_MARGIN) {
      this.markFull(`${bytes} bytes wanted, ${Math.max(0, free - this.reserved)} free`, free);
      return undefined;
    }
    this.reserved += bytes;
    this.markRoom(free);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= bytes;
    };
  }

  /** A write failed for lack of space (or a reservation did not fit): say so once, until space returns. */
  markFull(why: string, free?: number): void {
    if (this.freeWhenFull !== undefined) return;
    this.freeWhenFull = free ?? 0;
    log.warn(`disk full: serving misses without caching and refusing writes (507) until space returns (${why})`);
  }

  /** Space is back once something was freed, not when a small write fits: the log does not flap with mixed sizes. */
  private markRoom(free: number): void {
    if (this.freeWhenFull === undefined || free < this.freeWhenFull + FREE_MARGIN) return;
    this.freeWhenFull = undefined;
    log.info("disk space is back: caching misses and accepting writes again");
  }

  /**
   * Runs a write with `bytes` reserved; a write that cannot fit, or that runs out
   * of space anyway, is the S3 error XMinioStorageFull (507). `bytes` undefined: only the margin is checked.
   */
  async write<T>(bytes: number | undefined, run: () => Promise<T>): Promise<T> {
    const release = await this.reserve(bytes ?? 0);
    if (!release) {
      this.stats.storageFull++;
      throw errors.storageFull();
    }
    try {
      return await run();
    } catch (error) {
      if (!isNoSpace(error)) throw error;
      this.stats.storageFull++;
      this.markFull((error as Error).message, await this.free());
      throw errors.storageFull();
    } finally {
      release();
    }
  }
}
