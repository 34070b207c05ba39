// The SQLite index of the embedded store: buckets, objects (with the blob ids
// holding their bytes), blob reference counts, multipart uploads and parts,
// chunks of large remote objects, tombstones, and the last-access times and
// sizes that cache accounting and eviction work from. Every change is one short
// synchronous transaction; methods that drop blob references return the ids no
// longer referenced, for the caller to delete.
import Database from "./sqlite.js";
import { join } from "node:path";
import { errors, S3Error } from "../../s3/errors.js";
import type { BucketInfo, BucketUsage, ByteRange, CachedEntry, ChunkInfo, ChunkKey, ChunkVersion, ListCachedOptions, ListUploadsOptions, ObjectInfo, PartInfo, UploadInfo, UsageOptions } from "../types.js";
import type { BlobRef } from "./blobs.js";
import { keyRange, type KeyRange } from "./key-order.js";
import { migrate } from "./catalog-schema.js";
import * as accounting from "./catalog-accounting.js";
import * as multipart from "./catalog-uploads.js";
import * as chunks from "./catalog-chunks.js";
import {
  blobIds,
  CHUNK_KEY,
  chunkKeyParams,
  INFO_COLUMNS,
  optionalJson,
  STORED_COLUMNS,
  toBucketInfo,
  toObjectInfo,
  type BucketRow,
  type CatalogScope,
  type ObjectRow,
  type Prepare,
  type StoredRow,
} from "./catalog-rows.js";

export type { DescribeCompleted } from "./catalog-uploads.js";

/** An object as stored: its description and the blobs holding its bytes, in order. */
export interface StoredObject {
  info: ObjectInfo;
  blobs: BlobRef[];
  /** ms since the epoch */
  lastAccess: number;
}

export class Catalog {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  // For the statements kept in catalog-accounting.ts, catalog-uploads.ts and catalog-chunks.ts.
  private readonly prepare: Prepare = this.sql.bind(this);
  private readonly scope: CatalogScope = {
    sql: this.prepare,
    inTransaction: this.inTransaction.bind(this),
    requireBucket: this.requireBucket.bind(this),
    dropRefs: this.dropRefs.bind(this),
    putObject: this.putObject.bind(this),
  };

