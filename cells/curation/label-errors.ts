import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { labelErrorsOptions } from "./options.ts";
import { attributionSource } from "../attribution/engine.ts";
import { featurize, type FeaturizerSpec, type Payload } from "../factory/featurize.ts";
import { modelOf } from "../factory/cells.ts";
import { readContributions } from "../factory/store.ts";
import { loadForTracin } from "../attribution/load.ts";
import type { Workspace } from "../store/workspace.ts";
import { stageRows } from "../store/stage.ts";
import { DEFAULT_WEIGHTS, labelErrorScore, labelSignals, type ScoreWeights } from "./signals.ts";
import { plural } from "../graph/plural.ts";
import { rowsWithVectors } from "../store/vector-rows.ts";

/** Bump when the scores would differ for the same model and rows. */
export const LABEL_ERRORS_VERSION = "2"; // 2: self-influence through the loss gradient `summed` (attribution/factors.ts)

export interface LabelErrorParams {
  /** The model cell whose view of the labels is asked (finetune, base-model). */
  model: string;
  /** The contributions to score: any cell with id, datanet, contributor, label and the payload. */
  data: string;
  weights?: ScoreWeights;
}

export const LABEL_ERROR_COLUMNS: [string, string][] = [
  ["datanet", "VARCHAR"], ["contribution", "VARCHAR"], ["contributor", "VARCHAR"], ["label", "VARCHAR"], ["split", "VARCHAR"],
  ["trained", "BOOLEAN"], ["predicted", "VARCHAR"], ["p_label", "DOUBLE"], ["rival", "VARCHAR"], ["p_rival", "DOUBLE"],
  ["self_influence", "DOUBLE"], ["loss", "DOUBLE"], ["other_label", "DOUBLE"], ["score", "DOUBLE"],
];

interface Row extends Payload { id: string; datanet: string; contributor: string; label: string; split: string | null }

/**
 * `labelErrors({ model: "model", data: "mail" })`: per contribution, how likely its label is
 * wrong in the eyes of a trained model — self-influence over its checkpoints, the final loss,
 * the confidence in another label, and the combined score (signals.ts). Rows outside training
 * (held-out, pending) are scored the same way: self-influence needs a label, not membership.
 * Rows whose label the model does not know are left out (the label-set rule flags them).
 */
export function labelErrors(p: LabelErrorParams): Cell {
  checkOptions("labelErrors", labelErrorsOptions, p);
  const params = { weights: DEFAULT_WEIGHTS, ...p };
  return {
    kind: "label-errors",
    version: LABEL_ERRORS_VERSION,
    params,
    inputs: [p.model, p.data],
    source: () => attributionSource(),
    async run(ctx) {
      const id = await modelOf(ctx, p.model);
      const { manifest, model, checkpoints, final } = await loadForTracin(ctx.ws.home, id);
      if (!manifest.featurizer) throw new Error(`model ${id.slice(0, 12)} has no featurizer`);
      const classes = manifest.spec.classes;
      const all = await readRows(ctx.ws, ctx.inputs[p.data]!.relation, p.data);
      const index = new Map(classes.map((c, i) => [c, i]));
      const rows = all.filter((r) => index.has(r.label) && featurizable(manifest.featurizer!, r));
      if (rows.length < all.length) ctx.log(`${all.length - rows.length} of ${all.length} rows left out: label not among the model's classes (${classes.join(", ")}) or nothing to featurize`);
      const trained = new Set(readContributions(ctx.ws.home, manifest).map((r) => `${r.datanet}\u0000${r.id}`));
      const y = Int32Array.from(rows, (r) => index.get(r.label)!);
      const s = await labelSignals({ model, checkpoints, final, x: featurize(manifest.featurizer, rows, rows.map((r) => r.id)), y, signal: ctx.signal });
      const score = labelErrorScore(s, params.weights);
      ctx.log(`scored ${rows.length} contributions with model ${id.slice(0, 12)} over ${plural(checkpoints.length, "checkpoint")}`);
      const table = "__tracebook_label_errors";
      await stageRows(ctx.ws, table, LABEL_ERROR_COLUMNS, rows.map((r, i) => [
        r.datanet, r.id, r.contributor, r.label, r.split, trained.has(`${r.datanet}\u0000${r.id}`), classes[s.predicted[i]!]!,
        s.pLabel[i]!, classes[s.rival[i]!]!, s.pRival[i]!, s.selfInfluence[i]!, s.loss[i]!, s.otherLabel[i]!, score[i]!,
      ]));
      return { query: `select *, ? as model_id from ${table} order by score desc, datanet, contribution`, params: [id] };
    },
  };
}

async function readRows(ws: Workspace, relation: string, where: string): Promise<Row[]> {
  const columns = new Set((await ws.rows<{ column_name: string }>(`describe ${relation}`)).map((c) => c.column_name));
  for (const need of ["id", "datanet", "contributor", "label"]) {
    if (!columns.has(need)) throw new Error(`input "${where}" has no column "${need}" (columns: ${[...columns].join(", ")})`);
  }
  const pick = (c: string) => (columns.has(c) ? c : `null as ${c}`);
  return rowsWithVectors<Row>(ws, `select id, datanet, contributor, label, ${pick("split")}, ${pick("title")}, ${pick("text")}, ${pick("features")} from ${relation} order by datanet, id`);
}

function featurizable(f: FeaturizerSpec, r: Row): boolean {
  return f.kind === "features" ? r.features?.length === f.size : `${r.title ?? ""}${r.text ?? ""}`.trim() !== "";
}
