import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../store/workspace.ts";
import { nowUtc } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "./nearest.ts";

export type RunStatus = "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export interface RunRecord {
  id: string;
  pipeline: string;
  cell: string;
  kind: string;
  kind_version: string;
  params_json: string;
  inputs_json: string;
  source_version: string | null;
  fingerprint: string;
  data_version: string | null;
  artifact: string | null;
  rows: bigint | null;
  status: RunStatus;
  cached: boolean;
  error: string | null;
  pid: number;
  started_at: Date;
  finished_at: Date | null;
  /** The scheduler call it ran in: one id for the cells one `runPipeline` ran (null before schema 9). */
  pipeline_run: string | null;
  /** What started that call (`tracebook run`, a watcher, …); null when the caller did not say. */
  started_by: string | null;
  /** Why it ran, as the scheduler saw it (null before schema 9). */
  reason: string | null;
}

export interface CellHistory {
  /** Its current output. */
  lastSucceeded?: RunRecord;
  /** The latest run of any status. */
  last?: RunRecord;
}

export async function cellHistories(ws: Workspace, pipeline: string): Promise<Map<string, CellHistory>> {
  const rows = await ws.rows<RunRecord>(
    `select * from runs where pipeline = ? and status <> 'running'
     qualify row_number() over (partition by cell, status = 'succeeded' order by started_at desc, finished_at desc) = 1`,
    [pipeline],
  );
  const out = new Map<string, CellHistory>();
  for (const r of rows) {
    const h = out.get(r.cell) ?? {};
    if (r.status === "succeeded") h.lastSucceeded = r;
    if (!h.last || r.started_at > h.last.started_at) h.last = r;
    out.set(r.cell, h);
  }
  return out;
}

/** A succeeded run with this fingerprint whose artifact is still on disk: its output can be reused. */
export async function findCached(ws: Workspace, fingerprint: string): Promise<RunRecord | null> {
  const rows = await ws.rows<RunRecord>(
    "select * from runs where fingerprint = ? and status = 'succeeded' order by finished_at desc",
    [fingerprint],
  );
  return rows.find((r) => r.artifact && fs.existsSync(r.artifact)) ?? null;
}

/**
 * What the command being carried out is, as the run log keeps it (`tracebook infer --settle`):
 * the CLI says it once its words are parsed, for every pipeline run the command then starts,
 * however deep in the code that happens (a settling `infer`, an `explain` that retrains first).
 * Scoped to the call, so two commands run in one process (the tests) never mix.
 */
const command = new AsyncLocalStorage<{ startedBy: string | null }>();

/** Carry out `fn` as a command; `say` names it once it is known. */
export function asCommand<T>(fn: (say: (startedBy: string) => void) => Promise<T>): Promise<T> {
  const holder = { startedBy: null as string | null };
  return command.run(holder, () => fn((startedBy) => { holder.startedBy = startedBy; }));
}

/**
 * The command being carried out, when one said what it is; else the script this process runs
 * (`script scripts/nightly.ts`, relative to the working directory where it lies under it), for a
 * pipeline run through the API, so the log says where it came from.
 */
export function commandStartedBy(): string | null {
  const said = command.getStore()?.startedBy;
  if (said) return said;
  const script = process.argv[1];
  if (!script) return null;
  const relative = path.relative(process.cwd(), script);
  return `script ${relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : script}`;
}

export type RunStart = Omit<RunRecord, "id" | "data_version" | "artifact" | "rows" | "status" | "error" | "pid" | "started_at" | "finished_at">;

export async function recordStart(ws: Workspace, r: RunStart): Promise<string> {
  const id = randomUUID();
  await ws.run(
    `insert into runs (id, pipeline, cell, kind, kind_version, params_json, inputs_json, source_version, fingerprint,
                       status, cached, pid, started_at, pipeline_run, started_by, reason)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?::timestamp, ?, ?, ?)`,
    [id, r.pipeline, r.cell, r.kind, r.kind_version, r.params_json, r.inputs_json, r.source_version, r.fingerprint,
      r.cached, process.pid, nowUtc(), r.pipeline_run, r.started_by, r.reason],
  );
  return id;
}

export async function recordEnd(
  ws: Workspace,
  id: string,
  end: { status: Exclude<RunStatus, "running">; dataVersion?: string; artifact?: string; rows?: number; error?: string },
): Promise<void> {
  await ws.run(
    "update runs set status = ?, data_version = ?, artifact = ?, rows = ?, error = ?, finished_at = ?::timestamp where id = ?",
    [end.status, end.dataVersion ?? null, end.artifact ?? null, end.rows ?? null, end.error ?? null, nowUtc(), id],
  );
}

/**
 * Runs left 'running' by a process that died (killed, crashed, power cut). DuckDB lets one
 * process hold the workspace, so before this process starts a run, no other run can be alive.
 */
export async function markInterrupted(ws: Workspace): Promise<number> {
  const stale = await ws.rows<{ id: string }>("select id from runs where status = 'running'");
  for (const { id } of stale) await recordEnd(ws, id, { status: "interrupted", error: "the process running it ended before it finished" });
  return stale.length;
}

/**
 * Where a pipeline was run from (an absolute path), replacing what was recorded before. Written
 * only when it moved: a watcher's cycle that finds everything fresh must not write, or two
 * watchers would wake each other up for ever.
 */
export async function recordPipelineFile(ws: Workspace, pipeline: string, file: string): Promise<void> {
  const [known] = await ws.rows<{ file: string }>("select file from pipeline_files where pipeline = ?", [pipeline]);
  if (known?.file === file) return;
  await ws.run("insert or replace into pipeline_files (pipeline, file, recorded_at) values (?, ?, ?::timestamp)", [pipeline, file, nowUtc()]);
}

/** The pipelines this workspace has run, by name, in order (from code or a file, the demo's too). */
export async function pipelinesRun(ws: Workspace): Promise<string[]> {
  return (await ws.rows<{ pipeline: string }>("select distinct pipeline from runs order by pipeline")).map((r) => r.pipeline);
}

/** The error for a pipeline the run log does not name: the nearest it does, then all of them (`note` before the list). */
export function neverRun(name: string, known: readonly string[], note = ""): InputError {
  return new InputError(`no pipeline "${name}" has run in this workspace (${didYouMean(name, known)}${note}pipelines: ${known.join(", ") || "none"})`);
}

/** The file each pipeline was last run from. */
export async function pipelineFiles(ws: Workspace): Promise<Map<string, string>> {
  return new Map((await ws.rows<{ pipeline: string; file: string }>("select pipeline, file from pipeline_files")).map((r) => [r.pipeline, r.file]));
}
