import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import type { Table } from "apache-arrow";
import { migrations } from "./migrations.ts";
import { readerToArrow } from "./arrow.ts";
import { relocateArtifacts } from "./relocate.ts";

export type Params = DuckDBValue[] | Record<string, DuckDBValue>;

/** The workspace: one DuckDB file plus artifacts, run logs and scratch space beside it. */
export interface Workspace {
  readonly home: string;
  readonly dbPath: string;
  readonly connection: DuckDBConnection;
  /** Rows as plain JS objects (BIGINT comes back as bigint). */
  rows<T = Record<string, unknown>>(sql: string, params?: Params): Promise<T[]>;
  /** A query result as an Arrow table. */
  table(sql: string, params?: Params): Promise<Table>;
  run(sql: string, params?: Params): Promise<void>;
  /** Run `fn` in one transaction: all of it commits or none of it does. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /** A scratch directory inside the workspace (same file system, so renames are atomic). */
  scratchDir(): string;
  close(): void;
}

export const DEFAULT_HOME = ".tracebook";
export const DB_FILE = "workspace.duckdb";

/** `--workspace` wins, then `TRACEBOOK_HOME`, then `.tracebook` under the current directory. */
export function resolveWorkspaceHome(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(explicit ?? env.TRACEBOOK_HOME ?? DEFAULT_HOME);
}

/** Another process holds the workspace (DuckDB allows one process per database file); waiting may help. */
export class WorkspaceBusyError extends Error {}

/** The workspace's DuckDB file, named without opening it (another process may hold it). */
export function workspaceDbPath(home?: string): string {
  return path.join(resolveWorkspaceHome(home), DB_FILE);
}

export async function openWorkspace(options: { home?: string } = {}): Promise<Workspace> {
  const home = resolveWorkspaceHome(options.home);
  fs.mkdirSync(home, { recursive: true });
  const dbPath = workspaceDbPath(home);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(dbPath);
  } catch (err) {
    const reason = (err as Error).message;
    if (/lock/i.test(reason)) {
      throw new WorkspaceBusyError(`workspace ${dbPath} is open in another process (DuckDB allows one writer): ${reason}`);
    }
    throw new Error(`cannot open workspace ${dbPath}: ${reason}`);
  }
  const connection = await instance.connect();
  let inTransaction = false;

  const ws: Workspace = {
    home,
    dbPath,
    connection,
    async rows<T>(sql: string, params?: Params) {
      const reader = await connection.runAndReadAll(sql, params);
      return reader.getRowObjectsJS() as T[];
    },
    async table(sql: string, params?: Params) {
      return readerToArrow(await connection.runAndReadAll(sql, params));
    },
    async run(sql: string, params?: Params) {
      await connection.run(sql, params);
    },
    async transaction<T>(fn: () => Promise<T>) {
      if (inTransaction) throw new Error("nested workspace transactions are not supported");
      inTransaction = true;
      await connection.run("begin transaction");
      try {
        const result = await fn();
        await connection.run("commit");
        return result;
      } catch (err) {
        await connection.run("rollback").catch(() => undefined);
        throw err;
      } finally {
        inTransaction = false;
      }
    },
    scratchDir() {
      const dir = path.join(home, "tmp");
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
  try {
    await migrate(ws);
    await relocateArtifacts(ws);
  } catch (err) {
    ws.close();
    throw err;
  }
  return ws;
}

/** Apply the migrations this database has not seen, each in its own transaction. */
export async function migrate(ws: Workspace): Promise<number[]> {
  await ws.run(`create table if not exists schema_migrations (
    version integer primary key, name varchar not null, applied_at timestamp not null)`);
  const done = new Set(
    (await ws.rows<{ version: number }>("select version from schema_migrations")).map((r) => r.version),
  );
  const latest = Math.max(0, ...migrations.map((m) => m.version));
  const ahead = [...done].filter((v) => v > latest);
  if (ahead.length) {
    throw new Error(`workspace ${ws.dbPath} has schema version ${Math.max(...ahead)}, newer than this tracebook (${latest})`);
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    await ws.transaction(async () => {
      await ws.run(m.sql);
      await ws.run("insert into schema_migrations values (?, ?, ?::timestamp)", [m.version, m.name, nowUtc()]);
    });
    applied.push(m.version);
  }
  return applied;
}

/** Current time as an ISO string that DuckDB casts to a UTC TIMESTAMP. */
export function nowUtc(): string {
  return new Date().toISOString();
}
