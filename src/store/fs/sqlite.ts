// The SQLite connection the catalog uses, with the shape of better-sqlite3's API
// (prepare/run/get/all, exec, pragma, transaction, close). It runs on Node's
// built-in node:sqlite where the runtime has it (22.13+): no native addon to
// compile on install. Older runtimes (Node 20, kept for this repo's CI) use
// better-sqlite3 when it is installed; the published package does not depend on it.
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";

export interface RunResult {
  changes: number;
}

export interface Statement<Params extends unknown[] = unknown[], Row = unknown> {
  run(...params: Params): RunResult;
  get(...params: Params): Row | undefined;
  all(...params: Params): Row[];
}

export interface OpenOptions {
  /** Milliseconds to wait for a lock another connection holds (default 0: fail at once with SQLITE_BUSY). */
  timeout?: number;
  readonly?: boolean;
}

type Transaction<Fn extends (...args: never[]) => unknown> = ((...args: Parameters<Fn>) => ReturnType<Fn>) & {
  immediate: (...args: Parameters<Fn>) => ReturnType<Fn>;
};

// The part of node:sqlite used here (@types/node 20 does not describe it).
interface NodeStatement {
  run(...params: unknown[]): { changes: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface NodeDatabase {
  prepare(source: string): NodeStatement;
  exec(source: string): void;
  close(): void;
  readonly isTransaction?: boolean;
}
interface NodeSqlite {
  DatabaseSync: new (path: string, options: { timeout?: number; readOnly?: boolean }) => NodeDatabase;
}

let nodeSqlite: NodeSqlite | undefined;
/** Which implementation this process uses. */
export const driver: "node:sqlite" | "better-sqlite3" = loadNodeSqlite() ? "node:sqlite" : "better-sqlite3";

function loadNodeSqlite(): NodeSqlite | undefined {
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (getBuiltin === undefined) return undefined;
  // Node 22 announces node:sqlite with an ExperimentalWarning on load; the API used here is
  // stable across 22.13-24, so that one warning is dropped (Node 24 no longer emits it).
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "ExperimentalWarning" && text.startsWith("SQLite")) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    nodeSqlite = getBuiltin("node:sqlite") as NodeSqlite | undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
  return nodeSqlite;
}

function loadBetterSqlite3(): typeof BetterSqlite3 {
  try {
    return createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
  } catch (error) {
    throw new Error(`s3-overlay needs Node.js 22.13 or later (for node:sqlite); on ${process.version} it needs better-sqlite3 installed beside it`, {
      cause: error,
    });
  }
}

// SQLite's primary result codes, by the names better-sqlite3 gives its errors.
const RESULT_CODES: Record<number, string> = {
  1: "SQLITE_ERROR",
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  8: "SQLITE_READONLY",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  19: "SQLITE_CONSTRAINT",
  26: "SQLITE_NOTADB",
};

// node:sqlite errors carry code ERR_SQLITE_ERROR and the numeric errcode: give them the
// SQLITE_* code that callers (and better-sqlite3) use.
function named(error: unknown): unknown {
  const sqliteError = error as { code?: unknown; errcode?: unknown };
  if (sqliteError?.code === "ERR_SQLITE_ERROR" && typeof sqliteError.errcode === "number") {
    sqliteError.code = RESULT_CODES[sqliteError.errcode & 0xff] ?? `SQLITE_${sqliteError.errcode}`;
  }
  return error;
}

// better-sqlite3 binds undefined as NULL; node:sqlite refuses it.
function bindable(params: unknown[]): unknown[] {
  for (let i = 0; i < params.length; i++) if (params[i] === undefined) params[i] = null;
  return params;
}

class NodeStatementAdapter implements Statement {
  constructor(private readonly statement: NodeStatement) {}

  run(...params: unknown[]): RunResult {
    try {
      return { changes: Number(this.statement.run(...bindable(params)).changes) };
    } catch (error) {
      throw named(error);
    }
  }

  get(...params: unknown[]): unknown {
    try {
      return this.statement.get(...bindable(params));
    } catch (error) {
      throw named(error);
    }
  }