  /**
   * Opens (creating if needed) `<dataDir>/catalog.db`. The connection keeps an
   * exclusive lock on the database for its whole life (locking_mode=EXCLUSIVE,
   * taken by the first write below), and SQLite's locks die with the process: this
   * is the data dir's lock against a second s3-overlay process, with no stale lock
   * file to clean up after a crash.
   */
  static open(dataDir: string): Catalog {
    const db = new Database(join(dataDir, "catalog.db"), { timeout: 0 });
    try {
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      migrate(db, dataDir);
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === "SQLITE_BUSY") throw new Error(`data dir ${dataDir} is in use by another s3-overlay process`);
      throw error;
    }
    return new Catalog(db);
  }

  private constructor(db: Database.Database) {
    this.db = db;
  }

  close(): void {
    this.db.close();
  }

  /** For the modules that keep their own tables in this database (blob-checks.ts). */
  get database(): Database.Database {
    return this.db;
  }

  // Statements are prepared once and reused; dynamic ones (ranges) are keyed by their SQL.
  private sql<Row = unknown>(source: string): Database.Statement<unknown[], Row> {
    let statement = this.statements.get(source);
    if (statement === undefined) {
      statement = this.db.prepare(source);
      this.statements.set(source, statement);
    }
    return statement as Database.Statement<unknown[], Row>;
  }

  // ---- buckets

  listBuckets(): BucketInfo[] {
    return this.sql<BucketRow>("SELECT * FROM buckets ORDER BY name").all().map(toBucketInfo);
  }

  getBucket(name: string): BucketInfo | undefined {
    const row = this.sql<BucketRow>("SELECT * FROM buckets WHERE name = ?").get(name);
    return row && toBucketInfo(row);
  }

  createBucket(name: string, region: string, createdAt: Date): boolean {
    return this.sql("INSERT OR IGNORE INTO buckets (name, created_at, region) VALUES (?, ?, ?)").run(name, createdAt.getTime(), region).changes > 0;
  }

  // Chunks need no cleanup here: they live only while their manifest (an object) does.
  deleteBucket(name: string): void {
    return this.inTransaction(() => {
      this.requireBucket(name);
      const holdsObjects = this.sql("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1").get(name) !== undefined;
      const holdsUploads = this.sql("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1").get(name) !== undefined;
      if (holdsObjects || holdsUploads) {
        throw new S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: name });
      }
      this.sql("DELETE FROM tombstones WHERE bucket = ?").run(name);
      this.sql("DELETE FROM buckets WHERE name = ?").run(name);
    });
  }

  private requireBucket(name: string): void {
    if (this.sql("SELECT 1 FROM buckets WHERE name = ?").get(name) === undefined) throw errors.noSuchBucket(name);
  }

  // ---- objects

  headObject(bucket: string, key: string): ObjectInfo | undefined {
    const row = this.sql<ObjectRow>(`SELECT ${INFO_COLUMNS} FROM objects WHERE bucket = ? AND key = ?`).get(bucket, key);
    return row && toObjectInfo(row);
  }

  private getObject(bucket: string, key: string): StoredObject | undefined {
    const row = this.sql<StoredRow>(`SELECT ${STORED_COLUMNS} FROM objects WHERE bucket = ? AND key = ?`).get(bucket, key);
    return row && { info: toObjectInfo(row), blobs: JSON.parse(row.blobs) as BlobRef[], lastAccess: row.last_access };
  }

  /**
   * The stored object if it is still the version `info` describes. A version is
   * identified by ETag, size and Last-Modified (ms): a replacement that matches all
   * three has the same content (the ETag is the content's MD5 or the remote's identity).
   * A manifest and a whole object of the same remote version are different versions.
   */
  getVersion(info: ObjectInfo): StoredObject | undefined {
    const stored = this.getObject(info.bucket, info.key);
    const same =
      stored !== undefined &&
      stored.info.etag === info.etag &&
      stored.info.size === info.size &&
      stored.info.lastModified.getTime() === info.lastModified.getTime() &&
      stored.info.chunkSize === info.chunkSize;
    return same ? stored : undefined;
  }

  /** getVersion, marking the object used at `now` unless that was done less than TOUCH_INTERVAL_MS before. */
  touchVersion(info: ObjectInfo, now: number): StoredObject | undefined {
    const stored = this.getVersion(info);
    if (stored !== undefined && now - stored.lastAccess >= chunks.TOUCH_INTERVAL_MS) {
      chunks.unlessDiskFull(() => this.sql("UPDATE objects SET last_access = ? WHERE bucket = ? AND key = ?").run(now, info.bucket, info.key));
    }
    return stored;
  }

  /**
   * Inserts or replaces the object with bytes `blobs` (their references are added);
   * returns the dead blob ids. The key's chunks go too, unless the new version is the
   * same manifest again (e.g. a revalidation refreshing fetchedAt): same ETag, size and
   * chunk size mean the same bytes in the same chunks. A commit counts as an access.
   */
  putObject(info: ObjectInfo, blobs: BlobRef[]): string[] {
    return this.inTransaction(() => {
      this.requireBucket(info.bucket);
      for (const { id, size } of blobs) {
        this.sql("INSERT INTO blob_refs (id, refs, size) VALUES (?, 1, ?) ON CONFLICT (id) DO UPDATE SET refs = refs + 1").run(id, size);
      }
      const previous = this.sql<{ blobs: string; etag: string; size: number; chunk_size: number | null }>(
        "SELECT blobs, etag, size, chunk_size FROM objects WHERE bucket = ? AND key = ?",
      ).get(info.bucket, info.key);
      this.sql(`INSERT OR REPLACE INTO objects (${STORED_COLUMNS}) VALUES (${STORED_COLUMNS.replace(/\w+/g, "?")})`).run(
        info.bucket,
        info.key,
        info.size,
        info.etag,
        info.lastModified.getTime(),
        info.origin,
        JSON.stringify(info.headers),
        JSON.stringify(info.userMetadata),
        optionalJson(info.checksum),
        optionalJson(info.partSizes),
        optionalJson(info.remote),
        info.chunkSize ?? null,
        JSON.stringify(blobs),
        Date.now(),
      );
      // A client write brings a locally deleted key back; a mirror fill must not.
      if (info.origin === "local") this.sql("DELETE FROM tombstones WHERE bucket = ? AND key = ?").run(info.bucket, info.key);
      if (previous === undefined) return [];
      const dead = this.dropRefs(blobIds(previous.blobs));
      const sameManifest = previous.chunk_size !== null && previous.chunk_size === info.chunkSize && previous.etag === info.etag && previous.size === info.size;
      if (!sameManifest) dead.push(...chunks.dropChunks(this.scope, info.bucket, info.key));
      return dead;
    });
  }

  /** `target` shares the blobs of the current version of `source` (NoSuchKey if it changed); returns the dead blob ids. */
  copyObject(source: ObjectInfo, target: ObjectInfo): string[] {
    return this.inTransaction(() => {
      const stored = this.getVersion(source);
      if (stored === undefined) throw errors.noSuchKey(source.key);
      if (stored.info.chunkSize !== undefined) throw new Error(`${source.bucket}/${source.key} is a chunked manifest: it has no bytes to share; copy its data instead`);
      return this.putObject(target, stored.blobs);
    });
  }

  deleteObject(bucket: string, key: string): { deleted: boolean; dead: string[] } {
    return this.inTransaction(() => {
      const row = this.sql<{ blobs: string }>("DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING blobs").get(bucket, key);
      if (row === undefined) return { deleted: false, dead: [] };
      return { deleted: true, dead: this.dropObjectData(bucket, key, row.blobs) };
    });
  }

  private dropObjectData(bucket: string, key: string, blobsJson: string): string[] {
    return [...this.dropRefs(blobIds(blobsJson)), ...chunks.dropChunks(this.scope, bucket, key)];
  }

  listObjects(bucket: string, prefix: string | undefined, startAfter: string | undefined, limit: number): ObjectInfo[] {
    return this.listRange<ObjectRow>("objects", INFO_COLUMNS, bucket, keyRange(prefix, startAfter), limit).map(toObjectInfo);
  }

  /** Client writes only, in key order, through the partial index objects_local. */
  listClientWrites(bucket: string, prefix: string | undefined, startAfter: string | undefined, limit: number): ObjectInfo[] {
    const range = keyRange(prefix, startAfter);
    const upper = range.upper === undefined ? "" : " AND key < ?";
    const bounds = range.upper === undefined ? [range.lower] : [range.lower, range.upper];
    return this.sql<ObjectRow>(
      `SELECT ${INFO_COLUMNS} FROM objects INDEXED BY objects_local WHERE origin = 'local' AND bucket = ? AND key ${range.lowerInclusive ? ">=" : ">"} ?${upper} ORDER BY key LIMIT ?`,
    ).all(bucket, ...bounds, limit).map(toObjectInfo);
  }

  // The range is a plain `key >= lower AND key < upper` on the (bucket, key) primary key, so SQLite seeks instead of scanning.
  private listRange<Row>(table: string, columns: string, bucket: string, range: KeyRange, limit: number): Row[] {
    const lower = range.lowerInclusive ? ">=" : ">";
    const upper = range.upper === undefined ? "" : " AND key < ?";
    const statement = this.sql<Row>(`SELECT ${columns} FROM ${table} WHERE bucket = ? AND key ${lower} ?${upper} ORDER BY key LIMIT ?`);
    const bounds = range.upper === undefined ? [range.lower] : [range.lower, range.upper];
    return statement.all(bucket, ...bounds, limit);
  }

  /** Drops one reference per entry; returns the ids that reached zero (their rows are gone). */
  private dropRefs(ids: string[]): string[] {
    const dead: string[] = [];
    for (const id of ids) {
      const row = this.sql<{ refs: number }>("UPDATE blob_refs SET refs = refs - 1 WHERE id = ? RETURNING refs").get(id);
      if (row !== undefined && row.refs <= 0) {
        this.sql("DELETE FROM blob_refs WHERE id = ?").run(id);
        dead.push(id);
      }
    }
    return dead;
  }

  /** Ids of referenced blobs whose id starts with `shard` (two hex digits), for crash recovery. */
  referencedBlobs(shard: string): Set<string> {
    // Ids are lowercase hex, so every id starting with `shard` sorts below `shard + "g"`.
    const rows = this.sql<{ id: string }>("SELECT id FROM blob_refs WHERE id >= ? AND id < ?").all(shard, `${shard}g`);
    return new Set(rows.map((row) => row.id));
  }

  // ---- multipart uploads (catalog-uploads.ts)

  createUpload(upload: UploadInfo): void {
    multipart.createUpload(this.scope, upload);
  }

  getUpload(uploadId: string): UploadInfo | undefined {
    return multipart.getUpload(this.scope, uploadId);
  }

  /** Inserts or replaces a part; `blob` is undefined for an empty part. Returns the dead blob ids. */
  putPart(uploadId: string, part: PartInfo, blob: BlobRef | undefined): string[] {
    return multipart.putPart(this.scope, uploadId, part, blob);
  }

  listParts(uploadId: string): PartInfo[] {
    return multipart.listParts(this.scope, uploadId);
  }

  listUploads(bucket: string, options: ListUploadsOptions): UploadInfo[] {
    return multipart.listUploads(this.scope, bucket, options);
  }

  /** The object takes over the chosen parts' blobs; returns it and the dead blob ids. */
  completeUpload(uploadId: string, partNumbers: number[], describe: multipart.DescribeCompleted): { info: ObjectInfo; dead: string[] } {
    return multipart.completeUpload(this.scope, uploadId, partNumbers, describe);
  }

  abortUpload(uploadId: string): string[] {
    return multipart.abortUpload(this.scope, uploadId);
  }

  // ---- chunks of large remote objects (catalog-chunks.ts)

  /** Stores `blob` as the chunk if its manifest is still there; returns whether it was, and the dead blob ids. */
  putChunk(chunk: ChunkKey, blob: BlobRef, crc32: string, now: Date): { stored: boolean; dead: string[] } {
    return chunks.putChunk(this.scope, chunk, blob, crc32, now);
  }

  getChunk(chunk: ChunkKey): ChunkInfo | undefined {
    return chunks.getChunk(this.scope, chunk);
  }

  /** The blob of `chunk` if the same bytes are still stored, marking it and its manifest used. */
  touchChunk(chunk: ChunkInfo, now: number): BlobRef | undefined {
    return chunks.touchChunk(this.scope, chunk, now);
  }

  /** Returns the dead blob ids. */
  deleteChunk(chunk: ChunkKey): string[] {
    return chunks.deleteChunk(this.scope, chunk);
  }

  chunksIn(version: ChunkVersion, range: ByteRange): ChunkInfo[] {
    return chunks.chunksIn(this.scope, version, range);
  }

  listChunks(bucket: string, key: string, etag: string): ChunkInfo[] {
    return chunks.listChunks(this.scope, bucket, key, etag);
  }

  /** Drops chunks whose manifest is gone or is another version; run at open before blob recovery. */
  dropStrayChunks(): void {
    chunks.dropStrayChunks(this.scope);
  }

  // ---- tombstones

  putTombstone(bucket: string, key: string): void {
    return this.inTransaction(() => {
      this.requireBucket(bucket);
      this.sql("INSERT OR IGNORE INTO tombstones (bucket, key) VALUES (?, ?)").run(bucket, key);
    });
  }

  hasTombstone(bucket: string, key: string): boolean {
    return this.sql("SELECT 1 FROM tombstones WHERE bucket = ? AND key = ?").get(bucket, key) !== undefined;
  }

  listTombstones(bucket: string, prefix: string | undefined, startAfter: string | undefined, limit: number): string[] {
    return this.listRange<{ key: string }>("tombstones", "key", bucket, keyRange(prefix, startAfter), limit).map((row) => row.key);
  }

  deleteTombstone(bucket: string, key: string): boolean {
    return this.sql("DELETE FROM tombstones WHERE bucket = ? AND key = ?").run(bucket, key).changes > 0;
  }

  // ---- cache accounting and eviction

  /** Per bucket, sorted by name (catalog-accounting.ts). */
  usage(options: UsageOptions): BucketUsage[] {
    return accounting.usage(this.prepare, options);
  }

  /** Bytes of all referenced blobs, each counted once however many objects share it. */
  blobBytes(): number {
    return accounting.blobBytes(this.prepare);
  }

  /** Mirrored objects, manifests and chunks in scope, least recently used first (catalog-accounting.ts). */
  listCached(options: ListCachedOptions): CachedEntry[] {
    return accounting.listCached(this.prepare, options);
  }

  /**
   * Removes `entry` if it is still exactly that: a chunk with that key (chunks exist
   * only under a mirrored manifest), or a mirrored object or manifest with that ETag.
   * A manifest's chunks go with it. No tombstone is left: a later read refills from the remote.
   */
  evict(entry: CachedEntry): { removed: boolean; dead: string[] } {
    return this.inTransaction(() => {
      if (entry.kind === "chunk") {
        if (entry.chunkSize === undefined || entry.index === undefined) throw new Error("a chunk entry needs chunkSize and index");
        const chunk = { bucket: entry.bucket, key: entry.key, etag: entry.etag, chunkSize: entry.chunkSize, index: entry.index };
        const row = this.sql<{ blob: string }>(`DELETE FROM chunks WHERE ${CHUNK_KEY} RETURNING blob`).get(...chunkKeyParams(chunk));
        return row ? { removed: true, dead: this.dropRefs([row.blob]) } : { removed: false, dead: [] };
      }
      const chunked = entry.kind === "manifest" ? "chunk_size IS NOT NULL" : "chunk_size IS NULL";
      const row = this.sql<{ blobs: string }>(`DELETE FROM objects WHERE bucket = ? AND key = ? AND etag = ? AND origin = 'remote' AND ${chunked} RETURNING blobs`).get(
        entry.bucket,
        entry.key,
        entry.etag,
      );
      return row ? { removed: true, dead: this.dropObjectData(entry.bucket, entry.key, row.blobs) } : { removed: false, dead: [] };
    });
  }

  // Nested calls (completeUpload -> putObject) become savepoints of the outer transaction.
  private inTransaction<Result>(fn: () => Result): Result {
    return this.db.transaction(fn)();
  }
}
