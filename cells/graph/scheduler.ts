import { randomUUID } from "node:crypto";
import path from "node:path";
import { ReadOnlyWorkspaceError, type Workspace } from "../store/workspace.ts";
import { quoteIdent, quoteLiteral } from "../store/export.ts";
import type { CellInput } from "./cell.ts";
import type { Pipeline } from "./pipeline.ts";
import { ancestorsAndSelf, noSuchCell } from "./pipeline.ts";
import { planCell } from "./plan.ts";
import { materialize, removeOrphanTemps } from "./artifacts.ts";
import { cellHistories, commandStartedBy, findCached, markInterrupted, recordEnd, recordPipelineFile, recordStart, type RunStart } from "./runs.ts";
import { computeBackend } from "../compute/backend.ts";

export type GraphEvent =
  | { event: "cell-started"; pipeline: string; cell: string; kind: string; reason: string; at: string }
  | { event: "cell-finished"; pipeline: string; cell: string; kind: string; dataVersion: string; rows: number; changed: boolean; cached: boolean; seconds: number; at: string }
  | { event: "cell-fresh"; pipeline: string; cell: string; kind: string; at: string }
  | { event: "cell-failed"; pipeline: string; cell: string; kind: string; error: string; at: string }
  | { event: "cell-blocked"; pipeline: string; cell: string; kind: string; by: string; at: string }
  | { event: "cell-cancelled"; pipeline: string; cell: string; kind: string; at: string }
  | { event: "output-changed"; pipeline: string; cell: string; dataVersion: string; artifact: string; rows: number; at: string }
  | { event: "cell-progress"; pipeline: string; cell: string; done: number; total: number; label?: string; at: string }
  | { event: "cell-log"; pipeline: string; cell: string; message: string; at: string };

export interface RunOptions {
  /** Run this cell (and the stale cells it reads) only. */
  cell?: string;
  /** Recompute the target cells even when fresh. */
  force?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: GraphEvent) => void;
  /** The pipeline's file, recorded in the workspace so `tracebook dev` can watch it from anywhere. */
  file?: string;
  /** What asked for this run, kept with each cell run for `tracebook log` (default: the CLI command being carried out). */
  startedBy?: string;
}

export interface RunSummary {
  ran: string[];
  fresh: string[];
  failed: string[];
  blocked: string[];
  cancelled: boolean;
  /** Cells whose output changed in this run. */
  changed: string[];
}

/**
 * Bring a pipeline's cells up to date in dependency order. A fresh cell is skipped; a cell
 * whose fingerprint was computed before (same code, params and inputs) reuses that artifact;
 * the rest run. A rerun that yields the same data version leaves its readers' fingerprints
 * unchanged, so they stay fresh. A failure blocks the cell's descendants; independent cells
 * still run.
 */