  all(...params: unknown[]): unknown[] {
    try {
      return this.statement.all(...bindable(params));
    } catch (error) {
      throw named(error);
    }
  }
}

class Database {
  private readonly native: NodeDatabase | BetterSqlite3.Database;
  private readonly viaNode: boolean;
  private depth = 0; // open transactions and savepoints

  constructor(path: string, options: OpenOptions = {}) {
    const timeout = options.timeout ?? 5000; // better-sqlite3's default
    if (nodeSqlite !== undefined) {
      this.viaNode = true;
      try {
        this.native = new nodeSqlite.DatabaseSync(path, { timeout, readOnly: options.readonly ?? false });
      } catch (error) {
        throw named(error);
      }
    } else {
      this.viaNode = false;
      this.native = new (loadBetterSqlite3())(path, { timeout, readonly: options.readonly ?? false });
    }
  }

  prepare<Row = unknown>(source: string): Statement<unknown[], Row> {
    if (!this.viaNode) return (this.native as BetterSqlite3.Database).prepare(source) as Statement<unknown[], Row>;
    try {
      return new NodeStatementAdapter((this.native as NodeDatabase).prepare(source)) as Statement<unknown[], Row>;
    } catch (error) {
      throw named(error);
    }
  }

  exec(source: string): void {
    try {
      this.native.exec(source);
    } catch (error) {
      throw named(error);
    }
  }

  /** Runs `PRAGMA <source>`: its rows, or with `simple` the first column of its first row. */
  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    if (!this.viaNode) return (this.native as BetterSqlite3.Database).pragma(source, options);
    const statement = this.prepare<Record<string, unknown>>(`PRAGMA ${source}`);
    if (!options.simple) return statement.all();
    const row = statement.get();
    return row === undefined ? undefined : Object.values(row)[0];
  }

  /**
   * Wraps `fn` in a transaction: BEGIN (or BEGIN IMMEDIATE) ... COMMIT, rolled back if it
   * throws; called inside another transaction it becomes a savepoint, as in better-sqlite3.
   */
  transaction<Fn extends (...args: never[]) => unknown>(fn: Fn): Transaction<Fn> {
    if (!this.viaNode) return (this.native as BetterSqlite3.Database).transaction(fn) as unknown as Transaction<Fn>;
    const run = (begin: string) => (...args: Parameters<Fn>) => this.inTransaction(begin, () => fn(...args) as ReturnType<Fn>);
    return Object.assign(run("BEGIN"), { immediate: run("BEGIN IMMEDIATE") });
  }

  close(): void {
    this.native.close();
  }

  private inTransaction<Result>(begin: string, fn: () => Result): Result {
    const savepoint = this.depth > 0 ? `s3o_${this.depth}` : undefined;
    this.exec(savepoint ? `SAVEPOINT ${savepoint}` : begin);
    this.depth++;
    let result: Result;
    try {
      result = fn();
    } catch (error) {
      this.depth--;
      // SQLite may already have rolled back (e.g. SQLITE_FULL): then there is nothing to undo,
      // and the error to report is the first one.
      if ((this.native as NodeDatabase).isTransaction !== false) {
        try {
          this.exec(savepoint ? `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}` : "ROLLBACK");
        } catch {
          // no transaction was left open (Node before 22.16 cannot say so beforehand)
        }
      }
      throw error;
    }
    this.depth--;
    this.exec(savepoint ? `RELEASE ${savepoint}` : "COMMIT");
    return result;
  }
}

// Types under the names better-sqlite3 gives them, so catalog.ts reads the same with either.
type Connection = Database;
type PreparedStatement<Params extends unknown[] = unknown[], Row = unknown> = Statement<Params, Row>;
// eslint-disable-next-line @typescript-eslint/no-namespace
declare namespace Database {
  export type Database = Connection;
  export type Statement<Params extends unknown[] = unknown[], Row = unknown> = PreparedStatement<Params, Row>;
}

export default Database;
