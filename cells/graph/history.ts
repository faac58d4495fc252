import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "./nearest.ts";
import { whatMoved } from "./plan.ts";
import { neverRun, pipelinesRun, type RunRecord, type RunStatus } from "./runs.ts";

/** One cell run as the log tells it: what it made of its output, and why it ran. */
export interface LoggedRun {
  id: string;
  cell: string;
  kind: string;
  status: RunStatus;
  /** It took over the output of an earlier run with the same fingerprint instead of computing. */
  cached: boolean;
  started_at: Date;
  finished_at: Date | null;
  seconds: number | null;
  rows: number | null;
  data_version: string | null;
  /** Against the cell's output before it: the first it had, another, or the same again (its readers stayed fresh). */
  output: "new" | "changed" | "unchanged" | null;
  why: string;
  /** False for a run from before the reason was recorded: `why` is worked out from the run before it. */
  why_recorded: boolean;
  error: string | null;
}

/** The cells one scheduler call ran, in the order they ran. */
export interface PipelineRunLog {
  /** The call's id; for runs from before it was recorded, the process and first run (`pid 123, …`). */
  id: string;
  pipeline: string;
  started_by: string | null;
  pid: number;
  started_at: Date;
  finished_at: Date | null;
  cells: LoggedRun[];
}

/** Older runs of one process, with no call id, are told apart by a pause between them. */
const PAUSE_MS = 2_000;

/**
 * A pipeline's run log (every pipeline's, in one, when none is named), newest pipeline run
 * first: every cell run with its outcome against the cell's output before it, and why it ran (as
 * the scheduler said, else worked out from the conditions of the run before it). `cell` keeps
 * that cell's runs alone.
 */
export async function runLog(ws: Workspace, pipeline?: string, o: { cell?: string } = {}): Promise<PipelineRunLog[]> {
  const records = await ws.rows<RunRecord>(
    `select * from runs ${pipeline === undefined ? "" : "where pipeline = ?"} order by started_at, finished_at nulls last, id`,
    pipeline === undefined ? [] : [pipeline]);
  if (pipeline !== undefined && !records.length) throw neverRun(pipeline, await pipelinesRun(ws));
  if (o.cell !== undefined && !records.some((r) => r.cell === o.cell)) {
    const cells = [...new Set(records.map((r) => r.cell))].sort();
    throw new InputError(`pipeline "${pipeline}" has never run a cell "${o.cell}" (${didYouMean(o.cell, cells)}cells: ${cells.join(", ")})`);
  }
  const before = new Map<string, RunRecord>(); // each cell's last succeeded run so far: its output then
  const calls = new Map<string, PipelineRunLog>(); // by call id; an older run's by its process's last call
  const runs: PipelineRunLog[] = [];
  for (const r of records) {
    const cellKey = `${r.pipeline}\u0000${r.cell}`;
    const logged = logOne(r, before.get(cellKey));
    if (r.status === "succeeded") before.set(cellKey, r);
    if (o.cell !== undefined && r.cell !== o.cell) continue;
    const key = r.pipeline_run ?? `${r.pipeline}\u0000pid ${r.pid}`;
    let call = calls.get(key);
    if (call && r.pipeline_run === null && r.started_at.getTime() - (call.finished_at ?? call.started_at).getTime() > PAUSE_MS) call = undefined;
    if (call) {
      call.cells.push(logged);
      if (r.finished_at && (!call.finished_at || r.finished_at > call.finished_at)) call.finished_at = r.finished_at;
    } else {
      call = { id: r.pipeline_run ?? `pid ${r.pid}, ${r.started_at.toISOString()}`, pipeline: r.pipeline, started_by: r.started_by, pid: r.pid, started_at: r.started_at, finished_at: r.finished_at, cells: [logged] };
      calls.set(key, call);
      runs.push(call);
    }
  }
  return runs.reverse();
}

function logOne(r: RunRecord, done: RunRecord | undefined): LoggedRun {
  const output = r.status !== "succeeded" ? null : !done ? "new" : done.data_version === r.data_version ? "unchanged" : "changed";
  return {
    id: r.id, cell: r.cell, kind: r.kind, status: r.status, cached: r.cached, started_at: r.started_at, finished_at: r.finished_at,
    seconds: r.finished_at ? (r.finished_at.getTime() - r.started_at.getTime()) / 1000 : null,
    rows: r.rows === null ? null : Number(r.rows), data_version: r.data_version, output,
    why: r.reason !== null ? said(r.reason) : workedOut(r, done), why_recorded: r.reason !== null, error: r.error,
  };
}

/** The scheduler's "never run" is a state; in a log it is the cell's first run. */
const said = (reason: string) => (reason === "never run" ? "first run" : reason);

/** Why a run from before reasons were recorded ran: what differs from the output it replaced. */
function workedOut(r: RunRecord, done: RunRecord | undefined): string {
  if (r.fingerprint === "unplanned") return "it could not be planned";
  if (!done) return "first run";
  const moved = whatMoved(done, r);
  if (moved.length) return moved.join("; ");
  return done.fingerprint === r.fingerprint ? "forced, or its output was missing" : "fingerprint changed";
}

/** How long a pipeline run took, from its first cell's start to its last cell's end; null while one runs unfinished. */
export function runSeconds(r: PipelineRunLog): number | null {
  return r.finished_at ? (r.finished_at.getTime() - r.started_at.getTime()) / 1000 : null;
}
