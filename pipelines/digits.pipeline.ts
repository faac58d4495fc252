// The digits pipeline: the approved MNIST contributions, a base MLP trained on a quarter of the
// training split, a LoRA adapter fine-tuned on the whole training split, and TracIn influence of
// every training image on every held-out image, with receipts.
import { baseModel, labelErrors, validate, validations, inferences, retrainDiff, rewardSplit, datanet, finetune, penaltyRecords, pipeline, receipts, selfInfluence, sql, tracin, usageLedger } from "../cells/index.ts";

export default pipeline("digits", {
  digits: datanet("digits", { status: "approved" }),
  train: sql`select * from ${"digits"} where split = 'train'`,
  queries: sql`select * from ${"digits"} where split = 'test'`,
  scribes: sql`
    select contributor, label, count(*) as images
    from ${"train"} group by contributor, label order by contributor, label`,
  base_slice: sql`select * from ${"train"} where id < '4'`,
  base: baseModel({
    data: "base_slice", heldOut: "queries", featurizer: "features",
    hidden: [256, 128], epochs: 8, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "constant", lr: 1e-3 }, seed: 7,
  }),
  model: finetune({
    data: "train", base: "base", heldOut: "queries", adapter: { rank: 32, alpha: 64, targets: ["dense_1", "dense_2"] },
    epochs: 8, batchSize: 32, optimizer: { name: "adam" }, schedule: { kind: "cosine", lr: 3e-3, final: 2e-4 }, checkpoints: 4, seed: 7,
  }),
  // A seeded agent workload: 600 calls on random held-out digits, spread unevenly over callers.
  workload: inferences({
    models: { model: 1, base: 0 }, queries: "queries", calls: 600, fee: "0.0005", callers: ["agent:ocr", "agent:ocr", "agent:forms"], epoch: "2026-11", seed: 11,
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
  self_influence: selfInfluence({ model: "model", train: "train" }),
  receipts: receipts({ influence: "influence", top: 5 }),
  rewards: rewardSplit({ usage: "usage", influence: "influence", receipts: "receipts" }),
  // The penalties the split recorded (epoch, model, contributor), as the notebooks show them.
  penalties: penaltyRecords({ rewards: "rewards" }),
  // Curation: rule flags and label-error scores, read by `tracebook curate queue digits`.
  flags: validate("digits"),
  label_errors: labelErrors({ model: "model", data: "digits" }),
  // Curators' decisions on the validation trail (a kept row leaves the queue notebook too).
  decisions: validations("digits"),
  // What the last retrain changed (a curator's decision retrains the model): the model it
  // superseded against this one, their training rows and their predictions on the held-out rows.
  last_retrain: retrainDiff({ model: "model", on: "queries" }),
  // Approximations to compare against exact TracIn in the Influence explorer (rewards use
  // `influence`). Declared last, so a recompute settles the rewards first. (No projection variant:
  // at this size it costs more than exact TracIn, 7.9 s against 2.7 s here, every retrain.)
  influence_last_layer: tracin({ model: "model", train: "train", test: "usage", topK: 20, mode: "last-layer" }),
  influence_last_checkpoint: tracin({ model: "model", train: "train", test: "usage", topK: 20, checkpoints: "last" }),
});
