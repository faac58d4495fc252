import fs from "node:fs";
import type { Workspace } from "../store/workspace.ts";
import { quoteIdent, quoteLiteral } from "../store/sql-quote.ts";
import { InputError } from "../datanet/errors.ts";
import { loadPipelineIn, resolvePipelineFile } from "./loader.ts";
import { noSuchCell, type Pipeline } from "./pipeline.ts";
import { cellHistories, neverRun, pipelineFiles, pipelinesRun } from "./runs.ts";
import { pipelineStatus, type CellStatus } from "./status.ts";

/**
 * The pipelines' cell outputs as tables for SQL typed at a prompt (`tracebook sql`, a curator's
 * `--query`): `select contributor, sum(score) from mail.influence group by all`. Each pipeline
 * the text names becomes a database of that name (in memory, attached for the query, so a
 * read-only workspace takes it too), and each cell of its file with an output a view over the
 * output `tracebook show` prints: the last that succeeded. The file decides which cells there
 * are, as it does for the notebooks, so a cell taken out of it is not queried by its old output.
 *
 * Only pipelines the text names are loaded (a plain `select … from contributions` costs nothing
 * more), and a name the workspace already uses for a database or a schema (`main`, `temp`, …)
 * keeps its meaning.
 */
export interface CellTables {
  /** The pipelines attached, by name. */
  pipelines: string[];
  /** The cells the text names whose output is not up to date, with why: what was queried is the last output. */
  stale: { pipeline: string; cell: string; state: CellStatus["state"]; reason: string | null }[];
  detach(): Promise<void>;
  /** An error of the query said in the pipelines' terms where it names a cell or pipeline that is not there. */
  explain(err: unknown): unknown;
}

const escape = (name: string) => name.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");

/** Whether SQL text names `name.` as a qualifier, or `name.cell` (bare or quoted; DuckDB's names ignore case). */
function qualifies(sql: string, name: string, cell?: string): boolean {
  const then = cell === undefined ? "" : `\\s*("?)${escape(cell)}\\3(?!\\w)`;
  return new RegExp(`(^|[^\\w"$])("?)${escape(name)}\\2\\s*\\.${then}`, "i").test(sql);
}

/** Names a pipeline's tables cannot take: the workspace's databases and its schemas. */
async function takenNames(ws: Workspace): Promise<Set<string>> {
  const rows = await ws.rows<{ name: string }>(
    "select database_name as name from duckdb_databases() union select schema_name from duckdb_schemas()");
  return new Set(rows.map((r) => r.name.toLowerCase()));
}

export interface CellTablesOptions {
  /** Where `pipelines/` is looked for first (as the CLI's commands do). */
  cwd?: string;
  /** Pipelines the caller holds (one run from code records no file): taken as they are. */
  pipelines?: readonly Pipeline[];
}

export async function attachCellTables(ws: Workspace, sql: string, o: CellTablesOptions = {}): Promise<CellTables> {
  const given = new Map((o.pipelines ?? []).map((p) => [p.name, p]));
  // Every pipeline the run log names (the demo runs its own from code, recording no file:
  // loadPipelineIn finds them in pipelines/), and those whose file was recorded.
  const known = [...new Set([...given.keys(), ...(await pipelinesRun(ws)), ...(await pipelineFiles(ws)).keys()])].sort();
  const named = known.filter((name) => qualifies(sql, name));
  const attached: string[] = [];
  const detach = async () => {
    for (const name of attached.splice(0)) await ws.run(`detach ${quoteIdent(name)}`);
  };
  const stale: CellTables["stale"] = [];
  const loaded = new Map<string, { pipeline: Pipeline; outputs: Set<string> }>();
  // A name the text mentions only by chance (in a string, as an alias) must not fail the query
  // when its file does not load: the load error is said only if the query then needs it.
  const unloadable = new Map<string, Error>();
  const explain = (err: unknown) => unloadableNamed(err, unloadable) ?? explainMissing(err, sql, known, loaded, o.cwd);
  if (!named.length) return { pipelines: [], stale, detach, explain };
  const taken = await takenNames(ws);
  try {
    for (const name of named) {
      if (taken.has(name.toLowerCase())) continue;
      let pipeline = given.get(name);
      try {
        pipeline ??= (await loadPipelineIn(ws, name, { cwd: o.cwd })).pipeline;
      } catch (err) {
        unloadable.set(name, err as Error);
        continue;
      }
      // READ_WRITE: on a workspace opened read-only, an attached database would be read-only too, and empty.
      await ws.run(`attach ':memory:' as ${quoteIdent(name)} (read_write)`);
      attached.push(name);
      const histories = await cellHistories(ws, pipeline.name);
      const outputs = new Set<string>();
      loaded.set(name, { pipeline, outputs });
      for (const s of await pipelineStatus(ws, pipeline, histories)) {
        const artifact = histories.get(s.cell)?.lastSucceeded?.artifact;
        if (!artifact || !fs.existsSync(artifact)) continue;
        outputs.add(s.cell);
        await ws.run(`create view ${quoteIdent(name)}.main.${quoteIdent(s.cell)} as select * from read_parquet(${quoteLiteral(artifact)})`);
        if (s.state !== "fresh" && qualifies(sql, name, s.cell)) stale.push({ pipeline: name, cell: s.cell, state: s.state, reason: s.reason });
      }
    }
  } catch (err) {
    await detach();
    throw err;
  }
  return { pipelines: attached, stale, detach, explain };
}

