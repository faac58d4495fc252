// The mail pipeline: the approved SpamAssassin contributions; a base spam classifier trained on
// a quarter of the training split; a LoRA adapter fine-tuned on the whole training split; TracIn
// influence of every training contribution on every held-out message, with receipts.
import { baseModel, labelErrors, validate, validations, inferences, retrainDiff, rewardSplit, datanet, finetune, hashedNgrams, penaltyRecords, pipeline, receipts, selfInfluence, sql, tracin, usageLedger } from "../cells/index.ts";

export default pipeline("mail", {
  mail: datanet("mail-spam", { status: "approved" }),
  train: sql`select * from ${"mail"} where split = 'train'`,
  queries: sql`select * from ${"mail"} where split = 'test'`,
  contributors: sql`
    select contributor, label, count(*) as contributions
    from ${"train"} group by contributor, label order by contributions desc, contributor`,
  labels: sql`select label, count(*) as n from ${"train"} group by label order by label`,
  // A quarter of the training split, chosen by content hash (ids are uniform hex).
  base_slice: sql`select * from ${"train"} where id < '4'`,
  base: baseModel({
    data: "base_slice", heldOut: "queries", featurizer: hashedNgrams({ dims: 8192, ngrams: 2, seed: 0 }),
    hidden: [128, 64], epochs: 4, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "constant", lr: 1e-3 }, seed: 7,
  }),
  model: finetune({
    data: "train", base: "base", heldOut: "queries", adapter: { rank: 8, alpha: 16, targets: ["dense_1", "dense_2"] },
    epochs: 4, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "cosine", lr: 2e-3, final: 2e-4 }, checkpoints: 4, seed: 7,
  }),
  // Executed, paid inferences: the held-out mail replayed through the adapter by three agents.
  // The base is never called, so it earns nothing (and the statement says so).
  workload: inferences({
    models: { model: 1, base: 0 }, queries: "queries", fee: "0.002", callers: ["agent:inbox-1", "agent:inbox-2", "agent:triage"], epoch: "2026-11", seed: 7,
  }),
  // What gets attributed and paid: every executed inference of these models recorded for this
  // pipeline, the workload's and any a caller paid for (`tracebook infer`), read from the ledger.
  usage: usageLedger({ models: ["model", "base"], after: ["workload"] }),
  influence: tracin({ model: "model", train: "train", test: "usage", topK: 20, mode: "exact" }),
  // Per query (sql.by): one more paid inference recomputes its own rows, the others are kept.
  influence_topk: sql.by("query")`
    select query, key as contribution, contributor, score, rank, text
    from ${"influence"} where level = 'contribution' order by query, (rank < 0), abs(rank)`,
  contributor_influence: sql.by("query")`
    select query, contributor, score, share from ${"influence"} where level = 'contributor' order by query, rank`,
  datanet_influence: sql.by("query")`
    select query, datanet, score, share from ${"influence"} where level = 'datanet' order by query, rank`,
  self_influence: selfInfluence({ model: "model", train: "train" }),
  receipts: receipts({ influence: "influence", top: 5 }),
  rewards: rewardSplit({ usage: "usage", influence: "influence", receipts: "receipts" }),
  // The penalties the split recorded (epoch, model, contributor), as the notebooks show them.
  penalties: penaltyRecords({ rewards: "rewards" }),
  // Curation: rule flags and label-error scores, read by `tracebook curate queue mail-spam`.
  flags: validate("mail-spam"),
  label_errors: labelErrors({ model: "model", data: "mail" }),
  // Curators' decisions on the validation trail (a kept row leaves the queue notebook too).
  decisions: validations("mail-spam"),
  // What the last retrain changed (a curator's decision retrains the model): the model it
  // superseded against this one, their training rows and their predictions on the held-out rows.
  last_retrain: retrainDiff({ model: "model", on: "queries" }),
  // Approximations to compare against exact TracIn in the Influence explorer (rewards use
  // `influence`). Declared last, so a recompute settles the rewards first. (No projection variant:
  // at this size it costs more than exact TracIn, 6.7 s against 5.7 s here, every retrain.)
  influence_last_layer: tracin({ model: "model", train: "train", test: "usage", topK: 20, mode: "last-layer" }),
  influence_last_checkpoint: tracin({ model: "model", train: "train", test: "usage", topK: 20, checkpoints: "last" }),
});
