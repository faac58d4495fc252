import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "./nearest.ts";
import { whatMoved } from "./plan.ts";
import { pipelinesRun, type RunRecord, type RunStatus } from "./runs.ts";

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
 * A pipeline's run log, newest pipeline run first: every cell run with its outcome against the
 * cell's output before it, and why it ran (as the scheduler said, else worked out from the
 * conditions of the run before it). `cell` keeps that cell's runs alone.
 */
export async function runLog(ws: Workspace, pipeline: string, o: { cell?: string } = {}): Promise<PipelineRunLog[]> {
  const known = await pipelinesRun(ws);
  if (!known.includes(pipeline)) {
    throw new InputError(`no pipeline "${pipeline}" has run in this workspace (${didYouMean(pipeline, known)}pipelines: ${known.join(", ") || "none"})`);
  }
  const records = await ws.rows<RunRecord>("select * from runs where pipeline = ? order by started_at, finished_at nulls last, id", [pipeline]);
  if (o.cell !== undefined && !records.some((r) => r.cell === o.cell)) {
    const cells = [...new Set(records.map((r) => r.cell))].sort();
    throw new InputError(`pipeline "${pipeline}" has never run a cell "${o.cell}" (${didYouMean(o.cell, cells)}cells: ${cells.join(", ")})`);
  }
  const before = new Map<string, RunRecord>(); // each cell's last succeeded run so far: its output then
  const runs: PipelineRunLog[] = [];
  for (const r of records) {
    const logged = logOne(r, before.get(r.cell));
    if (r.status === "succeeded") before.set(r.cell, r);
    if (o.cell !== undefined && r.cell !== o.cell) continue;
    const last = runs.at(-1);
    const id = r.pipeline_run ?? `pid ${r.pid}, ${r.started_at.toISOString()}`;
    const sameOlderCall = last && r.pipeline_run === null && last.id.startsWith(`pid ${r.pid},`) &&
      r.started_at.getTime() - (last.finished_at ?? last.started_at).getTime() <= PAUSE_MS;
    if (last && (last.id === r.pipeline_run || sameOlderCall)) {
      last.cells.push(logged);
      if (r.finished_at && (!last.finished_at || r.finished_at > last.finished_at)) last.finished_at = r.finished_at;
    } else {
      runs.push({ id, pipeline, started_by: r.started_by, pid: r.pid, started_at: r.started_at, finished_at: r.finished_at, cells: [logged] });
    }
  }
  return runs.reverse();
}

/** Every pipeline's run log in one, newest pipeline run first: what happened in this workspace. */
export async function workspaceLog(ws: Workspace): Promise<PipelineRunLog[]> {
  const logs = await Promise.all((await pipelinesRun(ws)).map((p) => runLog(ws, p)));
  return logs.flat().sort((a, b) => b.started_at.getTime() - a.started_at.getTime());
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
