// Staged bytes wait in a local file: the tier wants a known Content-Length
// (RGW refuses aws-chunked bodies without one), which a client stream rarely gives.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { StagedData } from "../types.js";

const READ_BUFFER = 1 << 20;

/** A local file owned by the store until it is committed (then deleted) or discarded. */
export class StagedFile implements StagedData {
  private state: "staged" | "used" | "discarded" = "staged";

  constructor(
    readonly owner: object,
    readonly path: string,
    readonly size: number,
  ) {}

  get usable(): boolean {
    return this.state === "staged";
  }

  markUsed(): void {
    this.state = "used";
  }

  async discard(): Promise<void> {
    if (this.state === "discarded") return;
    this.state = "discarded";
    await unlink(this.path).catch(() => undefined);
  }
}

export class Staging {
  constructor(
    private readonly owner: object,
    private readonly dir: string,
  ) {}

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** The body is piped at once (no await before): an early body error must find a listener. */
  async stage(body: Readable): Promise<StagedFile> {
    const path = join(this.dir, `stage-${randomBytes(12).toString("hex")}`);
    try {
      await pipeline(body, createWriteStream(path));
    } catch (error) {
      await unlink(path).catch(() => undefined);
      throw error;
    }
    return new StagedFile(this.owner, path, (await stat(path)).size);
  }

  /** The file stays where it is (no copy), owned by the store from now on. */
  async adopt(path: string): Promise<StagedFile> {
    return new StagedFile(this.owner, path, (await stat(path)).size);
  }

  /** Claims staged files of this store; all are checked before any is claimed. */
  take(data: StagedData[]): StagedFile[] {
    for (const part of data) {
      if (!(part instanceof StagedFile) || part.owner !== this.owner) throw new Error("staged data belongs to another store");
      if (!part.usable) throw new Error("staged data was already committed or discarded");
    }
    const files = data as StagedFile[];
    for (const file of files) file.markUsed();
    return files;
  }
}

/** Bytes [start, end) of the staged files taken as one concatenation. */
export function readSpan(files: StagedFile[], start: number, end: number): Readable {
  if (files.length === 1 && end > start) return createReadStream(files[0]!.path, { start, end: end - 1, highWaterMark: READ_BUFFER });
  const out = new PassThrough({ highWaterMark: READ_BUFFER });
  void (async () => {
    let offset = 0;
    for (const file of files) {
      const from = Math.max(start - offset, 0);
      const to = Math.min(end - offset, file.size);
      offset += file.size;
      if (to <= from) continue;
      await pipeline(createReadStream(file.path, { start: from, end: to - 1, highWaterMark: READ_BUFFER }), out, { end: false });
    }
    out.end();
  })().catch((error: Error) => out.destroy(error));
  return out;
}

/** Deletes committed staged files; a leftover file is only wasted space. */
export async function removeAll(files: StagedFile[]): Promise<void> {
  await Promise.all(files.map((file) => unlink(file.path).catch(() => undefined)));
}
