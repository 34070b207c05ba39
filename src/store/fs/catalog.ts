// The SQLite index of the embedded store: buckets, objects (with the blob ids
// holding their bytes), blob reference counts, multipart uploads and parts,
// chunks of large remote objects, tombstones, and the last-access times and
// sizes that cache accounting and eviction work from. Every change is one short
// synchronous transaction; methods that drop blob references return the ids no
// longer referenced, for the caller to delete.
import Database from "./sqlite.js";
import { join } from "node:path";
import { errors, S3Error } from "../../s3/errors.js";
import type {
  BucketInfo,
  BucketUsage,
  CachedEntry,
  ChecksumAlgorithm,
  ChunkInfo,
  ChunkKey,
  ListCachedOptions,
  ListUploadsOptions,
  ObjectInfo,
  PartInfo,
  UploadInfo,
  UsageOptions,
} from "../types.js";
import type { BlobRef } from "./blobs.js";
import { keyRange, type KeyRange } from "./key-order.js";
import { BLOB_CHECKS_SCHEMA } from "./blob-checks.js";

// TEXT keys compare with BINARY collation, i.e. in UTF-8 byte order: the order S3 lists in.
// This is version 1; UPGRADES bring it (or an older data dir) to SCHEMA_VERSION.
const SCHEMA = `
CREATE TABLE buckets (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  region TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE objects (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  origin TEXT NOT NULL,
  headers TEXT NOT NULL,
  user_metadata TEXT NOT NULL,
  checksum TEXT,
  part_sizes TEXT,
  remote TEXT,
  blobs TEXT NOT NULL,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE blob_refs (
  id TEXT PRIMARY KEY,
  refs INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  initiated INTEGER NOT NULL,
  headers TEXT NOT NULL,
  user_metadata TEXT NOT NULL,
  checksum_algorithm TEXT
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, id);
CREATE TABLE parts (
  upload_id TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  checksum TEXT,
  blob TEXT,
  PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE tombstones (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
`;

// UPGRADES[i] turns catalog version i + 1 into i + 2.
const UPGRADES = [
  // Manifests of chunked large objects (objects.chunk_size) and their chunks.
  // A chunk's blob is counted in blob_refs like any other, so crash recovery needs no special case.
  `ALTER TABLE objects ADD COLUMN chunk_size INTEGER;
  CREATE TABLE chunks (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    etag TEXT NOT NULL,
    chunk_size INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    crc32 TEXT NOT NULL,
    last_access INTEGER NOT NULL,
    PRIMARY KEY (bucket, key, etag, chunk_size, idx)
  ) WITHOUT ROWID;`,
  // Cache accounting and LRU eviction. objects.last_access starts at the fetch time of
  // mirrored objects (the best guess there is), else at Last-Modified. The access
  // indexes serve listCached; the objects one leaves out client writes (never evicted,
  // so they pay nothing for it). blob_refs.size makes diskUsage one small-row scan.
  `ALTER TABLE objects ADD COLUMN last_access INTEGER NOT NULL DEFAULT 0;
  UPDATE objects SET last_access = COALESCE(CAST(unixepoch(json_extract(remote, '$.fetchedAt'), 'subsec') * 1000 AS INTEGER), last_modified);
  CREATE INDEX objects_by_access ON objects (last_access) WHERE origin = 'remote';
  CREATE INDEX chunks_by_access ON chunks (last_access);
  ALTER TABLE blob_refs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
  UPDATE blob_refs SET size = known.size FROM (
    SELECT json_extract(blob.value, '$.id') AS id, json_extract(blob.value, '$.size') AS size FROM objects, json_each(objects.blobs) AS blob
    UNION ALL SELECT blob, size FROM parts WHERE blob IS NOT NULL
    UNION ALL SELECT blob, size FROM chunks
  ) AS known WHERE blob_refs.id = known.id;`,
  // Block checksums of blobs (blob-checks.ts); blobs of older versions have none.
  BLOB_CHECKS_SCHEMA,
  // diff and reset list client writes only: their cost follows the changes, not the cache.
  "CREATE INDEX IF NOT EXISTS objects_local ON objects (bucket, key) WHERE origin = 'local';",
];

