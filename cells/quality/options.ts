import { z } from "zod";
import { cellName, options, positiveInt, seed } from "../graph/options.ts";
import { projection, tracinMode } from "../attribution/options.ts";
import type { CounterfactualParams } from "./counterfactual.ts";
import type { MislabelParams } from "./mislabel.ts";
import type { ModeSpec } from "./cells.ts";
import type { RetrainDiffParams } from "./retrain-diff.ts";

// The options of the attribution-quality cells, as schemas a pipeline file is checked against (graph/options.ts).

const names = z.array(z.string(), { error: "must be a list of names" }).optional();
const modeSpec: z.ZodType<ModeSpec> = options({ name: z.string().min(1), mode: tracinMode, projection: projection.optional(), lastCheckpointOnly: z.boolean().optional() });
const evaluation = { model: cellName, train: cellName, heldOut: cellName, modes: z.array(modeSpec).min(1).optional() };
const share = z.number({ error: "must be a fraction between 0 and 1" }).gt(0, { error: "must be a fraction between 0 and 1" }).lt(1, { error: "must be a fraction between 0 and 1" });

export const locoOptions = options({ ...evaluation, replicateSeed: seed.optional() });
export const ldsOptions = options({ ...evaluation, subsets: positiveInt.optional(), fraction: share.optional(), seed: seed.optional() });

export const mislabelOptions: z.ZodType<MislabelParams> = options({
  model: cellName, train: cellName, fraction: share.optional(), seed: seed.optional(),
  tops: z.array(z.number().gt(0).max(100), { error: "must list percentages in (0, 100]" }).min(1).optional(),
});

export const counterfactualOptions: z.ZodType<CounterfactualParams> = options({
  model: cellName, train: cellName, queries: cellName, heldOut: cellName.optional(),
  without: options({ contributors: names, datanets: names, ids: names }),
  onlyTrained: z.boolean().optional(), replicateSeed: seed.optional(), mode: tracinMode.optional(), projection: projection.optional(),
});

export const retrainDiffOptions: z.ZodType<RetrainDiffParams> = options({ model: cellName, on: cellName });
