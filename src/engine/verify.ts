// Verify (scrub): reads every object and chunk in scope and checks it against
// what was recorded when its bytes were written: block CRC32s, size, and the MD5
// where the ETag is one (a plain MD5, or a multipart ETag whose part sizes are
// known). With repair, corrupt mirrored data is dropped (the next read fetches it
// again) and corrupt client writes are marked (reads answer InternalError) but
// never deleted: they are the only copy, and the user decides.
import { createHash, type Hash } from "node:crypto";
import type { Readable } from "node:stream";
import { BlockCrcs, CorruptBlockError, decodeBlockChecksums } from "../block-crc.js";
import { S3Error } from "../s3/errors.js";
import type { ChunkInfo, ObjectInfo, Origin, UsageOptions } from "../store/types.js";
import type { Engine } from "./engine.js";

export interface VerifyRequest {
  scope: UsageOptions;
  repair: boolean;
}

export interface CorruptEntry {
  bucket: string;
  key: string;
  kind: "object" | "chunk";
  origin: Origin;
  /** for chunks */
  index?: number;
  problem: string;
  /** what --repair did: dropped (mirrored data, refetched on the next read), marked (client write: reads answer an error) */
  action: "dropped" | "marked" | "none";
}

export interface VerifySummary {
  repair: boolean;
  objects: number;
  chunks: number;
  bytes: number;
  corrupt: CorruptEntry[];
  /** objects with data files written before block checksums existed (checked by MD5 where possible) */
  unchecked: number;
  /** of those, files that got checksums (repair, and only after their MD5 matched) */
  checksRecorded: number;
  /** corrupt entries that are still served from the store as they are: client writes, or anything without repair */
  remaining: number;
}

const PAGE = 1000;
const PLAIN_MD5 = /^[0-9a-f]{32}$/;


export async function verify(engine: Engine, request: VerifyRequest): Promise<VerifySummary> {
  const store = engine.store;
  const summary: VerifySummary = { repair: request.repair, objects: 0, chunks: 0, bytes: 0, corrupt: [], unchecked: 0, checksRecorded: 0, remaining: 0 };
  const buckets = request.scope.bucket !== undefined ? [request.scope.bucket] : (await store.listBuckets()).map((bucket) => bucket.name);
  for (const bucket of buckets) {
    if (!(await store.getBucket(bucket))) continue;
    let startAfter: string | undefined;
    for (;;) {
      const page = await store.listObjects(bucket, { prefix: request.scope.prefix, startAfter, limit: PAGE });
      for (const info of page) {
        if (info.chunkSize !== undefined) await verifyChunks(engine, info, request, summary);
        else await verifyObject(engine, info, request, summary);
      }
      if (page.length < PAGE) break;
      startAfter = page[page.length - 1]!.key;
    }
  }
  summary.remaining = summary.corrupt.filter((entry) => entry.action !== "dropped").length;
  return summary;
}

async function verifyObject(engine: Engine, info: ObjectInfo, request: VerifyRequest, summary: VerifySummary): Promise<void> {
  const store = engine.store;
  summary.objects++;
  const unchecked = (await store.uncheckedFiles?.(info)) ?? 0;
  if (unchecked > 0) summary.unchecked++;
  const digest = etagDigest(info);
  let problem: string | undefined;
  let error: Error | undefined;
  let stream: Readable | undefined;
  try {
    stream = store.readObject(info);
    let bytes = 0;
    for await (const data of stream as AsyncIterable<Buffer>) {
      bytes += data.length;
      digest?.update(data);
    }
    summary.bytes += bytes;
    if (bytes !== info.size) problem = `${bytes} bytes stored, ${info.size} recorded`;
    else if (digest && digest.result() !== info.etag) problem = "content does not match its ETag (MD5)";
  } catch (failure) {
    if (failure instanceof CorruptBlockError) problem = failure.message.replace(/ of \S+ /, " ");
    else if (failure instanceof S3Error && failure.code === "InternalError") problem = "found corrupt earlier (marked)";
    else if (failure instanceof S3Error && failure.code === "NoSuchKey") return; // replaced or deleted meanwhile
    else problem = `unreadable: ${(failure as Error).message}`;
    error = failure as Error;
  } finally {
    stream?.destroy();
  }
  if (problem === undefined) {
    // blobs without checksums get them only once their bytes proved to be the recorded ones
    if (request.repair && unchecked > 0 && digest && store.recordChecks) summary.checksRecorded += await store.recordChecks(info);
    return;
  }
  let action: CorruptEntry["action"] = "none";
  if (request.repair) {
    const marked = error instanceof S3Error && error.code === "InternalError";
    if (!marked) await engine.corruption.handle(info, error ?? new Error(problem));
    action = info.origin === "remote" ? "dropped" : marked || store.markCorrupt ? "marked" : "none";
  }
  summary.corrupt.push({ bucket: info.bucket, key: info.key, kind: "object", origin: info.origin, problem, action });
}

