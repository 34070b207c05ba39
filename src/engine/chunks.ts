// Chunked caching of large remote objects. A chunk is identified by bucket,
// key, remote ETag, chunk size and index; it is fetched with If-Match so one
// response is never assembled from two versions, checksummed when written and
// verified when read (a corrupt chunk is fetched again, never served). A chunk
// whose connection is lost mid-way resumes where it stopped (resume.ts).
// A chunk the disk has no room for is read straight from the remote and not
// kept; one that runs out of disk midway goes on from memory for its readers.
import { randomBytes } from "node:crypto";
import path from "node:path";
import { once } from "node:events";
import { PassThrough, pipeline, Readable } from "node:stream";
import { BLOCK_SIZE, BlockCrcs, blockExtent, blockMatches, decodeBlockChecksums, encodeBlockChecksums } from "../block-crc.js";
import { S3Error, errors } from "../s3/errors.js";
import {
  FILE_SPANS, fileSpansOf, REST_AFTER_CORRUPT, type ByteRange, type ChunkInfo, type ChunkKey, type ChunkStore, type FileSpan, type ObjectInfo,
  type ObjectStore,
} from "../store/types.js";
import type { DiskSpace } from "./disk-space.js";
import type { OpenedRead } from "./overlay.js";
import type { RemoteApi } from "./remote.js";
import { discard, remoteRange } from "./resume.js";
import { Spool } from "./spool.js";
import { chunkAfterChunk } from "./chunk-stream.js";
import { chunkId, chunkKey, first, last, versionOf, withinChunk } from "./chunk-keys.js";

/** chunks are verified in blocks of at least 1 MiB, at most 64 blocks a chunk (the checksum list stays short) */
function blockSizeFor(chunkSize: number): number {
  return Math.max(1 << 20, Math.ceil(chunkSize / 64));
}

/** a cold read starting this far into a chunk is fetched directly instead of waiting for the chunk's fill */
const DIRECT_RANGE_AFTER = 1 << 20;

export interface ChunkSettings {
  chunkThreshold: number;
  chunkSize: number;
  /** chunks fetched ahead of a sequential reader, at most, per read */
  maxInflightChunks: number;
}

/** Counters for status and tests: what came from where. */
export interface ChunkStats {
  fetched: number;
  fetchedBytes: number;
  hits: number;
  corrupt: number;
  /** reads that joined a chunk fetch already running */
  coalesced: number;
}

/** One chunk being fetched from the remote: readers tail its spool file. */
interface ChunkFill {
  spool: Promise<Spool>;
  size: number;
  /** settles when the chunk is committed (or failed); never rejects */
  done: Promise<void>;
  /** why it failed, once done */
  error?: Error;
}

export class ObjectChangedError extends S3Error {
  constructor(bucket: string, key: string) {
    super("PreconditionFailed", `${bucket}/${key} changed on the remote during the read; retry to read the new version`, { Condition: "If-Match" });
  }
}

export class ChunkCache {
  readonly stats: ChunkStats = { fetched: 0, fetchedBytes: 0, hits: 0, corrupt: 0, coalesced: 0 };
  private readonly fills = new Map<string, ChunkFill>();
  /** where each object's last read ended: a read starting there is sequential */
  private readonly lastEnds = new Map<string, number>();

  constructor(
    private readonly store: ChunkStore & Pick<ObjectStore, "adoptFile">,
    private readonly remote: RemoteApi,
    private readonly spoolDir: string,
    readonly settings: ChunkSettings,
    private readonly space: DiskSpace,
    /** called when the remote object changed under a manifest */
    private readonly onChanged: (info: ObjectInfo) => Promise<void>,
  ) {}

  /**
   * Opens `range` of a manifest with one lookup of the chunks it overlaps
   * (chunksIn, never a listing of the object's chunks): a hit if all of them are
   * in the store. The chunks found are read without being looked up again.
   */
  async open(info: ObjectInfo, range: ByteRange): Promise<OpenedRead> {
    const present = await this.store.chunksIn(versionOf(info), range);
    this.stats.hits += present.length;
    const known = new Map(present.map((chunk) => [chunk.index, chunk]));
    if (present.length < last(range, info) - first(range, info) + 1) return { body: this.read(info, range, known), cache: "miss" };
    const { files, spans } = this.openFiles(info, range, present);
    const body = this.read(info, range, known, files);
    if (spans === undefined) return { body, cache: "hit" };
    // the pooled sender sends these as it sends a whole-object hit (send-file.ts; through `body`
    // it read at 0.28x of one); a block failing its check sends the rest through `body`'s path, which fetches it anew
    return {
      body: Object.assign(body, {
        [FILE_SPANS]: spans,
        [REST_AFTER_CORRUPT]: (offset: number) => this.read(info, { start: range.start + offset, end: range.end }, new Map()),
      }),
      cache: "hit",
    };
  }