/** The load error of a pipeline whose tables the failed query asked for. */
function unloadableNamed(err: unknown, unloadable: ReadonlyMap<string, Error>): InputError | undefined {
  const schema = /schema "([^"]+)" does not exist/.exec(err instanceof Error ? err.message : String(err))?.[1]?.toLowerCase();
  const [name, cause] = [...unloadable].find(([n]) => n.toLowerCase() === schema) ?? [];
  return cause ? new InputError(`pipeline "${name}" did not load, so its cells cannot be queried: ${cause.message}`) : undefined;
}

/**
 * DuckDB's error for a table or schema that is not there, said in the pipeline's terms when the
 * text named it as one: the cell it has (did you mean), the cell that has not run, the pipeline
 * this workspace never ran. Any other error is returned as it is.
 */
function explainMissing(err: unknown, sql: string, known: readonly string[], loaded: ReadonlyMap<string, { pipeline: Pipeline; outputs: Set<string> }>, cwd?: string): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const table = /Table with name "?([^"!\s]+)"? does not exist/.exec(message)?.[1];
  for (const [name, { pipeline, outputs }] of loaded) {
    if (!table || !qualifies(sql, name, table)) continue;
    const cell = [...pipeline.cells.keys()].find((c) => c.toLowerCase() === table.toLowerCase());
    if (cell === undefined) return new InputError(noSuchCell(pipeline, table).message);
    if (!outputs.has(cell)) return new InputError(`${name}.${cell} has no output yet: run \`tracebook run ${name} --cell ${cell}\``);
  }
  const schema = /schema "([^"]+)" does not exist/.exec(message)?.[1];
  if (schema && qualifies(sql, schema) && !known.some((k) => k.toLowerCase() === schema.toLowerCase())) {
    let inFolder = false;
    try {
      resolvePipelineFile(schema, cwd);
      inFolder = true;
    } catch { /* not a pipeline of the folders either */ }
    if (inFolder) return new InputError(`pipeline "${schema}" has no runs in this workspace: run \`tracebook run ${schema}\` first`);
    return neverRun(schema, known, "a cell's output is <pipeline>.<cell>; ");
  }
  return err;
}

/** What to tell whoever typed the SQL about a stale cell it read: the rows are its last output. */
export function staleNote(s: CellTables["stale"][number], read = "this is its last output"): string {
  return `note: ${s.pipeline}.${s.cell} is ${s.state}${s.reason ? ` (${s.reason})` : ""}: ${read}; \`tracebook run ${s.pipeline}\` brings it up to date`;
}

/** Run `fn` with the cell tables the SQL names attached, detaching them after, whatever happens. */
export async function withCellTables<T>(ws: Workspace, sql: string, fn: (tables: CellTables) => Promise<T>, o: CellTablesOptions = {}): Promise<T> {
  const tables = await attachCellTables(ws, sql, o);
  try {
    return await fn(tables);
  } catch (err) {
    throw tables.explain(err);
  } finally {
    await tables.detach();
  }
}
