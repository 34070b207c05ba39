// The embedded store's hot set: the bytes and catalog rows of recently read small
// objects, in memory, so a repeated GET of one costs no catalog query and no file
// open (a 4 KiB hit spent about a third of its time there, profiled). Bounded in
// bytes, least recently used out first. Correctness first: the store forgets a key
// on every write, delete, eviction or corruption of it, and a load that was running
// meanwhile is not kept, so a hit is never an older version than the catalog's.
import type { Readable } from "node:stream";
import type { HotSetStats, ObjectInfo } from "../types.js";

/**
 * Objects up to this size are kept: small fixtures, not the bulk of the data. Their
 * bytes were verified (block CRC32s) when loaded; a byte rotting on disk afterwards
 * is found by the next read from the file (once the object left the set) or `verify`.
 */
export const HOT_OBJECT_MAX_BYTES = 64 * 1024;
/** All kept bytes together (fixed; reported by `status` and /metrics). */
export const HOT_SET_MAX_BYTES = 32 * 1024 * 1024;

interface HotEntry {
  info: ObjectInfo;
  bytes: Buffer;
  /** when the catalog last heard of a read (its last_access drives eviction) */
  touchedAt: number;
}

const idOf = (bucket: string, key: string) => `${bucket}\n${key}`;

export class HotSet {
  /** in use order: a hit moves its entry to the end, the first goes when room is needed */
  private readonly entries = new Map<string, HotEntry>();
  /** loads under way, by key: forgetting the key drops its token, so the load's result is not kept */
  private readonly loading = new Map<string, symbol>();
  private bytes = 0;
  private hits = 0;

  constructor(
    private readonly maxBytes = HOT_SET_MAX_BYTES,
    private readonly maxObjectBytes = HOT_OBJECT_MAX_BYTES,
  ) {}

  /** The kept catalog row of bucket/key, if any. */
  info(bucket: string, key: string): ObjectInfo | undefined {
    return this.entries.get(idOf(bucket, key))?.info;
  }

  /**
   * The kept bytes of exactly this version, marked used; `touch` is called (to
   * tell the catalog of the read) at most once per `touchIntervalMs` per object
   * and says whether the catalog still has the version.
   */
  read(info: ObjectInfo, now: number, touchIntervalMs: number, touch: () => boolean): Buffer | undefined {
    const id = idOf(info.bucket, info.key);
    const entry = this.entries.get(id);
    if (entry === undefined || !sameVersion(entry.info, info)) return undefined;
    if (now - entry.touchedAt >= touchIntervalMs) {
      if (!touch()) {
        this.forget(info.bucket, info.key);
        return undefined;
      }
      entry.touchedAt = now;
    }
    this.entries.delete(id);
    this.entries.set(id, entry);
    this.hits++;
    return entry.bytes;
  }

  /**
   * Starts loading `info`'s bytes (once per key at a time) if the object is
   * small enough; called at the moment the catalog row was read, so that any
   * later forget() of the key discards what the load brings.
   */
  load(info: ObjectInfo, now: number, readAll: () => Promise<Buffer>): void {
    if (info.chunkSize !== undefined || info.size > this.maxObjectBytes || info.size > this.maxBytes) return;
    const id = idOf(info.bucket, info.key);
    if (this.loading.has(id) || this.entries.has(id)) return;
    const token = Symbol(id);
    this.loading.set(id, token);
    readAll().then(
      (bytes) => {
        if (this.loading.get(id) !== token) return;
        this.loading.delete(id);
        if (bytes.length === info.size) this.keep(id, { info: frozen(structuredClone(info)), bytes, touchedAt: now });
      },
      () => {
        // the normal read path reports what is wrong with the files; nothing is kept
        if (this.loading.get(id) === token) this.loading.delete(id);
      },
    );
  }

  /** Drops bucket/key and whatever a load of it under way brings. */
  forget(bucket: string, key: string): void {
    const id = idOf(bucket, key);
    this.loading.delete(id);
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.bytes -= entry.bytes.length;
  }

  clear(): void {
    this.entries.clear();
    this.loading.clear();
    this.bytes = 0;
  }

  stats(): HotSetStats {
    return { objects: this.entries.size, bytes: this.bytes, maxBytes: this.maxBytes, hits: this.hits };
  }

  private keep(id: string, entry: HotEntry): void {
    this.forget(entry.info.bucket, entry.info.key);
    while (this.bytes + entry.bytes.length > this.maxBytes) {
      const [oldest] = this.entries.values();
      this.forget(oldest!.info.bucket, oldest!.info.key);
    }
    this.entries.set(id, entry);
    this.bytes += entry.bytes.length;
  }
}

/** Collects a stream's bytes (a small object's, for load()). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of stream) pieces.push(piece as Buffer);
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

function sameVersion(kept: ObjectInfo, asked: ObjectInfo): boolean {
  return kept.etag === asked.etag && kept.size === asked.size && kept.lastModified.getTime() === asked.lastModified.getTime() && asked.chunkSize === undefined;
}

/** A kept row is shared by every reader: frozen, so a reader that changed it would fail loudly instead of changing the others' answers. */
function frozen(info: ObjectInfo): ObjectInfo {
  for (const value of Object.values(info)) if (typeof value === "object" && value !== null && !(value instanceof Date)) Object.freeze(value);
  return Object.freeze(info);
}
