import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { openWhenFree, openWorkspace, type Workspace } from "../../cells/store/workspace.ts";
import { cellHistories } from "../../cells/graph/runs.ts";
import { modelIdsIn } from "../../cells/factory/catalog.ts";

export function tempDir(prefix = "tb-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Open the workspace, waiting (up to a minute) while another process — a watcher, the notebook server, the CLI — holds it. */
export function openWorkspaceRetrying(home: string): Promise<Workspace> {
  return openWhenFree({ home }, (i) => (i > 240 ? null : 250));
}

export async function tempWorkspace(): Promise<Workspace> {
  return openWorkspace({ home: tempDir("tb-ws-") });
}

const TABLES = ["datanets", "contributors", "contributions", "validations", "imports", "submissions", "schema_migrations"];

/** Every row of every table, as text: equal snapshots mean an unchanged database. */
export async function snapshot(ws: Workspace): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) {
    const rows = await ws.rows(`select * from ${table} order by all`);
    parts.push(`${table}:${JSON.stringify(rows, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
  }
  return parts.join("\n");
}

/** A pipeline module `<name>.pipeline.ts` with this source, in a temp folder that is an ES module package. */
export function pipelineFile(name: string, source: string): string {
  const dir = tempDir("tb-pipe-");
  fs.writeFileSync(path.join(dir, "package.json"), '{"type":"module"}\n');
  const file = path.join(dir, `${name}.pipeline.ts`);
  fs.writeFileSync(file, source);
  return file;
}

/**
 * Hold the workspace from another process, as `tracebook run` in a terminal does (DuckDB's lock is
 * per process: this one would not see its own). Resolves once held; call the result to let go.
 */
export async function holdWorkspace(home: string): Promise<() => Promise<void>> {
  const holder = spawn(process.execPath, ["--input-type=module", "-e",
    "import { DuckDBInstance } from '@duckdb/node-api'; await DuckDBInstance.create(process.argv[1]); console.log('held'); setInterval(() => {}, 1000);",
    path.join(home, "workspace.duckdb")], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once("data", () => resolve());
    holder.once("exit", (code) => reject(new Error(`the lock holder exited (${code})`)));
  });
  return async () => {
    holder.kill("SIGKILL");
    await new Promise((r) => holder.once("exit", r));
  };
}

/** The file a pipeline cell's current output is in (its last succeeded run). */
export async function outputOf(ws: Workspace, pipeline: string, cell: string): Promise<string> {
  const artifact = (await cellHistories(ws, pipeline)).get(cell)?.lastSucceeded?.artifact;
  if (!artifact) throw new Error(`${pipeline}.${cell} has no output`);
  return artifact;
}

/** The model a model cell currently outputs. */
export async function modelOfCell(ws: Workspace, pipeline: string, cell: string): Promise<string> {
  const [id] = await modelIdsIn(ws, await outputOf(ws, pipeline, cell));
  return id!;
}
