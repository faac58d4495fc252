import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { stageRows } from "../store/stage.ts";
import { cellModels, modelIdsIn } from "../factory/catalog.ts";
import { readManifest } from "../factory/store.ts";
import { diffLineage, type RowChange } from "../factory/diff.ts";
import { compareBehaviour } from "./behaviour.ts";
import { retrainDiffOptions } from "./options.ts";

// 1: model, setting, row and output levels. 2: an untitled row is quoted by its text alone.
const RETRAIN_DIFF_VERSION = "2";

export interface RetrainDiffParams {
  /** The model cell (finetune, base-model) whose last retrain is described. */
  model: string;
  /** The rows both models' outputs are compared on (held-out rows, usually). */
  on: string;
}

/** The one table: a row per level, the columns of the other levels null. */
const COLUMNS: [string, string][] = [
  ["level", "VARCHAR"], ["model_a", "VARCHAR"], ["model_b", "VARCHAR"], ["trained_a", "TIMESTAMP"], ["trained_b", "TIMESTAMP"],
  ["rows_a", "INTEGER"], ["rows_b", "INTEGER"], ["accuracy_a", "DOUBLE"], ["accuracy_b", "DOUBLE"], ["loss_a", "DOUBLE"], ["loss_b", "DOUBLE"],
  ["compared", "INTEGER"], ["changed", "INTEGER"],
  ["field", "VARCHAR"], ["a", "VARCHAR"], ["b", "VARCHAR"],
  ["change", "VARCHAR"], ["scope", "VARCHAR"], ["id", "VARCHAR"], ["datanet", "VARCHAR"], ["contributor", "VARCHAR"], ["label", "VARCHAR"],
  ["status", "VARCHAR"], ["verdict", "VARCHAR"], ["validator", "VARCHAR"], ["reason", "VARCHAR"], ["decided_at", "TIMESTAMP"],
  ["prediction_a", "VARCHAR"], ["prediction_b", "VARCHAR"], ["p_a", "DOUBLE"], ["p_b_of_a", "DOUBLE"], ["text", "VARCHAR"],
];

/**
 * What the model cell's last retrain changed: the model it superseded against the one it outputs
 * now (from the run log: the newest other model that cell trained still in the workspace), as
 * `tracebook model diff <pipeline>.<cell>` tells it. Levels: `model` (one row: both models, their
 * training rows, accuracy and loss on `on`), `setting` (a lineage setting that differs), `row`
 * (a training row that left or entered, in the adapter or its base, with the last record on its
 * validation trail) and `output` (a row of `on` whose prediction changed). Before any retrain the
 * `model` row alone, with model_a null. The curation queue shows it beside the preview.
 */
export function retrainDiff(p: RetrainDiffParams): Cell {
  checkOptions("retrainDiff", retrainDiffOptions, p);
  return {
    kind: "retrain-diff",
    version: RETRAIN_DIFF_VERSION,
    params: p,
    inputs: [p.model, p.on],
    async run(ctx) {
      const [current] = await modelIdsIn(ctx.ws, ctx.inputs[p.model]!.artifact);
      if (!current) throw new Error(`input "${p.model}" names no model: it is not a model cell`);
      const history = await cellModels(ctx.ws, ctx.pipeline, p.model);
      const earlier = history.find((m) => m.id !== current);
      const b = readManifest(ctx.ws.home, current);
      const trainedB = history.find((m) => m.id === current)?.trainedAt ?? null;
      const out: unknown[][] = [];
      const row = (values: Record<string, unknown>) => out.push(COLUMNS.map(([c]) => values[c] ?? null));
      if (!earlier) {
        ctx.log(`model ${current.slice(0, 12)} has no predecessor in ${ctx.pipeline}.${p.model}: nothing to compare yet`);
        row({ level: "model", model_b: current, trained_b: trainedB?.toISOString(), rows_b: b.snapshot?.contributions ?? 0 });
      } else {
        const a = readManifest(ctx.ws.home, earlier.id);
        const lineage = await diffLineage(ctx.ws, a, b);
        const on = ctx.inputs[p.on]!;
        const outputs = await compareBehaviour(ctx.ws, a, b, on.relation, p.on);
        row({
          level: "model", model_a: a.id, model_b: b.id, trained_a: earlier.trainedAt.toISOString(), trained_b: trainedB?.toISOString(),
          rows_a: lineage.rows.a, rows_b: lineage.rows.b, accuracy_a: outputs.a?.accuracy, accuracy_b: outputs.b?.accuracy,
          loss_a: outputs.a?.loss, loss_b: outputs.b?.loss, compared: outputs.rows, changed: outputs.changed.length,
        });
        for (const s of lineage.settings) row({ level: "setting", model_a: a.id, model_b: b.id, field: s.field, a: s.a, b: s.b });
        const rowChange = (c: RowChange, change: string, scope: string) => row({
          level: "row", model_a: a.id, model_b: b.id, change, scope, id: c.id, datanet: c.datanet, contributor: c.contributor, label: c.label, status: c.status,
          verdict: c.record?.verdict, validator: c.record?.validator, reason: c.record?.reason, decided_at: c.record?.decidedAt.toISOString(),
        });
        for (const [scope, rows] of [["model", lineage.rows], ["base", lineage.base?.rows]] as const) {
          rows?.removed.forEach((c) => rowChange(c, "left", scope));
          rows?.added.forEach((c) => rowChange(c, "entered", scope));
        }
        for (const c of outputs.changed) {
          row({ level: "output", model_a: a.id, model_b: b.id, id: c.id, label: c.label, prediction_a: c.a, prediction_b: c.b, p_a: c.pA, p_b_of_a: c.pBofA, text: c.text });
        }
        const left = lineage.rows.removed.length;
        ctx.log(`${a.id.slice(0, 12)} → ${b.id.slice(0, 12)}: ${left} training row${left === 1 ? "" : "s"} left, ${lineage.rows.added.length} entered; ${outputs.changed.length} of ${outputs.rows} predictions on ${p.on} changed`);
      }
      const table = "__tracebook_retrain_diff";
      await stageRows(ctx.ws, table, COLUMNS, out);
      return { query: `select * from ${table} order by case level when 'model' then 0 when 'setting' then 1 when 'row' then 2 else 3 end, scope desc nulls first, change desc nulls first, field, p_b_of_a - p_a, id` };
    },
  };
}
