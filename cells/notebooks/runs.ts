import fs from "node:fs";
import path from "node:path";
import { ApiError, requestFields } from "./api.ts";
import type { NotebookData } from "./data.ts";
import type { LoggedPipelineRun, RunsAnswer, RunsRequest } from "./wire.ts";
import { newestRuns, runSeconds, type PipelineRunLog, type RunLogPage } from "../graph/history.ts";
import { runOutcome } from "../graph/outcome.ts";
import { pipelinesRun } from "../graph/runs.ts";
import { InputError } from "../datanet/errors.ts";
import type { Workspace } from "../store/workspace.ts";
import { makeDir } from "../store/make-dir.ts";

/** The most pipeline runs one answer carries: a watcher that has run all day has thousands, and a page shows the latest. */
export const MAX_RUNS = 200;
const FIELDS = ["pipeline", "cell", "limit"];

/** Check a runs request before the workspace is opened; every error names the field at fault. */
export function parseRunsRequest(body: unknown, served: ReadonlySet<string>): RunsRequest {
  const b = requestFields(body, FIELDS, "{pipeline, cell?, limit?}", served);
  const out: RunsRequest = { pipeline: b.pipeline as string };
  if (b.cell !== undefined) {
    if (typeof b.cell !== "string" || !/^[\w-]{1,128}$/.test(b.cell)) throw new ApiError(400, "cell", "cell: the name of a cell of the pipeline");
    out.cell = b.cell;
  }
  if (b.limit !== undefined) {
    if (!Number.isInteger(b.limit) || (b.limit as number) < 1 || (b.limit as number) > MAX_RUNS) throw new ApiError(400, "limit", `limit: a whole number of pipeline runs from 1 to ${MAX_RUNS}`);
    out.limit = b.limit as number;
  }
  return out;
}

/**
 * A pipeline's run log for the Pipeline runs notebook, as `tracebook log` reads it. It only reads,
 * so the watchers go on; a watcher mid-run holds the workspace, and the answer waits for it.
 */
export async function answerRuns(data: NotebookData, req: RunsRequest): Promise<RunsAnswer> {
  return data.withWorkspace((ws) => readRuns(ws, req), { attempts: 8 });
}

/** The log read from an open workspace: also what a static build ships. A pipeline served but never run has an empty log. */
export async function readRuns(ws: Workspace, req: RunsRequest): Promise<RunsAnswer> {
  const empty: RunsAnswer = { pipeline: req.pipeline, cell: req.cell ?? null, total: 0, cells: [], runs: [] };
  if (!(await pipelinesRun(ws)).includes(req.pipeline)) return empty;
  let log: RunLogPage;
  try {
    log = await newestRuns(ws, req.pipeline, { cell: req.cell, limit: req.limit ?? MAX_RUNS });
  } catch (err) {
    // A cell the log does not name: the message says which it does.
    if (err instanceof InputError) throw new ApiError(400, "cell", `cell: ${err.message}`);
    throw err;
  }
  const cells = (await ws.rows<{ cell: string }>("select distinct cell from runs where pipeline = ? order by cell", [req.pipeline])).map((r) => r.cell);
  return { ...empty, total: log.total, cells, runs: log.runs.map(wire) };
}

/** Dates as ISO text, and the run's outcome in the words `tracebook log` heads it with. */
function wire(r: PipelineRunLog): LoggedPipelineRun {
  return {
    id: r.id, started_by: r.started_by, started_at: r.started_at.toISOString(), finished_at: r.finished_at?.toISOString() ?? null,
    seconds: runSeconds(r), outcome: runOutcome(r),
    cells: r.cells.map((c) => ({
      cell: c.cell, kind: c.kind, status: c.status, cached: c.cached, started_at: c.started_at.toISOString(), finished_at: c.finished_at?.toISOString() ?? null, seconds: c.seconds,
      rows: c.rows, data_version: c.data_version, output: c.output, why: c.why, why_recorded: c.why_recorded, error: c.error,
    })),
  };
}

/** Write the Pipeline runs page's log for a static site (the newest MAX_RUNS pipeline runs); returns how many shipped of how many recorded. */
export async function shipRuns(data: NotebookData, pipeline: string, dir: string): Promise<{ file: string; shipped: number; total: number }> {
  const answer = await data.withWorkspace((ws) => readRuns(ws, { pipeline }), { attempts: 8 });
  const file = `${pipeline}.json`;
  makeDir(dir);
  fs.writeFileSync(path.join(dir, file), JSON.stringify(answer));
  return { file, shipped: answer.runs.length, total: answer.total };
}
