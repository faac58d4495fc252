import type { Workspace } from "../../cells/store/workspace.ts";
import { repeatedRows } from "../../cells/store/repeated-rows.ts";
import { findCells } from "./cells.ts";
import { penaltySides, type PenaltySides } from "./stability.ts";

/**
 * Which side each epoch's recorded penalties fall on (per model), from the outputs the pipeline's rewards
 * cell read (its influence and usage inputs): what `tracebook rewards` prints beside the
 * penalties. The report computes the same over its settled ledger (collect/influence.ts).
 */
export async function pipelineSides(ws: Workspace, pipeline: string, penalties: readonly { epoch: string; model_id: string; contributor: string }[]): Promise<PenaltySides[]> {
  const cells = await findCells(ws, pipeline);
  const rows = await repeatedRows<{ query: string; key: string; score: number; prediction: string | null }>(ws,
    "select query, key, score, prediction from read_parquet(?) where level = 'contributor' order by key, query", [cells.influence.artifact], ["query", "key", "prediction"]);
  const usage = await ws.rows<{ id: string; epoch: string; model_id: string }>("select id, epoch, model_id from read_parquet(?)", [cells.usage.artifact]);
  return penaltySides(rows, new Map(usage.map((u) => [u.id, { epoch: u.epoch, model_id: u.model_id }])), penalties);
}