  /**
   * The range's chunks opened for reading (as `body` would, so it reads these), each
   * with its block checks. If the store keeps them as files, also their spans: each
   * file stays pinned (not unlinked by an eviction or refetch) until its stream closes.
   */
  private openFiles(info: ObjectInfo, range: ByteRange, chunks: ChunkInfo[]): { files: Map<number, Readable>; spans?: FileSpan[] } {
    const files = new Map<number, Readable>();
    const spans: FileSpan[] = [];
    for (const chunk of chunks) {
      const check = { ...decodeBlockChecksums(chunk.crc32), size: chunk.size };
      // the sender's buffers are one block each
      if (check.blockSize !== BLOCK_SIZE) break;
      const within = withinChunk(info, chunk.index, range);
      const file = this.store.readChunk(chunk, blockExtent(check, within.start, within.end), check);
      files.set(chunk.index, file);
      const [span, ...more] = fileSpansOf(file) ?? [];
      if (span === undefined || more.length > 0) break;
      spans.push({ ...span, start: within.start, end: within.end });
    }
    return { files, spans: spans.length === chunks.length ? spans : undefined };
  }

  /**
   * The bytes of `range`, chunk after chunk, with the next chunks fetched ahead
   * for sequential readers. `known`: chunks of the range already looked up;
   * `opened`: streams of some of them, already opened (destroyed with the read if unused).
   */
  private read(info: ObjectInfo, range: ByteRange, known: Map<number, ChunkInfo>, opened = new Map<number, Readable>()): Readable {
    const objectId = `${info.bucket}\n${info.key}\n${info.etag}`;
    // a whole-object read, or a range continuing where the last one ended, reads ahead
    const sequential = (range.start === 0 && range.end === info.size - 1) || this.lastEnds.get(objectId) === range.start - 1;
    this.lastEnds.set(objectId, range.end);
    if (this.lastEnds.size > 10_000) this.lastEnds.delete(this.lastEnds.keys().next().value!);
    const end = last(range, info);
    const aheadLimit = sequential ? Math.floor((info.size - 1) / info.chunkSize!) : end;
    const readAhead = (index: number) => {
      const aheadEnd = Math.min(aheadLimit, index + this.settings.maxInflightChunks);
      for (let ahead = index + 1; ahead <= aheadEnd; ahead++) if (!known.has(ahead)) this.prefetch(info, ahead);
    };
    const open = (index: number) => {
      const source = opened.get(index);
      opened.delete(index);
      return this.openChunk(info, index, withinChunk(info, index, range), known.get(index), source);
    };
    return chunkAfterChunk(first(range, info), end, open, readAhead, () => {
      for (const unused of opened.values()) unused.destroy();
      opened.clear();
    });
  }

  /** Starts fetching a chunk unless it is present or on its way. */
  private prefetch(info: ObjectInfo, index: number): void {
    const key = chunkKey(info, index);
    if (this.fills.has(chunkId(key))) return;
    void this.store.getChunk(key).then((present) => {
      if (!present) this.fill(info, key);
    }).catch(() => undefined);
  }

  /**
   * A stream of bytes `within` one chunk: verified local bytes, or the bytes of a
   * fill as they arrive. `known`: the chunk as a lookup found it in the store.
   */
  private async openChunk(info: ObjectInfo, index: number, within: ByteRange, known: ChunkInfo | undefined, source: Readable | undefined): Promise<Readable> {
    const key = chunkKey(info, index);
    const inFlight = this.fills.get(chunkId(key));
    if (inFlight) {
      this.stats.coalesced++;
      const spool = await inFlight.spool.catch(() => undefined);
      // still in flight after the await: its spool is open (else the chunk is in the store now)
      if (spool?.joinable && this.fills.get(chunkId(key)) === inFlight) {
        source?.destroy();
        return spool.reader(within);
      }
    }
    // a chunk the read's lookup found was counted there
    const present = known ?? (await this.store.getChunk(key));
    if (present) {
      if (!known) this.stats.hits++;
      return this.verifiedReader(info, present, within, source);
    }
    if (within.start < DIRECT_RANGE_AFTER) {
      const spool = await this.fill(info, key).spool.catch(() => undefined);
      if (spool?.joinable) return spool.reader(within);
      // no room on the disk (or it just filled up): this read comes from the remote and is not kept
      this.space.stats.passThroughDiskFull++;
      return this.directRange(info, index * key.chunkSize, within, () => undefined);
    }
    // Deep inside a cold chunk: waiting for the fill to get there would cost the
    // download of everything before it. Fetch just the range (same version, by
    // If-Match), and the whole chunk once the range's bytes are on their way, so
    // the chunk's download does not compete with the client's first bytes.
    return this.directRange(info, index * key.chunkSize, within, () => this.fill(info, key));
  }

