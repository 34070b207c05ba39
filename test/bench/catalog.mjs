// Catalog micro-benchmark: the SQLite work behind PUT, HEAD, GET (touch) and LIST, timed
// in one process. Compares SQLite drivers: run it under each Node version (node:sqlite on
// 22.13+, better-sqlite3 on 20 or with --no-experimental-sqlite).
//   node test/bench/catalog.mjs [dist dir, default ./dist] [objects, default 20000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const dist = resolve(process.argv[2] ?? "dist");
const count = Number(process.argv[3] ?? 20_000);
const { Catalog } = await import(pathToFileURL(join(dist, "store/fs/catalog.js")).href);
const { driver } = await import(pathToFileURL(join(dist, "store/fs/sqlite.js")).href);

const dir = mkdtempSync(join(tmpdir(), "s3o-catalog-bench-"));
const catalog = Catalog.open(dir);
catalog.createBucket("b", "us-east-1", new Date());
const info = (i) => ({
  bucket: "b",
  key: `dir/${String(i).padStart(8, "0")}`,
  size: 1000 + i,
  etag: "d41d8cd98f00b204e9800998ecf8427e",
  lastModified: new Date(),
  headers: { contentType: "application/octet-stream" },
  userMetadata: {},
  origin: "local",
});

// CPU time, not wall time: the numbers stay comparable on a machine other work loads.
function time(label, n, fn) {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) fn(i);
  const used = process.cpuUsage(start);
  const micros = (used.user + used.system) / n;
  console.log(`${label.padEnd(28)} ${micros.toFixed(1).padStart(7)} CPU-µs/op`);
}

console.log(`node ${process.version}, ${driver}, ${count} objects`);
time("putObject", count, (i) => catalog.putObject(info(i), [{ id: `blob${i}`, size: 1000 + i }]));
time("headObject", count, (i) => catalog.headObject("b", info(i).key));
time("getVersion", count, (i) => catalog.getVersion(info(i)));
time("listObjects (1000 keys)", 50, (i) => catalog.listObjects("b", "dir/", info(i * 100).key, 1000));
time("deleteObject", count / 2, (i) => catalog.deleteObject("b", info(i).key));
catalog.close();
rmSync(dir, { recursive: true, force: true });
