// Block checksums of the embedded store's blobs, in their own table of the
// catalog database. They are per blob, not per object: blobs are immutable and
// shared (a copy shares its source's, a completed multipart upload is its parts'
// blobs, whose sizes need not be multiples of a block), so each blob's blocks
// start at its own offset 0 and a read verifies whole blocks of each blob it touches.
// A row goes when its blob's last reference does (a trigger on blob_refs), so
// no catalog change needs to know about this table. A blob without a row was
// written before checksums existed (or is a chunk, which the chunk cache checks).
import type Database from "./sqlite.js";
import { S3Error } from "../../s3/errors.js";
import type { ObjectInfo } from "../types.js";
import { BLOCK_SIZE, crcsFromBytes, crcsToBytes, type BlockCheck } from "../../block-crc.js";

/** Catalog upgrade (version 3 -> 4). corrupt_at: when a read or verify found the blob's bytes corrupt. */
export const BLOB_CHECKS_SCHEMA = `
CREATE TABLE blob_checks (
  id TEXT PRIMARY KEY,
  block_size INTEGER NOT NULL,
  crcs BLOB,
  corrupt_at INTEGER
) WITHOUT ROWID;
CREATE TRIGGER blob_checks_follow_refs AFTER DELETE ON blob_refs BEGIN
  DELETE FROM blob_checks WHERE id = old.id;
END;`;

export interface BlobState {
  /** undefined for a blob without checksums */
  check?: BlockCheck;
  corrupt: boolean;
}

interface Row {
  id: string;
  block_size: number;
  crcs: Buffer | null;
  corrupt_at: number | null;
}

export class BlobChecks {
  private readonly putRow: Database.Statement;
  private readonly getRow: Database.Statement<[string], Row>;
  private readonly markRow: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.putRow = db.prepare("INSERT OR REPLACE INTO blob_checks (id, block_size, crcs, corrupt_at) VALUES (?, ?, ?, NULL)");
    this.getRow = db.prepare("SELECT id, block_size, crcs, corrupt_at FROM blob_checks WHERE id = ?");
    this.markRow = db.prepare(
      "INSERT INTO blob_checks (id, block_size, crcs, corrupt_at) VALUES (?, ?, NULL, ?) ON CONFLICT (id) DO UPDATE SET corrupt_at = excluded.corrupt_at",
    );
  }

  /** Rows of blobs that never got referenced (a commit that failed or a crash): run at open. */
  dropOrphans(): void {
    this.db.exec("DELETE FROM blob_checks WHERE id NOT IN (SELECT id FROM blob_refs)");
  }

  put(id: string, crcs: number[]): void {
    this.putRow.run(id, BLOCK_SIZE, crcsToBytes(crcs));
  }

  /** One point lookup per blob (a primary-key select costs ~2 µs). */
  states(blobs: { id: string; size: number }[]): BlobState[] {
    return blobs.map(({ id, size }) => {
      const row = this.getRow.get(id);
      if (row === undefined) return { corrupt: false };
      const state: BlobState = { corrupt: row.corrupt_at !== null };
      if (row.crcs !== null) state.check = { blockSize: row.block_size, crcs: crcsFromBytes(row.crcs), size };
      return state;
    });
  }

  /** The blobs without checksums. */
  unchecked(blobs: { id: string; size: number }[]): { id: string; size: number }[] {
    const states = this.states(blobs);
    return blobs.filter((_, index) => states[index]!.check === undefined);
  }

  /** Records checksums, computed by `compute`, for the blobs without; returns how many. */
  async recordMissing(blobs: { id: string; size: number }[], compute: (id: string) => Promise<number[]>): Promise<number> {
    const missing = this.unchecked(blobs);
    for (const { id } of missing) this.put(id, await compute(id));
    return missing.length;
  }

  markCorrupt(ids: string[], now: number): void {
    this.db.transaction(() => {
      for (const id of ids) this.markRow.run(id, BLOCK_SIZE, now);
    })();
  }
}

/**
 * What reads of a version marked corrupt answer: InternalError, as the request was fine and the
 * server cannot produce the bytes (SDKs retry a 500, which for a dropped mirror fetches it again).
 */
export function corruptObject(info: ObjectInfo): S3Error {
  return new S3Error("InternalError", `The stored bytes of ${info.bucket}/${info.key} are corrupt; write the object again to replace them`);
}
