import type { Workspace } from "../store/workspace.ts";
import type { Pipeline } from "./pipeline.ts";
import { planCell } from "./plan.ts";
import { cellHistories, type CellHistory } from "./runs.ts";
import { loadPipelineIn } from "./loader.ts";
import { PipelineError } from "./cell.ts";

export type CellState = "fresh" | "stale" | "failed" | "blocked";

export interface CellStatus {
  cell: string;
  kind: string;
  state: CellState;
  /** Why it is stale, the cause of its failure, or which input blocks it. */
  reason: string | null;
  rows: number | null;
  dataVersion: string | null;
  finishedAt: Date | null;
}

/** Every cell's state, in dependency order, without running anything (from `histories` when the caller has read them). */
export async function pipelineStatus(ws: Workspace, p: Pipeline, histories?: Map<string, CellHistory>): Promise<CellStatus[]> {
  histories ??= await cellHistories(ws, p.name);
  const byName = new Map<string, CellStatus>();
  for (const name of p.order) {
    const cell = p.cells.get(name)!;
    const history = histories.get(name) ?? {};
    const done = history.lastSucceeded;
    const base = {
      cell: name, kind: cell.kind, rows: done?.rows == null ? null : Number(done.rows),
      dataVersion: done?.data_version ?? null, finishedAt: done?.finished_at ?? null,
    };
    const upstream = cell.inputs.map((i) => byName.get(i)!);
    const broken = upstream.find((u) => u.state === "failed" || u.state === "blocked");
    const pending = upstream.find((u) => u.state === "stale");
    let status: CellStatus;
    if (broken) status = { ...base, state: "blocked", reason: `input ${broken.cell} is ${broken.state}` };
    else if (pending) status = { ...base, state: "stale", reason: `input ${pending.cell} is stale` };
    else {
      try {
        const inputs = Object.fromEntries(cell.inputs.map((i) => [i, byName.get(i)!.dataVersion!]));
        const { verdict } = await planCell(ws, p.name, cell, inputs, history);
        status = { ...base, state: verdict.state, reason: verdict.state === "fresh" ? null : verdict.reason };
      } catch (err) {
        status = { ...base, state: "failed", reason: (err as Error).message };
      }
    }
    byName.set(name, status);
  }
  return p.order.map((n) => byName.get(n)!);
}

/** What `status` tells of a pipeline: the file its states were worked out from and every cell's state, or why the file could not be read. */
export interface PipelineStates {
  pipeline: string;
  file: string | null;
  /** Why the pipeline's file could not be read (not found, a syntax error, another pipeline's): no cell has a state then. */
  unread: string | null;
  cells: CellStatus[];
}

/**
 * Every cell's state of a pipeline found by name (pipelines/<name>.pipeline.ts, else the file this
 * workspace last ran it from) or by `spec`, its file read again once it changed. A file that does
 * not load is said in `unread`, not thrown: a page or a list of every pipeline shows why.
 */
export async function statesOf(ws: Workspace, pipeline: string, o: { spec?: string; cwd?: string } = {}): Promise<PipelineStates> {
  let loaded;
  try {
    loaded = await loadPipelineIn(ws, o.spec ?? pipeline, { cwd: o.cwd, fresh: true });
  } catch (err) {
    if (!(err instanceof PipelineError)) throw err;
    return { pipeline, file: null, unread: err.message, cells: [] };
  }
  const { pipeline: p, file } = loaded;
  if (p.name !== pipeline) return { pipeline, file, unread: `${file} defines pipeline "${p.name}", not "${pipeline}"`, cells: [] };
  return { pipeline, file, unread: null, cells: await pipelineStatus(ws, p) };
}

/** The states in a few words: "17 fresh, 1 stale", or why none could be told (`unread`: the pipeline's file did not load). */
export function statesInWords(a: { unread: string | null; cells: readonly { state: string }[] }): string {
  if (a.unread !== null) return `cell states unknown (${a.unread})`;
  const counts = new Map<string, number>();
  for (const c of a.cells) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  return ["fresh", "stale", "failed", "blocked"].filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`).join(", ") || "no cells";
}
