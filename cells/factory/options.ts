import { z } from "zod";
import { cellName, options, positiveInt, seed } from "../graph/options.ts";
import type { BaseModelParams, FinetuneParams } from "./cells.ts";
import type { OptimizerConfig, ScheduleConfig } from "./optimize.ts";
import type { FeaturizerSpec } from "./featurize.ts";
import type { LoraConfig } from "./mlp.ts";

// The options of the model cells, as schemas a pipeline file is checked against (graph/options.ts).
// Typed against the TypeScript interfaces, so the two cannot drift apart.

const rate = z.number({ error: "must be a positive number" }).positive({ error: "must be a positive number" });
const rateOrZero = z.number({ error: "must be a number ≥ 0" }).min(0, { error: "must be a number ≥ 0" });
const warmup = z.int({ error: "must be a whole number of steps ≥ 0" }).min(0, { error: "must be a whole number of steps ≥ 0" }).optional();

export const optimizerOptions: z.ZodType<OptimizerConfig> = z.discriminatedUnion("name", [
  options({ name: z.literal("sgd"), momentum: z.number().min(0).max(1).optional() }),
  options({ name: z.literal("adam"), beta1: z.number().min(0).lt(1).optional(), beta2: z.number().min(0).lt(1).optional(), epsilon: z.number().positive().optional() }),
], { error: 'must be "adam" or "sgd", as in { name: "adam" }' });

export const scheduleOptions: z.ZodType<ScheduleConfig> = z.discriminatedUnion("kind", [
  options({ kind: z.literal("constant"), lr: rate, warmup }),
  options({ kind: z.literal("linear"), lr: rate, final: rateOrZero.optional(), warmup }),
  options({ kind: z.literal("cosine"), lr: rate, final: rateOrZero.optional(), warmup }),
  options({ kind: z.literal("step"), lr: rate, every: positiveInt, factor: rate, warmup }),
], { error: 'must be "constant", "linear", "cosine" or "step", as in { kind: "cosine", lr: 2e-3, final: 2e-4 }' });

const featurizerOptions: z.ZodType<FeaturizerSpec | "features"> = z.union([
  z.literal("features"),
  options({ kind: z.literal("hashed-ngrams"), version: z.literal(1), dims: positiveInt, ngrams: z.literal([1, 2]), seed, maxTokens: positiveInt }),
  options({ kind: z.literal("features"), version: z.literal(1), size: positiveInt }),
], { error: 'must be hashedNgrams({ … }) for text, or "features" for stored feature vectors' });

const loraOptions: z.ZodType<LoraConfig> = options({
  rank: positiveInt,
  alpha: rate,
  targets: z.array(z.string(), { error: 'must list dense layers, e.g. ["dense_1"]' }).min(1, { error: 'must name at least one dense layer, e.g. ["dense_1"]' }),
});

const common = {
  data: cellName,
  heldOut: cellName.optional(),
  epochs: positiveInt,
  batchSize: positiveInt.optional(),
  optimizer: optimizerOptions.optional(),
  schedule: scheduleOptions,
  seed,
};

export const baseModelOptions: z.ZodType<BaseModelParams> = options({
  ...common,
  featurizer: featurizerOptions,
  hidden: z.array(positiveInt, { error: "must list hidden layer sizes, e.g. [128, 64]" }).min(1, { error: "must list at least one hidden layer size, e.g. [128, 64]" }),
});

export const finetuneOptions: z.ZodType<FinetuneParams> = options({
  ...common,
  base: cellName,
  adapter: loraOptions,
  checkpoints: positiveInt,
});
