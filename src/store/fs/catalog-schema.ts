// The catalog's tables and how a data dir of any older catalog version is
// brought to the current one (PRAGMA user_version counts the versions).
import type Database from "./sqlite.js";
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
  // COMPOSITE or FULL_OBJECT multipart checksums; older uploads have the default of their algorithm.
  "ALTER TABLE uploads ADD COLUMN checksum_type TEXT;",
];

const SCHEMA_VERSION = 1 + UPGRADES.length;

/**
 * Creates or upgrades the schema of `db` to SCHEMA_VERSION in one IMMEDIATE
 * transaction (the first write, so it also takes the exclusive lock). A catalog
 * newer than this build is refused rather than guessed at.
 */
export function migrate(db: Database.Database, dataDir: string): void {
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
}
