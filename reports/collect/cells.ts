import type { Workspace } from "../../cells/store/workspace.ts";
import { cellHistories, type RunRecord } from "../../cells/graph/runs.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { isWhatIfCell } from "../../cells/quality/questions.ts";

/** A cell's current output as the run log records it, with its params parsed. */
export interface CellOutput {
  cell: string;
  kind: string;
  params: Record<string, unknown>;
  fingerprint: string;
  dataVersion: string;
  artifact: string;
}

/**
 * The cells a report reads, found in the run log rather than in the pipeline file: the report
 * describes what was run and paid, which a since-edited pipeline file may no longer say.
 */
export interface ReportCells {
  all: CellOutput[];
  rewards: CellOutput;
  usage: CellOutput;
  influence: CellOutput;
  receipts: CellOutput;
  /** The model the influence cell traced. */
  model: CellOutput;
  selfInfluence: CellOutput | null;
  /** Every model cell (base-model, finetune) of the pipeline. */
  models: CellOutput[];
}

export async function findCells(ws: Workspace, pipeline: string, rewardsCell?: string): Promise<ReportCells> {
  const all = [...(await cellHistories(ws, pipeline))]
    // What-if questions run as cells of the pipeline but are not among them: a question asked after
    // a report must not change what the report says was run (the trust section quotes the answers).
    .filter(([cell]) => !isWhatIfCell(cell))
    .map(([, h]) => h.lastSucceeded)
    .filter((r): r is RunRecord & { artifact: string; data_version: string } => !!r?.artifact && !!r.data_version)
    .map(toOutput)
    .sort((a, b) => a.cell.localeCompare(b.cell));
  if (!all.length) throw new InputError(`pipeline "${pipeline}" has no cell outputs in this workspace: run \`tracebook run ${pipeline}\` first`);
  const byName = new Map(all.map((c) => [c.cell, c]));
  const settling = all.filter((c) => c.kind === "reward-split");
  let rewards: CellOutput | undefined;
  if (rewardsCell) {
    rewards = settling.find((c) => c.cell === rewardsCell);
    if (!rewards) throw new InputError(`pipeline "${pipeline}" has no settled reward-split cell "${rewardsCell}" (settled: ${settling.map((c) => c.cell).join(", ") || "none"})`);
  } else if (settling.length === 1) rewards = settling[0];
  else if (!settling.length) throw new InputError(`pipeline "${pipeline}" has no settled rewardSplit cell: nothing was paid, so there is nothing to report`);
  else throw new InputError(`pipeline "${pipeline}" settles in ${settling.length} cells (${settling.map((c) => c.cell).join(", ")}): name one with --cell`);

  const input = (from: CellOutput, key: string): CellOutput => {
    const name = from.params[key];
    const out = typeof name === "string" ? byName.get(name) : undefined;
    if (!out) throw new InputError(`cell "${from.cell}" reads ${key} "${String(name)}", which has no output in the run log`);
    return out;
  };
  const influence = input(rewards!, "influence");
  const model = input(influence, "model");
  const selfInfluence = all.find((c) => c.kind === "self-influence" && c.params.model === model.cell) ?? null;
  return {
    all, rewards: rewards!, usage: input(rewards!, "usage"), influence, receipts: input(rewards!, "receipts"), model, selfInfluence,
    models: all.filter((c) => c.kind === "base-model" || c.kind === "finetune"),
  };
}

function toOutput(r: RunRecord & { artifact: string; data_version: string }): CellOutput {
  return {
    cell: r.cell, kind: r.kind, params: JSON.parse(r.params_json) as Record<string, unknown>,
    fingerprint: r.fingerprint, dataVersion: r.data_version, artifact: r.artifact,
  };
}

/** The model id a model cell's output table names. */
export async function modelIdOf(ws: Workspace, c: CellOutput): Promise<string> {
  const [row] = await ws.rows<{ model_id: string }>("select distinct model_id from read_parquet(?)", [c.artifact]);
  if (!row) throw new Error(`cell "${c.cell}" names no model`);
  return row.model_id;
}
