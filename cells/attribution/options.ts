import { z } from "zod";
import { cellName, options, positiveInt, seed } from "../graph/options.ts";
import type { TracinParams } from "./cells.ts";
import type { TracinMode } from "./tracin.ts";

// The options of the attribution cells, as schemas a pipeline file is checked against (graph/options.ts).

const CHECKPOINTS = 'must be "all", "last" or a non-empty list of checkpoint indices';

export const tracinMode: z.ZodType<TracinMode> = z.enum(["exact", "last-layer", "projection"]);
export const projection = options({ dim: positiveInt, seed });

export const tracinOptions: z.ZodType<TracinParams> = options({
  model: cellName,
  train: cellName,
  test: cellName,
  topK: positiveInt.optional(),
  mode: tracinMode.optional(),
  target: z.enum(["predicted", "label"]).optional(),
  projection: projection.optional(),
  checkpoints: z.union([z.literal(["all", "last"]), z.array(z.int(), { error: CHECKPOINTS }).min(1, { error: CHECKPOINTS })], { error: CHECKPOINTS }).optional(),
});

export const selfInfluenceOptions = options({ model: cellName, train: cellName, mode: tracinMode.optional(), projection: projection.optional() });
export const receiptsOptions = options({ influence: cellName, top: positiveInt.optional() });
export const gradientFeaturesOptions = options({ model: cellName, train: cellName, dim: positiveInt.optional(), seed: seed.optional() });
