// The SQLite adapter behaves as better-sqlite3 does on whichever driver this runtime uses.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import Database, { driver } from "../../src/store/fs/sqlite.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "s3o-sqlite-"));
  dirs.push(dir);
  return join(dir, "test.db");
}

describe(`sqlite adapter (${driver})`, () => {
  it("uses node:sqlite where the runtime has it", () => {
    const hasBuiltin = process.getBuiltinModule?.("node:sqlite") !== undefined;
    expect(driver).toBe(hasBuiltin ? "node:sqlite" : "better-sqlite3");
  });

  it("runs, gets and lists rows; binds undefined as NULL; counts changes", () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)");
    const insert = db.prepare("INSERT OR IGNORE INTO t (k, v) VALUES (?, ?)");
    expect(insert.run("a", 1).changes).toBe(1);
    expect(insert.run("a", 2).changes).toBe(0);
    expect(insert.run("b", undefined).changes).toBe(1);
    expect(db.prepare("SELECT * FROM t WHERE k = ?").get("a")).toEqual({ k: "a", v: 1 });
    expect(db.prepare("SELECT * FROM t WHERE k = ?").get("zz")).toBeUndefined();
    expect(db.prepare("SELECT k, v FROM t ORDER BY k").all()).toEqual([
      { k: "a", v: 1 },
      { k: "b", v: null },
    ]);
    db.close();
  });

  it("reads and sets pragmas", () => {
    const db = new Database(tempFile());
    expect(db.pragma("user_version", { simple: true })).toBe(0);
    db.pragma("user_version = 7");
    expect(db.pragma("user_version", { simple: true })).toBe(7);
    expect(db.pragma("journal_mode = WAL")).toEqual([{ journal_mode: "wal" }]);
    db.close();
  });

  it("commits, rolls back, and nests transactions as savepoints", () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE t (k TEXT PRIMARY KEY)");
    const insert = db.prepare("INSERT INTO t (k) VALUES (?)");
    const count = () => (db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n;

    expect(db.transaction((k: string) => insert.run(k).changes)("a")).toBe(1);
    expect(() =>
      db.transaction(() => {
        insert.run("b");
        throw new Error("abort");
      })(),
    ).toThrow("abort");
    expect(count()).toBe(1);

    db.transaction(() => {
      insert.run("c");
      expect(() => db.transaction(() => insert.run("a"))()).toThrow(); // duplicate: only the savepoint goes
      db.transaction(() => insert.run("d"))();
    }).immediate();
    expect(db.prepare("SELECT k FROM t ORDER BY k").all()).toEqual([{ k: "a" }, { k: "c" }, { k: "d" }]);
    db.close();
  });

  it("names errors as better-sqlite3 does: a held exclusive lock is SQLITE_BUSY", () => {
    const file = tempFile();
    const holder = new Database(file, { timeout: 0 });
    holder.pragma("locking_mode = EXCLUSIVE");
    holder.exec("CREATE TABLE t (k TEXT)");
    const other = new Database(file, { timeout: 0 });
    let code: unknown;
    try {
      other.prepare("SELECT * FROM t").get();
    } catch (error) {
      code = (error as { code?: unknown }).code;
    }
    expect(code).toBe("SQLITE_BUSY");
    other.close();
    holder.close();
  });

  it("opens read-only", () => {
    const file = tempFile();
    const writer = new Database(file);
    writer.exec("CREATE TABLE t (k TEXT)");
    writer.close();
    const reader = new Database(file, { readonly: true });
    expect(() => reader.exec("INSERT INTO t VALUES ('x')")).toThrow();
    reader.close();
  });
});
