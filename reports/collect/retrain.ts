import type { Workspace } from "../../cells/store/workspace.ts";
import type { RetrainFacts } from "../facts.ts";
import type { ReportCells } from "./cells.ts";
import { round6 } from "./amount.ts";
import { quoteOf, quotes } from "./texts.ts";

/** How many changed predictions a report quotes; it counts them all. */
const QUOTED_OUTPUTS = 10;

type Row = {
  level: string; model_a: string | null; model_b: string; trained_a: string | null; trained_b: string | null; rows_a: number | null; rows_b: number | null;
  accuracy_a: number | null; accuracy_b: number | null; loss_a: number | null; loss_b: number | null; compared: number | null; changed: number | null;
  field: string | null; a: string | null; b: string | null; change: string | null; scope: string | null; id: string | null; datanet: string | null;
  contributor: string | null; label: string | null; status: string | null; verdict: string | null; validator: string | null; reason: string | null;
  decided_at: string | null; prediction_a: string | null; prediction_b: string | null; p_a: number | null; p_b_of_a: number | null; text: string | null;
};

const TIME = "'%Y-%m-%dT%H:%M:%S.%gZ'";

/**
 * What the report's model's last retrain changed, as the pipeline's retrain-diff cell on that
 * model cell tells it (`last_retrain` in the shipped pipelines): the model it superseded, the
 * training rows that left or entered with their records, the held-out predictions that changed.
 * Null when the pipeline has no such cell, its output is of another model, or there was no retrain.
 */
export async function collectRetrain(ws: Workspace, cells: ReportCells, modelId: string): Promise<RetrainFacts | null> {
  const cell = cells.all.find((c) => c.kind === "retrain-diff" && c.params.model === cells.model.cell);
  if (!cell) return null;
  const rows = await ws.rows<Row>(
    `select * replace (strftime(trained_a, ${TIME}) as trained_a, strftime(trained_b, ${TIME}) as trained_b, strftime(decided_at, ${TIME}) as decided_at)
     from read_parquet(?)`, [cell.artifact]);
  const model = rows.find((r) => r.level === "model");
  if (!model || model.model_b !== modelId || !model.model_a) return null;
  const changes = rows.filter((r) => r.level === "row");
  const outputs = rows.filter((r) => r.level === "output");
  const texts = await quotes(ws, changes.map((r) => ({ datanet: r.datanet!, id: r.id! })));
  const num = (x: number | null) => (x === null ? null : round6(x));
  return {
    cell: cell.cell, model_a: model.model_a, model_b: model.model_b, trained_a: model.trained_a, trained_b: model.trained_b,
    rows_a: Number(model.rows_a ?? 0), rows_b: Number(model.rows_b ?? 0),
    accuracy_a: num(model.accuracy_a), accuracy_b: num(model.accuracy_b), loss_a: num(model.loss_a), loss_b: num(model.loss_b),
    compared: Number(model.compared ?? 0), changed: Number(model.changed ?? 0),
    settings: rows.filter((r) => r.level === "setting").map((r) => ({ field: r.field!, a: r.a!, b: r.b! })),
    rows: changes.map((r) => ({
      change: r.change!, scope: r.scope!, contribution: r.id!, contributor: r.contributor!, datanet: r.datanet!, text: quoteOf(texts, r.datanet!, r.id!),
      label: r.label, status: r.status, verdict: r.verdict, validator: r.validator, reason: r.reason, decided_at: r.decided_at,
    })),
    outputs: outputs.slice(0, QUOTED_OUTPUTS).map((r) => ({
      contribution: r.id!, label: r.label, prediction_a: r.prediction_a!, prediction_b: r.prediction_b!, p_a: round6(r.p_a!), p_b_of_a: round6(r.p_b_of_a!), text: r.text ?? "",
    })),
  };
}
