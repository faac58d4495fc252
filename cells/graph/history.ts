import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "./nearest.ts";
import { listValue } from "@duckdb/node-api";
import { whatMoved, type Conditions } from "./plan.ts";
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
  // A cell's outcomes are told against its own runs alone, so one cell's log reads only its rows.
  const where = scope(pipeline, o.cell);
  const records = await ws.rows<Logged>(`select ${LOGGED} from runs ${where.sql} order by ${IN_ORDER}`, where.params);
  if (!records.length) await refuseEmpty(ws, pipeline, o.cell);
  const before = new Map<string, Logged>(); // each cell's last succeeded run so far: its output then
  const told = records.map((r) => {
    const cellKey = `${r.pipeline}\u0000${r.cell}`;
    const done = before.get(cellKey);
    if (r.status === "succeeded") before.set(cellKey, r);
    return { ...r, done };
  });
  return tell(ws, told);
}

/** The newest pipeline runs of a log, and how many it holds in all. */
export interface RunLogPage {
  runs: PipelineRunLog[];
  /** Pipeline runs in the whole log. */
  total: number;
  /** Cell runs in the whole log. */
  cellRuns: number;
}

/**
 * The newest `limit` pipeline runs of `runLog`'s log, told as it tells them, without reading the
 * rest: a watcher that has run all day has thousands, and a page or a terminal shows the latest.
 * Each cell run's output before it is found in SQL. Runs from before the call id was recorded
 * (schema 8) are grouped by process and pauses, which only a pass over all of them can do, so a
 * log holding any is read whole.
 */
export async function newestRuns(ws: Workspace, pipeline: string | undefined, o: { cell?: string; limit: number }): Promise<RunLogPage> {
  const where = scope(pipeline, o.cell);
  const [count] = await ws.rows<{ cell_runs: bigint; calls: bigint; unkeyed: bigint }>(
    `select count(*) as cell_runs, count(distinct pipeline_run) as calls, count(*) filter (where pipeline_run is null) as unkeyed from runs ${where.sql}`, where.params);
  if (!count!.cell_runs) await refuseEmpty(ws, pipeline, o.cell);
  if (count!.unkeyed) {
    const all = await runLog(ws, pipeline, { cell: o.cell });
    return { runs: all.slice(0, o.limit), total: all.length, cellRuns: Number(count!.cell_runs) };
  }
  const told = await ws.rows<Logged & { done_id: string | null; done_version: string | null; done_fingerprint: string | null }>(
    `with logged as (
       select ${LOGGED}, row_number() over (order by ${IN_ORDER}) as seq,
         last_value(case when status = 'succeeded' then id end ignore nulls)
           over (partition by pipeline, cell order by ${IN_ORDER} rows between unbounded preceding and 1 preceding) as done_id
       from runs ${where.sql}),
     newest as (select pipeline_run from logged group by pipeline_run order by min(seq) desc limit ?)
     select logged.* exclude (seq, done_id), done_id, done.data_version as done_version, done.fingerprint as done_fingerprint
     from logged join newest using (pipeline_run) left join runs done on done.id = logged.done_id order by seq`,
    [...where.params, o.limit]);
  const runs = await tell(ws, told.map(({ done_id, done_version, done_fingerprint, ...r }) =>
    ({ ...r, done: done_id === null ? undefined : { id: done_id, data_version: done_version, fingerprint: done_fingerprint! } })));
  return { runs, total: Number(count!.calls), cellRuns: Number(count!.cell_runs) };
}

/** The runs a log reads: of a pipeline, or of every pipeline; of one cell, or all. */
function scope(pipeline: string | undefined, cell: string | undefined): { sql: string; params: string[] } {
  const where = [pipeline === undefined ? null : "pipeline = ?", cell === undefined ? null : "cell = ?"].filter((w) => w !== null);
  return { sql: where.length ? `where ${where.join(" and ")}` : "", params: [pipeline, cell].filter((v) => v !== undefined) };
}

/** The order runs are told in: as they started (a run is only ever told against those before it). */
const IN_ORDER = "started_at, finished_at nulls last, id";

