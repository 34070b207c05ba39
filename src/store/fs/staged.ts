// Staged data of the embedded store: bytes in tmp/ until a commit moves them
// into blobs/ (publish) and one catalog transaction references them
// (commitCatalog). Claimed once (takeStaged); whatever a failure leaves is removed.
import type { StagedData } from "../types.js";
import type { BlobChecks } from "./blob-checks.js";
import type { BlobFiles, BlobRef } from "./blobs.js";

/** Bytes in tmp/ of one store; used at most once (commit or putPart), after which discard() does nothing. */
export class FsStagedData implements StagedData {
  private state: "staged" | "used" | "discarded" = "staged";

  constructor(
    readonly files: BlobFiles,
    readonly id: string,
    readonly size: number,
    /** block CRCs of the bytes as they arrived; undefined: keep them unverified */
    readonly crcs: number[] | undefined,
  ) {}

  get usable(): boolean {
    return this.state === "staged";
  }

  markUsed(): void {
    this.state = "used";
  }

  async discard(): Promise<void> {
    if (this.state !== "staged") return;
    this.state = "discarded";
    await this.files.removeStaged(this.id);
  }
}

/** Claims staged data of the store that owns `files`; all are checked before any is claimed. */
export function takeStaged(files: BlobFiles, data: StagedData[]): FsStagedData[] {
  for (const part of data) {
    if (!(part instanceof FsStagedData) || part.files !== files) throw new Error("staged data belongs to another store");
    if (!part.usable) throw new Error("staged data was already committed or discarded");
  }
  const staged = data as FsStagedData[];
  for (const part of staged) part.markUsed();
  return staged;
}

/** Moves staged files into blobs/; empty ones need no blob. On failure nothing is left behind. */
export async function publish(files: BlobFiles, staged: FsStagedData[]): Promise<BlobRef[]> {
  const blobs: BlobRef[] = [];
  try {
    for (const { id, size } of staged) {
      if (size === 0) {
        await files.removeStaged(id);
      } else {
        await files.publish(id);
        blobs.push({ id, size });
      }
    }
  } catch (error) {
    files.remove(blobs.map((blob) => blob.id));
    await Promise.all(staged.map((part) => files.removeStaged(part.id)));
    throw error;
  }
  return blobs;
}

/**
 * Runs a catalog change that references the new `blobs`; deletes the blobs it made dead, or the new ones if it failed.
 * The checksums of `staged` are written first (a row whose blob never got referenced is dropped at open).
 */
export function commitCatalog(files: BlobFiles, checks: BlobChecks, blobs: BlobRef[], change: () => string[], staged: FsStagedData[] = []): void {
  let dead: string[];
  try {
    for (const { id, size, crcs } of staged) if (size > 0 && crcs !== undefined) checks.put(id, crcs);
    dead = change();
  } catch (error) {
    files.remove(blobs.map((blob) => blob.id));
    throw error;
  }
  files.remove(dead);
}
