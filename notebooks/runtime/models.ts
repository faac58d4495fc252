import type { ModelsAnswer, ModelsRequest } from "../../cells/notebooks/wire.ts";
import type { ShippedModels } from "../../cells/notebooks/ship-models.ts";
import { pickModelPair } from "../../cells/notebooks/model-pair.ts";
import { DecisionError, endpoint } from "./curation.ts";
import { shippedPerPipeline } from "./shipped.ts";

export type { ModelsAnswer, ModelsRequest, ModelRowChange, ModelRowsDiff } from "../../cells/notebooks/wire.ts";

export interface Models {
  /** Whether this page can ask: served by `tracebook dev`, or a static build that shipped the histories (ask says what it lacks). */
  readonly available: boolean;
  /** A model cell's history and two of its models compared; rejects with an error naming the field at fault. */
  ask(request: ModelsRequest): Promise<ModelsAnswer>;
}

/**
 * The `models` builtin: `tracebook model list` and `model diff` through the dev server's JSON API;
 * in a static build, the histories the build shipped, each model compared with the one before it.
 */
export function models(base: string): Models {
  const api = endpoint<ModelsRequest, ModelsAnswer>(base, "models", "compare models");
  if (api.available) return { available: true, ask: api.post };
  const shippedOf = shippedPerPipeline(base, async (catalog, pipeline) => {
    const file = catalog.models?.file;
    if (!file) throw new DecisionError(`this static build shipped no model history for ${pipeline}: run \`tracebook dev\` to compare its models`, "pipeline", 0);
    const res = await fetch(`${base}/models/${file}`, { cache: "no-store" });
    if (!res.ok) throw new DecisionError(`${base}/models/${file}: ${res.status} ${res.statusText}`, null, res.status);
    return (await res.json()) as ShippedModels;
  });
  return {
    available: true,
    async ask(req) {
      const shipped = await shippedOf(req.pipeline);
      const cell = req.cell ?? "model";
      const c = shipped.cells[cell];
      if (!c) throw new DecisionError(`cell: "${cell}" of pipeline ${req.pipeline} had trained no model when this site was built (model cells: ${Object.keys(shipped.cells).join(", ") || "none"})`, "cell", 0);
      const pair = pickModelPair(c.history, `${req.pipeline}.${cell}`, req);
      if ("field" in pair) throw new DecisionError(pair.message, pair.field, 0);
      if (pair.a === null) return { pipeline: req.pipeline, cell, history: c.history, diff: null };
      const diff = c.diffs.find((d) => d.a === pair.a && d.b === pair.b);
      if (!diff) {
        throw new DecisionError(`this static build compares each model with the one before it (the latest ${c.diffs.length}): run \`tracebook dev\`, or \`tracebook model diff ${pair.a.slice(0, 12)} ${pair.b.slice(0, 12)}\`, to compare these two`, null, 0);
      }
      return { pipeline: req.pipeline, cell, history: c.history, diff };
    },
  };
}