/** A named pipeline with no run in scope: it never ran here, or never ran that cell. */
async function refuseEmpty(ws: Workspace, pipeline: string | undefined, cell: string | undefined): Promise<void> {
  if (pipeline === undefined) return;
  const cells = (await ws.rows<{ cell: string }>("select distinct cell from runs where pipeline = ? order by cell", [pipeline])).map((r) => r.cell);
  if (!cells.length) throw neverRun(pipeline, await pipelinesRun(ws));
  throw new InputError(`pipeline "${pipeline}" has never run a cell "${cell}" (${didYouMean(cell!, cells)}cells: ${cells.join(", ")})`);
}

/** The cell's output a run is told against: its last succeeded run before it. */
type Done = Pick<Logged, "id" | "data_version" | "fingerprint">;

/** Runs in the order they ran, each with its output before, grouped into pipeline runs and told, newest first. */
async function tell(ws: Workspace, records: (Logged & { done: Done | undefined })[]): Promise<PipelineRunLog[]> {
  const calls = new Map<string, PipelineRunLog>(); // by call id; an older run's by its process's last call
  const runs: PipelineRunLog[] = [];
  const unsaid: { logged: LoggedRun; r: Logged; done: Done | undefined }[] = []; // runs from before reasons were recorded
  for (const { done, ...r } of records) {
    const logged = logOne(r, done);
    if (r.reason === null) unsaid.push({ logged, r, done });
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
  if (unsaid.length) {
    // Their conditions (params and inputs: most of a run's bytes), and those of the outputs they replaced, are read for them alone.
    const ids = [...new Set(unsaid.flatMap((u) => (u.done ? [u.r.id, u.done.id] : [u.r.id])))];
    const conditions = new Map((await ws.rows<Conditions & { id: string }>(
      "select id, kind, kind_version, params_json, inputs_json, source_version from runs where id in (select unnest(?::varchar[]))", [listValue(ids)])).map((c) => [c.id, c]));
    for (const u of unsaid) u.logged.why = workedOut(u.r, conditions.get(u.r.id)!, u.done && { ...u.done, ...conditions.get(u.done.id)! });
  }
  return runs.reverse();
}

/** What the log reads of every run: all but its conditions (code version, params, inputs, outside state) and its artifact. */
type Logged = Omit<RunRecord, Exclude<keyof Conditions, "kind"> | "artifact">;
const LOGGED = "id, pipeline, cell, kind, fingerprint, data_version, rows, status, cached, error, pid, started_at, finished_at, pipeline_run, started_by, reason";

/** A run as the log tells it; `why` is left for runLog to work out where the scheduler recorded none. */
function logOne(r: Logged, done: Done | undefined): LoggedRun {
  const output = r.status !== "succeeded" ? null : !done ? "new" : done.data_version === r.data_version ? "unchanged" : "changed";
  return {
    id: r.id, cell: r.cell, kind: r.kind, status: r.status, cached: r.cached, started_at: r.started_at, finished_at: r.finished_at,
    seconds: r.finished_at ? (r.finished_at.getTime() - r.started_at.getTime()) / 1000 : null,
    rows: r.rows === null ? null : Number(r.rows), data_version: r.data_version, output,
    why: r.reason !== null ? said(r.reason) : "", why_recorded: r.reason !== null, error: r.error,
  };
}

/** The scheduler's "never run" is a state; in a log it is the cell's first run. */
const said = (reason: string) => (reason === "never run" ? "first run" : reason);

/** Why a run from before reasons were recorded ran: what differs from the output it replaced. */
function workedOut(r: Logged, now: Conditions, done: (Done & Conditions) | undefined): string {
  if (r.fingerprint === "unplanned") return "it could not be planned";
  if (!done) return "first run";
  const moved = whatMoved(done, now);
  if (moved.length) return moved.join("; ");
  return done.fingerprint === r.fingerprint ? "forced, or its output was missing" : "fingerprint changed";
}

/** How long a pipeline run took, from its first cell's start to its last cell's end; null while one runs unfinished. */
export function runSeconds(r: PipelineRunLog): number | null {
  return r.finished_at ? (r.finished_at.getTime() - r.started_at.getTime()) / 1000 : null;
}