const SCHEMA_VERSION = 1 + UPGRADES.length;

interface BucketRow {
  name: string;
  created_at: number;
  region: string;
}

interface ObjectRow {
  bucket: string;
  key: string;
  size: number;
  etag: string;
  last_modified: number;
  origin: string;
  headers: string;
  user_metadata: string;
  checksum: string | null;
  part_sizes: string | null;
  remote: string | null;
  chunk_size: number | null;
}

interface StoredRow extends ObjectRow {
  blobs: string;
  last_access: number;
}

interface UploadRow {
  id: string;
  bucket: string;
  key: string;
  initiated: number;
  headers: string;
  user_metadata: string;
  checksum_algorithm: string | null;
}

interface PartRow {
  part_number: number;
  size: number;
  etag: string;
  last_modified: number;
  checksum: string | null;
  blob: string | null;
}

interface ChunkRow {
  bucket: string;
  key: string;
  etag: string;
  chunk_size: number;
  idx: number;
  size: number;
  crc32: string;
  last_access: number;
}

interface CachedRow {
  bucket: string;
  key: string;
  etag: string;
  chunk_size: number | null;
  idx: number | null;
  bytes: number;
  last_access: number;
}

interface ObjectTotalsRow {
  bucket: string;
  mirrored_objects: number;
  mirrored_bytes: number;
  chunked_objects: number;
  chunked_bytes: number;
  chunks_total: number;
  local_objects: number;
  local_bytes: number;
}

/** An object as stored: its description and the blobs holding its bytes, in order. */
export interface StoredObject {
  info: ObjectInfo;
  blobs: BlobRef[];
  /** ms since the epoch */
  lastAccess: number;
}


/** Builds the completed object from its upload, total size and the chosen parts' sizes. */
export type DescribeCompleted = (upload: UploadInfo, size: number, partSizes: number[]) => ObjectInfo;

// HEAD and LIST skip the blob list: it can be long (one entry per part) and they do not need it.
const INFO_COLUMNS = "bucket, key, size, etag, last_modified, origin, headers, user_metadata, checksum, part_sizes, remote, chunk_size";
const OBJECT_COLUMNS = `${INFO_COLUMNS}, blobs`;
const STORED_COLUMNS = `${OBJECT_COLUMNS}, last_access`;

const CHUNK_COLUMNS = "bucket, key, etag, chunk_size, idx, size, crc32, last_access";
// The chunks primary key: every per-chunk statement is a point lookup on it.
const CHUNK_KEY = "bucket = ? AND key = ? AND etag = ? AND chunk_size = ? AND idx = ?";

// A read marks its object or chunk used at most this often: LRU needs no finer clock, and most
// reads then write nothing (a PK select measured ~2 µs, select + UPDATE ~29 µs).
const TOUCH_INTERVAL_MS = 1000;

/** A read on a full disk still reads: marking it used is skipped (SQLITE_FULL), not its answer. */
function unlessDiskFull(touch: () => unknown): void {
  try {
    touch();
  } catch (error) {
    if ((error as { code?: unknown }).code !== "SQLITE_FULL") throw error;
  }
}