  /** Bytes `within` the chunk starting at `chunkStart`, straight from the remote; `then` runs once they arrive. */
  private directRange(info: ObjectInfo, chunkStart: number, within: ByteRange, then: () => void): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const range = { start: chunkStart + within.start, end: chunkStart + within.end };
    const changed = () => this.onChanged(info).catch(() => undefined).then(() => out.destroy(new ObjectChangedError(info.bucket, info.key)));
    const source = Readable.from(remoteRange(this.remote, info.bucket, info.key, info.etag, range), { objectMode: false });
    source.once("data", () => (this.stats.fetchedBytes += range.end - range.start + 1));
    source.once("end", then);
    // not pipeline(): a changed object must reach the reader as ObjectChangedError, after onChanged
    source.once("error", (error) => {
      if (error instanceof S3Error && error.code === "PreconditionFailed") void changed();
      else out.destroy(error);
    });
    out.once("close", () => source.destroy());
    source.pipe(out);
    return out;
  }

  /**
   * The bytes `within` a stored chunk, each block checked against its CRC32
   * before any of it is sent, so memory per reader is one block, not one chunk.
   * A corrupt block deletes the chunk, and the rest comes from a fresh fetch.
   */
  private verifiedReader(info: ObjectInfo, chunk: ChunkInfo, within: ByteRange, opened?: Readable): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const blocks = decodeBlockChecksums(chunk.crc32);
    // start at the block holding the range's first byte, stop after the one holding its last
    const firstBlock = Math.floor(within.start / blocks.blockSize);
    const lastByte = Math.min(chunk.size, (Math.floor(within.end / blocks.blockSize) + 1) * blocks.blockSize) - 1;
    const source = opened ?? this.store.readChunk(chunk, { start: firstBlock * blocks.blockSize, end: lastByte });
    out.once("close", () => source.destroy());
    const send = async (bytes: Buffer): Promise<void> => {
      if (!out.write(bytes)) await once(out, "drain");
    };
    void (async () => {
      let block = firstBlock;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      try {
        for await (let data of source as AsyncIterable<Buffer>) {
          while (data.length > 0) {
            const blockStart = block * blocks.blockSize;
            const blockLength = Math.min(blocks.blockSize, chunk.size - blockStart);
            const take = Math.min(data.length, blockLength - pendingBytes);
            pending.push(data.subarray(0, take));
            pendingBytes += take;
            data = data.subarray(take);
            if (pendingBytes < blockLength) continue;
            const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
            pending = [];
            pendingBytes = 0;
            if (!blockMatches({ ...blocks, size: chunk.size }, block, bytes)) {
              source.destroy();
              return await this.refetchRest(info, chunk, { start: Math.max(within.start, blockStart), end: within.end }, out);
            }
            const from = Math.max(within.start, blockStart) - blockStart;
            const to = Math.min(within.end + 1, blockStart + blockLength) - blockStart;
            if (to > from) await send(bytes.subarray(from, to));
            block++;
            if (block * blocks.blockSize > within.end) {
              source.destroy();
              return void out.end();
            }
          }
        }
        throw new Error(`chunk ${chunk.index} of ${chunk.bucket}/${chunk.key} is shorter than recorded`);
      } catch {
        if (out.destroyed) return;
        // unreadable (deleted meanwhile, I/O error, short): fetch it again. Nothing was sent from
        // the failing block on, and whole blocks before it went out verified.
        await this.refetchRest(info, chunk, { start: Math.max(within.start, block * blocks.blockSize), end: within.end }, out)
          .catch((failure: Error) => out.destroy(failure));
      }
    })();
    return out;
  }

  /** After a corrupt or unreadable stored chunk: drop it and stream `rest` from a new fetch into `out`. */
  private async refetchRest(info: ObjectInfo, chunk: ChunkInfo, rest: ByteRange, out: PassThrough): Promise<void> {
    this.stats.corrupt++;
    await this.store.deleteChunk(chunk);
    const spool = await this.fill(info, chunk).spool.catch(() => undefined);
    const chunkStart = chunk.index * chunk.chunkSize;
    const reader = spool?.joinable ? spool.reader(rest) : this.directRange(info, chunkStart, rest, () => undefined);
    pipeline(reader, out, () => undefined);
  }

  /**
   * Warm: makes sure chunk `index` is in the store, fetching it unless it is
   * present. Resolves with the bytes fetched (0 if it was there) once committed.
   */
  async ensure(info: ObjectInfo, index: number): Promise<number> {
    const key = chunkKey(info, index);
    let fill = this.fills.get(chunkId(key));
    if (!fill) {
      if (await this.store.getChunk(key)) return 0;
      fill = this.fill(info, key);
    }
    await fill.done;
    if (fill.error) throw fill.error;
    if (!(await this.store.getChunk(key))) throw new Error(`chunk ${index} of ${info.bucket}/${info.key} was fetched but not kept (the object changed locally)`);
    return fill.size;
  }

  /** Chunk 0's bytes arrived with the request that discovered the object is large: use them. */
  adoptFirst(info: ObjectInfo, body: Readable): void {
    const key = chunkKey(info, 0);
    if (this.fills.has(chunkId(key))) return discard(body);
    this.fill(info, key, body);
  }

  /**
   * One chunk into a spool, committed when complete: from `source` when given,
   * else a remote ranged GET with If-Match the manifest's ETag.
   */
  private fill(info: ObjectInfo, key: ChunkKey, source?: Readable): ChunkFill {
    const id = chunkId(key);
    const existing = this.fills.get(id);
    if (existing) return existing;
    const start = key.index * key.chunkSize;
    const size = Math.min(key.chunkSize, info.size - start);
    const spoolPath = path.join(this.spoolDir, `chunk-${randomBytes(12).toString("hex")}`);
    let release: (() => void) | undefined;
    // a chunk the disk cannot take gets no spool: its readers go to the remote (open)
    const spool = this.space.reserve(size).then((reserved) => {
      release = reserved;
      if (!reserved) throw errors.storageFull();
      return Spool.create(spoolPath);
    });
    // the fill leaves the map before its spool is released: nobody joins a closed spool
    const detach = () => {
      if (this.fills.get(id) === fill) this.fills.delete(id);
    };
    const done = spool.then((opened) => this.download(info, key, size, opened, detach, source)).then(() => undefined, (error: Error) => {
      source?.destroy();
      fill.error = error;
    }).finally(() => {
      release?.();
      detach();
    });
    const fill: ChunkFill = { spool, size, done };
    this.fills.set(id, fill);
    return fill;
  }

  private async download(info: ObjectInfo, key: ChunkKey, size: number, spool: Spool, detach: () => void, source?: Readable): Promise<void> {
    const start = key.index * key.chunkSize;
    // one CRC32 per block: readers verify a block before they send it
    const blockSize = blockSizeFor(key.chunkSize);
    const blockCrcs = new BlockCrcs(blockSize);
    // only the chunk's bytes, even from a remote that ignored the range
    const bytes = remoteRange(this.remote, info.bucket, info.key, info.etag, { start, end: start + size - 1 }, source);
    try {
      for await (const data of bytes) {
        blockCrcs.update(data);
        await spool.append(data);
        if (spool.diskFull) detach();
      }
      await spool.drain();
      if (spool.received !== size) throw new Error(`remote sent ${spool.received} of ${size} bytes of chunk ${key.index} of ${info.bucket}/${info.key}`);
    } catch (error) {
      await bytes.return(undefined);
      const failure = error instanceof S3Error && error.code === "PreconditionFailed" ? new ObjectChangedError(info.bucket, info.key) : (error as Error);
      detach();
      if (spool.diskFull) this.space.markFull(`chunk ${key.index} of ${info.bucket}/${info.key}: ${spool.diskFull.message}`);
      // forget the old version before any reader hears of the failure, so its retry reads the new one
      if (failure instanceof ObjectChangedError) await this.onChanged(info).catch(() => undefined);
      spool.fail(failure);
      await spool.release(true);
      throw failure;
    }
    spool.finish();
    this.stats.fetched++;
    this.stats.fetchedBytes += size;
    if (spool.diskFull) {
      // its readers had every byte; nothing of it is kept
      detach();
      this.space.stats.passThroughDiskFull++;
      this.space.markFull(`chunk ${key.index} of ${info.bucket}/${info.key}: ${spool.diskFull.message}`);
      await spool.release(true);
      throw errors.storageFull();
    }
    let taken = false;
    try {
      const staged = await this.store.adoptFile(spool.path);
      taken = true;
      await this.store.putChunk(key, staged, encodeBlockChecksums(blockSize, blockCrcs.finish()));
    } finally {
      detach();
      await spool.release(!taken);
    }
  }
}