export async function runPipeline(ws: Workspace, p: Pipeline, options: RunOptions = {}): Promise<RunSummary> {
  if (options.cell !== undefined && !p.cells.has(options.cell)) {
    throw noSuchCell(p, options.cell);
  }
  const targets = options.cell === undefined ? new Set(p.order) : ancestorsAndSelf(p, options.cell);
  const forced = (name: string) => options.force === true && (options.cell === undefined || options.cell === name);
  const emit = options.onEvent ?? (() => undefined);
  const at = () => new Date().toISOString();
  // One id for the cells this call runs: the log shows them together, as one pipeline run.
  const call = { pipeline_run: randomUUID(), started_by: options.startedBy ?? commandStartedBy() };

  await markInterrupted(ws);
  removeOrphanTemps(ws);
  if (options.file) await recordPipelineFile(ws, p.name, path.resolve(options.file));
  const histories = await cellHistories(ws, p.name);
  const current = new Map<string, { dataVersion: string; artifact: string }>();
  const summary: RunSummary = { ran: [], fresh: [], failed: [], blocked: [], cancelled: false, changed: [] };
  const broken = new Set<string>();
  // interrupt() only stops a query already running: a Ctrl-C that lands between two queries
  // of a cell would be lost, so keep interrupting until the run ends.
  let repeat: ReturnType<typeof setInterval> | undefined;
  const interrupt = () => {
    ws.connection.interrupt();
    repeat ??= setInterval(() => ws.connection.interrupt(), 50);
  };
  options.signal?.addEventListener("abort", interrupt);

  try {
    for (const name of p.order) {
      if (!targets.has(name)) continue;
      const cell = p.cells.get(name)!;
      const base = { pipeline: p.name, cell: name, kind: cell.kind };
      if (options.signal?.aborted) {
        summary.cancelled = true;
        break;
      }
      const by = cell.inputs.find((i) => broken.has(i));
      if (by) {
        broken.add(name);
        summary.blocked.push(name);
        emit({ event: "cell-blocked", ...base, by, at: at() });
        continue;
      }
      const history = histories.get(name) ?? {};
      const previous = history.lastSucceeded?.data_version ?? null;
      const inputVersions = Object.fromEntries(cell.inputs.map((i) => [i, current.get(i)!.dataVersion]));
      let runId: string | null = null;
      let started = false;
      let reason: string | null = null;
      // The record of a cell that ended before its run was recorded: what is known of it by then.
      const unstarted = () => ({ pipeline: p.name, cell: name, kind: cell.kind, kind_version: cell.version, ...call, reason });
      const t0 = performance.now();
      try {
        const plan = await planCell(ws, p.name, cell, inputVersions, history);
        if (plan.verdict.state === "fresh" && !forced(name)) {
          current.set(name, { dataVersion: previous!, artifact: history.lastSucceeded!.artifact! });
          summary.fresh.push(name);
          emit({ event: "cell-fresh", ...base, at: at() });
          continue;
        }
        reason = plan.verdict.state === "fresh" ? "forced" : plan.verdict.reason;
        if (ws.readOnly) throw new ReadOnlyWorkspaceError(`workspace ${ws.dbPath} is open read-only (${ws.readOnly}): cell ${name} of ${p.name} would run (${reason})`);
        emit({ event: "cell-started", ...base, reason, at: at() });
        started = true;
        let cached = forced(name) ? null : await findCached(ws, plan.fingerprint);
        // A cached table whose outside files (a model folder) are gone is no cache at all.
        if (cached?.artifact && cell.verify && (await cell.verify(ws, cached.artifact))) cached = null;
        runId = await recordStart(ws, {
          pipeline: p.name, cell: name, kind: cell.kind, kind_version: cell.version, params_json: plan.paramsJson,
          inputs_json: JSON.stringify(plan.inputs), source_version: plan.sourceVersion, fingerprint: plan.fingerprint,
          cached: cached !== null, ...call, reason,
        });
        let out: { dataVersion: string; artifact: string; rows: number };
        if (cached) {
          out = { dataVersion: cached.data_version!, artifact: cached.artifact!, rows: Number(cached.rows ?? 0) };
        } else {
          const inputs = await attachInputs(ws, cell.inputs, current);
          try {
            // Cells reach TF.js through `tf` and expect the backend started: a plan names it
            // without starting it (compute/backend.ts computeBackendName).
            if (cell.computes !== false) await computeBackend();
            const result = await cell.run({
              ws, pipeline: p.name, cell: name, inputs, signal: options.signal ?? new AbortController().signal,
              sourceVersion: plan.sourceVersion ?? undefined, forced: forced(name),
              progress: (done, total, label) => emit({ event: "cell-progress", ...base, done, total, label, at: at() }),
              log: (message) => emit({ event: "cell-log", pipeline: p.name, cell: name, message, at: at() }),
            });
            try {
              out = await materialize(ws, result);
            } finally {
              await result.release?.();
            }
          } finally {
            await detachInputs(ws, cell.inputs);
          }
        }
        await recordEnd(ws, runId, { status: "succeeded", dataVersion: out.dataVersion, artifact: out.artifact, rows: out.rows });
        current.set(name, out);
        summary.ran.push(name);
        const changed = out.dataVersion !== previous;
        if (changed) summary.changed.push(name);
        emit({ event: "cell-finished", ...base, dataVersion: out.dataVersion, rows: out.rows, changed, cached: cached !== null, seconds: (performance.now() - t0) / 1000, at: at() });
        if (changed) emit({ event: "output-changed", pipeline: p.name, cell: name, dataVersion: out.dataVersion, artifact: out.artifact, rows: out.rows, at: at() });
      } catch (err) {
        if (err instanceof ReadOnlyWorkspaceError) throw err; // nothing ran, and nothing can be recorded
        if (options.signal?.aborted) {
          clearInterval(repeat); // the run is over; the bookkeeping below must not be interrupted
          // A Ctrl-C can land after the start was announced but before its record was written
          // (the cache lookup is a query too): the cell still shows as cancelled, not as never run.
          if (runId) await recordEnd(ws, runId, { status: "cancelled", error: "cancelled by the user" });
          else if (started) await recordUnstarted(ws, unstarted(), "cancelled", "cancelled by the user");
          emit({ event: "cell-cancelled", ...base, at: at() });
          summary.cancelled = true;
          break;
        }
        const error = `${cell.kind} cell "${name}": ${(err as Error).message}`;
        if (runId) await recordEnd(ws, runId, { status: "failed", error });
        else await recordUnstarted(ws, unstarted(), "failed", error);
        broken.add(name);
        summary.failed.push(name);
        emit({ event: "cell-failed", ...base, error, at: at() });
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", interrupt);
    clearInterval(repeat);
  }
  return summary;
}

/** Upstream outputs appear to a cell as temp views named after the cells. */
async function attachInputs(ws: Workspace, names: readonly string[], current: Map<string, { dataVersion: string; artifact: string }>) {
  const inputs: Record<string, CellInput> = {};
  for (const name of names) {
    const { dataVersion, artifact } = current.get(name)!;
    const relation = quoteIdent(name);
    await ws.run(`create or replace temp view ${relation} as select * from read_parquet(${quoteLiteral(artifact)})`);
    inputs[name] = { name, relation, dataVersion, artifact };
  }
  return inputs;
}

async function detachInputs(ws: Workspace, names: readonly string[]) {
  for (const name of names) await ws.run(`drop view if exists ${quoteIdent(name)}`).catch(() => undefined);
}

/** A cell that failed (its Datanet is unknown) or was cancelled before its run began still leaves a record. */
async function recordUnstarted(
  ws: Workspace, run: Pick<RunStart, "pipeline" | "cell" | "kind" | "kind_version" | "pipeline_run" | "started_by" | "reason">,
  status: "failed" | "cancelled", error: string,
) {
  const id = await recordStart(ws, { ...run, params_json: "null", inputs_json: "{}", source_version: null, fingerprint: "unplanned", cached: false });
  await recordEnd(ws, id, { status, error });
}