export class Catalog {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

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
      db.transaction(() => {
        let version = db.pragma("user_version", { simple: true }) as number;
        if (version > SCHEMA_VERSION) throw new Error(`data dir ${dataDir} has catalog version ${version}; this s3-overlay knows up to ${SCHEMA_VERSION}`);
        if (version === 0) {
          db.exec(SCHEMA);
          version = 1;
        }
        for (; version < SCHEMA_VERSION; version++) db.exec(UPGRADES[version - 1]!);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
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
    if (stored !== undefined && now - stored.lastAccess >= TOUCH_INTERVAL_MS) {
      unlessDiskFull(() => this.sql("UPDATE objects SET last_access = ? WHERE bucket = ? AND key = ?").run(now, info.bucket, info.key));
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
      if (!sameManifest) dead.push(...this.dropChunks(info.bucket, info.key));
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
    return [...this.dropRefs(blobIds(blobsJson)), ...this.dropChunks(bucket, key)];
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

  // ---- multipart uploads

  createUpload(upload: UploadInfo): void {
    return this.inTransaction(() => {
      this.requireBucket(upload.bucket);
      this.sql("INSERT INTO uploads (id, bucket, key, initiated, headers, user_metadata, checksum_algorithm) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
        upload.uploadId,
        upload.bucket,
        upload.key,
        upload.initiated.getTime(),
        JSON.stringify(upload.headers),
        JSON.stringify(upload.userMetadata),
        upload.checksumAlgorithm ?? null,
      );
    });
  }

  getUpload(uploadId: string): UploadInfo | undefined {
    const row = this.sql<UploadRow>("SELECT * FROM uploads WHERE id = ?").get(uploadId);
    return row && toUploadInfo(row);
  }

  private requireUpload(uploadId: string): UploadInfo {
    const upload = this.getUpload(uploadId);
    if (upload === undefined) throw errors.noSuchUpload(uploadId);
    return upload;
  }

  /** Inserts or replaces a part; `blob` is undefined for an empty part. Returns the dead blob ids. */
  putPart(uploadId: string, part: PartInfo, blob: BlobRef | undefined): string[] {
    return this.inTransaction(() => {
      this.requireUpload(uploadId);
      if (blob !== undefined) this.sql("INSERT INTO blob_refs (id, refs, size) VALUES (?, 1, ?)").run(blob.id, blob.size);
      const previous = this.sql<{ blob: string | null }>("SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?").get(uploadId, part.partNumber);
      this.sql("INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, last_modified, checksum, blob) VALUES (?, ?, ?, ?, ?, ?, ?)").run(
        uploadId,
        part.partNumber,
        part.size,
        part.etag,
        part.lastModified.getTime(),
        optionalJson(part.checksum),
        blob?.id ?? null,
      );
      return previous?.blob ? this.dropRefs([previous.blob]) : [];
    });
  }

  listParts(uploadId: string): PartInfo[] {
    this.requireUpload(uploadId);
    return this.partRows(uploadId).map(toPartInfo);
  }

  private partRows(uploadId: string): PartRow[] {
    return this.sql<PartRow>("SELECT part_number, size, etag, last_modified, checksum, blob FROM parts WHERE upload_id = ? ORDER BY part_number").all(uploadId);
  }

  /** Sorted by key, initiation time and id; after (keyMarker, uploadIdMarker) as S3's ListMultipartUploads defines. */
  listUploads(bucket: string, options: ListUploadsOptions): UploadInfo[] {
    const range = keyRange(options.prefix);
    const conditions = ["bucket = ?", "key >= ?"];
    const params: unknown[] = [bucket, range.lower];
    if (range.upper !== undefined) {
      conditions.push("key < ?");
      params.push(range.upper);
    }
    if (options.keyMarker !== undefined) {
      const marker = options.uploadIdMarker === undefined ? undefined : this.getUpload(options.uploadIdMarker);
      if (marker !== undefined && marker.key === options.keyMarker) {
        conditions.push("(key, initiated, id) > (?, ?, ?)");
        params.push(marker.key, marker.initiated.getTime(), marker.uploadId);
      } else {
        conditions.push("key > ?");
        params.push(options.keyMarker);
      }
    }
    const statement = this.sql<UploadRow>(`SELECT * FROM uploads WHERE ${conditions.join(" AND ")} ORDER BY key, initiated, id LIMIT ?`);
    return statement.all(...params, options.limit).map(toUploadInfo);
  }

  /**
   * The object takes over the chosen parts' blobs (in the given order) and every
   * part and the upload are removed, all in one transaction: no data is copied.
   * Returns the object and the dead blob ids (unchosen parts, the replaced version).
   */
  completeUpload(uploadId: string, partNumbers: number[], describe: DescribeCompleted): { info: ObjectInfo; dead: string[] } {
    return this.inTransaction(() => {
      const upload = this.requireUpload(uploadId);
      const parts = new Map(this.partRows(uploadId).map((row) => [row.part_number, row]));
      const chosen = partNumbers.map((partNumber) => {
        const part = parts.get(partNumber);
        if (part === undefined) {
          throw new S3Error("InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded.", { UploadId: uploadId, PartNumber: String(partNumber) });
        }
        return part;
      });
      const blobs = chosen.flatMap((part) => (part.blob === null ? [] : [{ id: part.blob, size: part.size }]));
      const partSizes = chosen.map((part) => part.size);
      const info = describe(upload, partSizes.reduce((sum, size) => sum + size, 0), partSizes);
      // The object adds its references before the parts drop theirs, so chosen blobs stay alive.
      const dead = this.putObject(info, blobs);
      dead.push(...this.removeUpload(uploadId, [...parts.values()]));
      return { info, dead };
    });
  }

  abortUpload(uploadId: string): string[] {
    return this.inTransaction(() => {
      this.requireUpload(uploadId);
      return this.removeUpload(uploadId, this.partRows(uploadId));
    });
  }

  private removeUpload(uploadId: string, parts: PartRow[]): string[] {
    this.sql("DELETE FROM parts WHERE upload_id = ?").run(uploadId);
    this.sql("DELETE FROM uploads WHERE id = ?").run(uploadId);
    return this.dropRefs(parts.flatMap((part) => (part.blob === null ? [] : [part.blob])));
  }

  // ---- chunks of large remote objects

  /**
   * Stores `blob` as the chunk if bucket/key is a manifest with the chunk's ETag and
   * chunk size (replacing an earlier copy of the chunk). Returns whether it was
   * stored, and the dead blob ids; a refused blob was never referenced. Writing a
   * chunk marks both it and its manifest used.
   */
  putChunk(chunk: ChunkKey, blob: BlobRef, crc32: string, now: Date): { stored: boolean; dead: string[] } {
    return this.inTransaction(() => {
      const manifest = this.sql<{ etag: string; size: number; chunk_size: number | null }>("SELECT etag, size, chunk_size FROM objects WHERE bucket = ? AND key = ?").get(
        chunk.bucket,
        chunk.key,
      );
      if (manifest === undefined || manifest.etag !== chunk.etag || manifest.chunk_size !== chunk.chunkSize) return { stored: false, dead: [] };
      const expected = Math.min(chunk.chunkSize, manifest.size - chunk.index * chunk.chunkSize);
      if (!Number.isSafeInteger(chunk.index) || chunk.index < 0 || expected <= 0 || blob.size !== expected) {
        throw new Error(`chunk ${chunk.index} of ${chunk.bucket}/${chunk.key} (${manifest.size} bytes in chunks of ${chunk.chunkSize}) cannot hold ${blob.size} bytes`);
      }
      const key = chunkKeyParams(chunk);
      const previous = this.sql<{ blob: string }>(`SELECT blob FROM chunks WHERE ${CHUNK_KEY}`).get(...key);
      this.sql("INSERT INTO blob_refs (id, refs, size) VALUES (?, 1, ?)").run(blob.id, blob.size);
      this.sql(`INSERT OR REPLACE INTO chunks (${CHUNK_COLUMNS}, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...key, blob.size, crc32, now.getTime(), blob.id);
      this.sql("UPDATE objects SET last_access = ? WHERE bucket = ? AND key = ?").run(now.getTime(), chunk.bucket, chunk.key);
      return { stored: true, dead: previous ? this.dropRefs([previous.blob]) : [] };
    });
  }

  getChunk(chunk: ChunkKey): ChunkInfo | undefined {
    const row = this.sql<ChunkRow>(`SELECT ${CHUNK_COLUMNS} FROM chunks WHERE ${CHUNK_KEY}`).get(...chunkKeyParams(chunk));
    return row && toChunkInfo(row);
  }

  /**
   * The blob of `chunk` if the same bytes (size and CRC32) are still stored, marking
   * the chunk used at `now` unless that was done less than TOUCH_INTERVAL_MS before.
   * Its manifest is marked too, so a manifest is never older than its chunks (give or
   * take the interval) and LRU eviction reaches the chunks first.
   */
  touchChunk(chunk: ChunkInfo, now: number): BlobRef | undefined {
    const key = chunkKeyParams(chunk);
    const row = this.sql<{ blob: string; size: number; crc32: string; last_access: number }>(`SELECT blob, size, crc32, last_access FROM chunks WHERE ${CHUNK_KEY}`).get(...key);
    if (row === undefined || row.size !== chunk.size || row.crc32 !== chunk.crc32) return undefined;
    if (now - row.last_access >= TOUCH_INTERVAL_MS) {
      unlessDiskFull(() => this.inTransaction(() => {
        this.sql(`UPDATE chunks SET last_access = ? WHERE ${CHUNK_KEY}`).run(now, ...key);
        this.sql("UPDATE objects SET last_access = ? WHERE bucket = ? AND key = ? AND last_access < ?").run(now, chunk.bucket, chunk.key, now);
      }));
    }
    return { id: row.blob, size: row.size };
  }

  /** Returns the dead blob ids. */
  deleteChunk(chunk: ChunkKey): string[] {
    return this.inTransaction(() => {
      const row = this.sql<{ blob: string }>(`DELETE FROM chunks WHERE ${CHUNK_KEY} RETURNING blob`).get(...chunkKeyParams(chunk));
      return row ? this.dropRefs([row.blob]) : [];
    });
  }

  listChunks(bucket: string, key: string, etag: string): ChunkInfo[] {
    // Only one chunk size can be stored per version (the manifest's), so this is index order.
    const rows = this.sql<ChunkRow>(`SELECT ${CHUNK_COLUMNS} FROM chunks WHERE bucket = ? AND key = ? AND etag = ? ORDER BY chunk_size, idx`).all(bucket, key, etag);
    return rows.map(toChunkInfo);
  }

  /**
   * Drops chunks whose manifest is gone or is another version (none should exist:
   * every change that ends a manifest drops its chunks in the same transaction).
   * Run at open before blob recovery, which then deletes their files.
   */
  dropStrayChunks(): void {
    this.inTransaction(() => {
      const stray = this.sql<{ blob: string }>(
        `DELETE FROM chunks WHERE NOT EXISTS (
          SELECT 1 FROM objects o WHERE o.bucket = chunks.bucket AND o.key = chunks.key AND o.etag = chunks.etag AND o.chunk_size = chunks.chunk_size
        ) RETURNING blob`,
      ).all();
      this.dropRefs(stray.map((row) => row.blob));
    });
  }

  private dropChunks(bucket: string, key: string): string[] {
    const rows = this.sql<{ blob: string }>("DELETE FROM chunks WHERE bucket = ? AND key = ? RETURNING blob").all(bucket, key);
    return this.dropRefs(rows.map((row) => row.blob));
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

  /**
   * Per bucket, sorted by name: every bucket holding anything in scope, and the
   * filtered bucket even if it holds nothing. Three grouped scans (objects, chunks,
   * tombstones): no per-row work in JS. Chunks need no join: they exist only under
   * their manifest.
   */
  usage(options: UsageOptions): BucketUsage[] {
    const { where, params } = scopeOf(options);
    const buckets = new Map<string, BucketUsage>();
    const of = (bucket: string): BucketUsage => {
      let usage = buckets.get(bucket);
      if (usage === undefined) {
        usage = { bucket, mirroredObjects: 0, mirroredBytes: 0, chunkedObjects: 0, chunkedBytes: 0, chunksCached: 0, chunksTotal: 0, chunkBytes: 0, localObjects: 0, localBytes: 0, tombstones: 0 };
        buckets.set(bucket, usage);
      }
      return usage;
    };
    if (options.bucket !== undefined) of(options.bucket);
    // Each object is exactly one of: manifest (chunk_size set), mirrored whole object, client write.
    const objectTotals = this.sql<ObjectTotalsRow>(
      `SELECT bucket,
        SUM(chunk_size IS NULL AND origin = 'remote') AS mirrored_objects,
        SUM(CASE WHEN chunk_size IS NULL AND origin = 'remote' THEN size ELSE 0 END) AS mirrored_bytes,
        SUM(chunk_size IS NOT NULL) AS chunked_objects,
        SUM(CASE WHEN chunk_size IS NOT NULL THEN size ELSE 0 END) AS chunked_bytes,
        SUM(CASE WHEN chunk_size IS NOT NULL THEN (size + chunk_size - 1) / chunk_size ELSE 0 END) AS chunks_total,
        SUM(chunk_size IS NULL AND origin = 'local') AS local_objects,
        SUM(CASE WHEN chunk_size IS NULL AND origin = 'local' THEN size ELSE 0 END) AS local_bytes
      FROM objects ${where} GROUP BY bucket`,
    ).all(...params);
    for (const row of objectTotals) {
      Object.assign(of(row.bucket), {
        mirroredObjects: row.mirrored_objects,
        mirroredBytes: row.mirrored_bytes,
        chunkedObjects: row.chunked_objects,
        chunkedBytes: row.chunked_bytes,
        chunksTotal: row.chunks_total,
        localObjects: row.local_objects,
        localBytes: row.local_bytes,
      });
    }
    const chunkTotals = this.sql<{ bucket: string; count: number; bytes: number }>(`SELECT bucket, COUNT(*) AS count, SUM(size) AS bytes FROM chunks ${where} GROUP BY bucket`);
    for (const row of chunkTotals.all(...params)) Object.assign(of(row.bucket), { chunksCached: row.count, chunkBytes: row.bytes });
    const tombstoneTotals = this.sql<{ bucket: string; count: number }>(`SELECT bucket, COUNT(*) AS count FROM tombstones ${where} GROUP BY bucket`);
    for (const row of tombstoneTotals.all(...params)) of(row.bucket).tombstones = row.count;
    return [...buckets.values()].sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0));
  }

  /** Bytes of all referenced blobs, each counted once however many objects share it. */
  blobBytes(): number {
    return this.sql<{ bytes: number }>("SELECT COALESCE(SUM(size), 0) AS bytes FROM blob_refs").get()!.bytes;
  }

  /**
   * Mirrored objects, manifests and chunks in scope, least recently used first; on
   * equal times chunks come before objects (so before their manifest). Unfiltered,
   * each of the two queries walks its last_access index: O(limit), not O(catalog).
   * With a bucket or prefix SQLite scans that key range and sorts: O(range).
   * A manifest's size is the bytes of its chunks.
   */
  listCached(options: ListCachedOptions): CachedEntry[] {
    const { conditions, params } = scopeConditions(options);
    if (options.accessedBefore !== undefined) {
      conditions.push("last_access < ?");
      params.push(options.accessedBefore.getTime());
    }
    const scope = conditions.map((condition) => ` AND ${condition}`).join("");
    // `origin = 'remote'` is written out so SQLite can use the partial index objects_by_access.
    const objects = this.sql<CachedRow>(
      `SELECT bucket, key, etag, chunk_size, NULL AS idx, last_access,
        CASE WHEN chunk_size IS NULL THEN size
          ELSE (SELECT COALESCE(SUM(c.size), 0) FROM chunks c WHERE c.bucket = o.bucket AND c.key = o.key AND c.etag = o.etag) END AS bytes
      FROM objects o WHERE origin = 'remote'${scope} ORDER BY last_access LIMIT ?`,
    ).all(...params, options.limit);
    const chunks = this.sql<CachedRow>(`SELECT bucket, key, etag, chunk_size, idx, size AS bytes, last_access FROM chunks WHERE 1${scope} ORDER BY last_access LIMIT ?`).all(
      ...params,
      options.limit,
    );
    // Array.prototype.sort is stable: ties keep chunks first.
    return [...chunks, ...objects]
      .sort((a, b) => a.last_access - b.last_access)
      .slice(0, options.limit)
      .map(toCachedEntry);
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

/** SQL conditions (on `bucket` and `key` columns) selecting the bucket and prefix of `options`. */
function scopeConditions(options: UsageOptions): { conditions: string[]; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (options.bucket !== undefined) {
    conditions.push("bucket = ?");
    params.push(options.bucket);
  }
  if (options.prefix) {
    const range = keyRange(options.prefix);
    conditions.push("key >= ?");
    params.push(range.lower);
    if (range.upper !== undefined) {
      conditions.push("key < ?");
      params.push(range.upper);
    }
  }
  return { conditions, params };
}

function scopeOf(options: UsageOptions): { where: string; params: unknown[] } {
  const { conditions, params } = scopeConditions(options);
  return { where: conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`, params };
}

function blobIds(blobsJson: string): string[] {
  return (JSON.parse(blobsJson) as BlobRef[]).map((blob) => blob.id);
}

function optionalJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

function toBucketInfo(row: BucketRow): BucketInfo {
  return { name: row.name, createdAt: new Date(row.created_at), region: row.region };
}

function toObjectInfo(row: ObjectRow): ObjectInfo {
  const info: ObjectInfo = {
    bucket: row.bucket,
    key: row.key,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    headers: JSON.parse(row.headers),
    userMetadata: JSON.parse(row.user_metadata),
    origin: row.origin as ObjectInfo["origin"],
  };
  if (row.checksum !== null) info.checksum = JSON.parse(row.checksum);
  if (row.part_sizes !== null) info.partSizes = JSON.parse(row.part_sizes);
  if (row.chunk_size !== null) info.chunkSize = row.chunk_size;
  if (row.remote !== null) {
    // Dates were stored by JSON.stringify as ISO strings (millisecond precision).
    const remote = JSON.parse(row.remote);
    info.remote = { etag: remote.etag, size: remote.size, lastModified: new Date(remote.lastModified), fetchedAt: new Date(remote.fetchedAt) };
  }
  return info;
}

function chunkKeyParams(chunk: ChunkKey): [string, string, string, number, number] {
  return [chunk.bucket, chunk.key, chunk.etag, chunk.chunkSize, chunk.index];
}

function toCachedEntry(row: CachedRow): CachedEntry {
  const entry: CachedEntry = {
    kind: row.idx !== null ? "chunk" : row.chunk_size !== null ? "manifest" : "object",
    bucket: row.bucket,
    key: row.key,
    etag: row.etag,
    size: row.bytes,
    lastAccess: new Date(row.last_access),
  };
  if (row.idx !== null) {
    entry.chunkSize = row.chunk_size!;
    entry.index = row.idx;
  }
  return entry;
}

function toChunkInfo(row: ChunkRow): ChunkInfo {
  return {
    bucket: row.bucket,
    key: row.key,
    etag: row.etag,
    chunkSize: row.chunk_size,
    index: row.idx,
    size: row.size,
    crc32: row.crc32,
    lastAccess: new Date(row.last_access),
  };
}

function toUploadInfo(row: UploadRow): UploadInfo {
  const upload: UploadInfo = {
    uploadId: row.id,
    bucket: row.bucket,
    key: row.key,
    initiated: new Date(row.initiated),
    headers: JSON.parse(row.headers),
    userMetadata: JSON.parse(row.user_metadata),
  };
  if (row.checksum_algorithm !== null) upload.checksumAlgorithm = row.checksum_algorithm as ChecksumAlgorithm;
  return upload;
}

function toPartInfo(row: PartRow): PartInfo {
  const part: PartInfo = { partNumber: row.part_number, size: row.size, etag: row.etag, lastModified: new Date(row.last_modified) };
  if (row.checksum !== null) part.checksum = JSON.parse(row.checksum);
  return part;
}
