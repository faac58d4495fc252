// The fixed small pipeline behind the report tests: the pay fixture's cells (base, adapter, a
// seeded paid workload, TracIn, receipts, rewards) plus self-influence, so every section of a
// report has something to show.
import { baseModel, datanet, finetune, hashedNgrams, inferences, pipeline, receipts, rewardSplit, selfInfluence, sql, tracin } from "../../../cells/index.ts";

const common = { epochs: 4, batchSize: 16, optimizer: { name: "adam" as const }, seed: 5 };

export default pipeline("pay", {
  notes: datanet("notes"),
  train: sql`select * from ${"notes"} where split = 'train'`,
  queries: sql`select * from ${"notes"} where split = 'test'`,
  half: sql`select * from ${"train"} where id < '8'`,
  base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 128 }), hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
  model: finetune({ data: "train", base: "base", heldOut: "queries", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 2, ...common }),
  usage: inferences({ models: { model: 1, base: 0 }, queries: "queries", calls: 40, fee: "0.000000000000001234", callers: ["agent:a", "agent:b"], epoch: "e1", seed: 3 }),
  influence: tracin({ model: "model", train: "train", test: "usage", topK: 5 }),
  self_influence: selfInfluence({ model: "model", train: "train" }),
  receipts: receipts({ influence: "influence" }),
  rewards: rewardSplit({ usage: "usage", influence: "influence", receipts: "receipts" }),
});
