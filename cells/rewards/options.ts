import { z } from "zod";
import { cellName, options, positiveInt, seed } from "../graph/options.ts";
import type { WorkloadParams } from "./workload.ts";
import type { UsageLedgerParams } from "./usage.ts";
import type { RewardSplitParams } from "./cell.ts";
import type { PenaltyRecordsParams } from "./records.ts";
import type { SplitPolicy } from "./policy.ts";

// The options of the rewards cells, as schemas a pipeline file is checked against (graph/options.ts).
// Amounts and policies have parsers of their own (amounts.ts, policy.ts), which say more.

const decimal = z.string({ error: 'must be a decimal string in tokens, e.g. "0.002"' });

export const workloadOptions: z.ZodType<WorkloadParams> = options({
  models: z.record(z.string(), z.number(), { error: "must map model cells to their share of demand, e.g. { model: 1 }" }),
  queries: cellName,
  calls: positiveInt.optional(),
  fee: decimal,
  callers: z.array(z.string()).optional(),
  epoch: z.string({ error: 'must name the epoch, e.g. "2026-11"' }).min(1),
  seed,
});

export const usageLedgerOptions: z.ZodType<UsageLedgerParams> = options({
  models: z.array(cellName, { error: 'must list model cells, e.g. ["model", "base"]' }),
  after: z.array(cellName).optional(),
});

export const rewardSplitOptions: z.ZodType<RewardSplitParams> = options({
  usage: cellName,
  influence: cellName,
  receipts: cellName,
  policy: z.custom<SplitPolicy>((v) => typeof v === "object" && v !== null, { error: "must be a split policy object (see DEFAULT_POLICY)" }).optional(),
  creator: z.string().min(1).optional(),
});

export const penaltyRecordsOptions: z.ZodType<PenaltyRecordsParams> = options({
  rewards: cellName,
});
