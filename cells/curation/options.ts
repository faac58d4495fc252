import { z } from "zod";
import { cellName, options } from "../graph/options.ts";
import { statuses } from "../datanet/options.ts";
import type { LabelErrorParams } from "./label-errors.ts";
import type { ValidateOptions } from "./validate.ts";

// The options of the curation cells, as schemas a pipeline file is checked against (graph/options.ts).
// A rule set has a parser of its own (ruleset.ts), which says more.

export const validateOptions: z.ZodType<ValidateOptions> = options({ rules: z.unknown().optional(), status: statuses.optional() });

export const labelErrorsOptions: z.ZodType<LabelErrorParams> = options({
  model: cellName,
  data: cellName,
  weights: options({ selfInfluence: z.number(), loss: z.number(), otherLabel: z.number() }).optional(),
});