async function verifyChunks(engine: Engine, info: ObjectInfo, request: VerifyRequest, summary: VerifySummary): Promise<void> {
  summary.objects++;
  for (const chunk of await engine.store.listChunks(info.bucket, info.key, info.etag)) {
    summary.chunks++;
    const problem = await chunkProblem(engine, chunk, summary);
    if (problem === undefined) continue;
    if (request.repair) await engine.store.deleteChunk(chunk);
    summary.corrupt.push({ bucket: info.bucket, key: info.key, kind: "chunk", origin: "remote", index: chunk.index, problem, action: request.repair ? "dropped" : "none" });
  }
}

/** Reads a chunk and checks its size and block CRCs (the chunk cache's own record). */
async function chunkProblem(engine: Engine, chunk: ChunkInfo, summary: VerifySummary): Promise<string | undefined> {
  const recorded = decodeBlockChecksums(chunk.crc32);
  const crcs = new BlockCrcs(recorded.blockSize);
  let bytes = 0;
  try {
    for await (const data of engine.store.readChunk(chunk) as AsyncIterable<Buffer>) {
      bytes += data.length;
      crcs.update(data);
    }
  } catch (failure) {
    if (failure instanceof S3Error && failure.code === "NoSuchKey") return undefined;
    return `unreadable: ${(failure as Error).message}`;
  }
  summary.bytes += bytes;
  if (bytes !== chunk.size) return `${bytes} bytes stored, ${chunk.size} recorded`;
  const actual = crcs.finish();
  const bad = actual.findIndex((crc, index) => crc !== recorded.crcs[index]);
  return bad < 0 ? undefined : `block ${bad} does not match its CRC32`;
}

/** The ETag recomputed from the bytes, where the ETag is an MD5 the bytes determine. */
interface EtagDigest {
  update(data: Buffer): void;
  result(): string;
}

function etagDigest(info: ObjectInfo): EtagDigest | undefined {
  if (PLAIN_MD5.test(info.etag)) {
    const hash = createHash("md5");
    return { update: (data) => void hash.update(data), result: () => hash.digest("hex") };
  }
  const parts = info.partSizes;
  if (parts === undefined || !info.etag.endsWith(`-${parts.length}`)) return undefined;
  // a multipart ETag: MD5 of the parts' binary MD5s, then "-N"
  const whole = createHash("md5");
  let part = 0;
  let left = parts[0] ?? 0;
  let hash: Hash = createHash("md5");
  const endPart = () => {
    whole.update(hash.digest());
    hash = createHash("md5");
    left = parts[++part] ?? 0;
  };
  return {
    update(data) {
      for (let offset = 0; offset < data.length;) {
        while (left === 0 && part < parts.length - 1) endPart();
        const take = Math.min(left, data.length - offset);
        hash.update(data.subarray(offset, offset + take));
        left -= take;
        offset += take;
        if (take === 0) break;
      }
    },
    result() {
      while (part < parts.length) endPart();
      return `${whole.digest("hex")}-${parts.length}`;
    },
  };
}
