import type { Workspace } from "../store/workspace.ts";
import type { Pipeline } from "./pipeline.ts";
import { planCell } from "./plan.ts";
import { cellHistories, type CellHistory } from "./runs.ts";

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

/** The states in a few words: "17 fresh, 1 stale", or why none could be told (`unread`: the pipeline's file did not load). */
export function statesInWords(a: { unread: string | null; cells: readonly { state: string }[] }): string {
  if (a.unread !== null) return `cell states unknown (${a.unread})`;
  const counts = new Map<string, number>();
  for (const c of a.cells) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  return ["fresh", "stale", "failed", "blocked"].filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`).join(", ") || "no cells";
}
