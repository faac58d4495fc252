import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import type { Table } from "apache-arrow";
import { migrations } from "./migrations.ts";
import { relocateArtifacts } from "./relocate.ts";
import { makeDir } from "./make-dir.ts";

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
  /** A scratch directory inside the workspace (same file system, so renames are atomic); outside it when read-only. */
  scratchDir(): string;
  /** Why this workspace is open read-only (`--read-only`, a folder this user cannot write), or null. */
  readonly readOnly: string | null;
  close(): void;
}

/** A command tried to change a workspace opened read-only. */
export class ReadOnlyWorkspaceError extends Error {}

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

/**
 * Open (or make) the workspace. `readOnly` opens it as a reviewer would read a copy they must not
 * change; a workspace whose folder or database file this user cannot write (a read-only mount, a
 * colleague's folder) is opened so too. Read-only, DuckDB refuses every write (reported as a
 * `ReadOnlyWorkspaceError` naming the workspace), scratch files go to the system's temp folder,
 * and several processes may read at once.
 */
export async function openWorkspace(options: { home?: string; readOnly?: boolean } = {}): Promise<Workspace> {
  const home = resolveWorkspaceHome(options.home);
  const dbPath = workspaceDbPath(home);
  const readOnly = workspaceReadOnly(home, options.readOnly);
  if (readOnly && !fs.existsSync(dbPath)) throw new ReadOnlyWorkspaceError(`no workspace at ${home} to open read-only (${readOnly})`);
  if (!readOnly) makeDir(home);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(dbPath, readOnly ? { access_mode: "READ_ONLY" } : undefined);
  } catch (err) {
    const reason = (err as Error).message;
    if (/lock/i.test(reason)) {
      throw new WorkspaceBusyError(`workspace ${dbPath} is open in another process (DuckDB allows one writer): ${reason}`);
    }
    throw new Error(`cannot open workspace ${dbPath}${readOnly ? ` read-only (${readOnly})` : ""}: ${reason}`);
  }
  const connection = await instance.connect();
  let inTransaction = false;
  let scratch: string | null = null;
  // DuckDB says a write was refused in its words; say it in ours, naming the workspace and why.
  const refused = (err: unknown): never => {
    if (readOnly && /read-only mode/.test((err as Error).message)) {
      throw new ReadOnlyWorkspaceError(`workspace ${dbPath} is open read-only (${readOnly}): this command would change it`);
    }
    throw err;
  };

  const ws: Workspace = {
    home,
    dbPath,
    connection,
    readOnly,
    async rows<T>(sql: string, params?: Params) {
      const reader = await connection.runAndReadAll(sql, params).catch(refused);
      return reader.getRowObjectsJS() as T[];
    },
    async table(sql: string, params?: Params) {
      // Arrow (0.4 s to load through tsx) only for the commands that ask for a table.
      const { readerToArrow } = await import("./arrow.ts");
      return readerToArrow(await connection.runAndReadAll(sql, params).catch(refused));
    },
    async run(sql: string, params?: Params) {
      await connection.run(sql, params).catch(refused);
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
      if (readOnly) return (scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), "tracebook-scratch-")));
      const dir = path.join(home, "tmp");
      makeDir(dir);
      return dir;
    },
    close() {
      connection.closeSync();
      instance.closeSync();
      if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
  try {
    if (readOnly) await checkMigrated(ws);
    else await migrate(ws);
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
  const applied: number[] = [];
  for (const m of (await schemaState(ws)).pending) {
    await ws.transaction(async () => {
      await ws.run(m.sql);
      await ws.run("insert into schema_migrations values (?, ?, ?::timestamp)", [m.version, m.name, nowUtc()]);
    });
    applied.push(m.version);
  }
  return applied;
}

/** A read-only workspace cannot be migrated: it must already be at this tracebook's schema. */
async function checkMigrated(ws: Workspace): Promise<void> {
  const { at, latest, pending } = await schemaState(ws);
  if (pending.length) {
    throw new ReadOnlyWorkspaceError(`workspace ${ws.dbPath} is at schema version ${at} and this tracebook reads ${latest}; ` +
      `it is open read-only (${ws.readOnly}), so it cannot be brought up to date here: open it once where it can be written`);
  }
}

/** The migrations this database has not seen (all, before it has the table), refused when it is newer than this tracebook. */
async function schemaState(ws: Workspace): Promise<{ at: number; latest: number; pending: typeof migrations }> {
  const done = new Set((await ws.rows<{ version: number }>("select version from schema_migrations").catch(() => [])).map((r) => r.version));
  const at = Math.max(0, ...done), latest = Math.max(0, ...migrations.map((m) => m.version));
  if (at > latest) throw new Error(`workspace ${ws.dbPath} has schema version ${at}, newer than this tracebook (${latest})`);
  return { at, latest, pending: migrations.filter((m) => !done.has(m.version)) };
}

/**
 * Open the workspace, trying again while another process holds it (DuckDB lets one process at a
 * time have the file): after the n-th busy try (from 0), `retry` gives the milliseconds to wait
 * before the next, or null to give up with that try's WorkspaceBusyError (it may throw its own).
 */
export async function openWhenFree(options: { home?: string; readOnly?: boolean }, retry: (tries: number, err: WorkspaceBusyError) => number | null): Promise<Workspace> {
  for (let tries = 0; ; tries++) {
    try {
      return await openWorkspace(options);
    } catch (err) {
      if (!(err instanceof WorkspaceBusyError)) throw err;
      const wait = retry(tries, err);
      if (wait === null) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Why the workspace at `home` opens read-only: asked (`--read-only`), or this user cannot write it; null when it opens to write. */
export function workspaceReadOnly(home: string, asked?: boolean): string | null {
  return asked ? "opened with --read-only" : cannotWrite(home);
}

/** Why this user cannot write the workspace (the database file, or the folder a new file or the WAL goes into), or null. */
function cannotWrite(home: string): string | null {
  for (const target of [workspaceDbPath(home), home]) {
    try {
      fs.accessSync(target, fs.constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue;
      return code === "EROFS" ? `${target} is on a read-only file system` : `${target} cannot be written by this user`;
    }
  }
  return null;
}

/** Current time as an ISO string that DuckDB casts to a UTC TIMESTAMP. */
export function nowUtc(): string {
  return new Date().toISOString();
}
