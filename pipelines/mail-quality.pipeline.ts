// How far can the mail pipeline's influence scores be trusted? Leave-one-contributor-out and the
// linear datamodeling score, for exact TracIn, last layer, two projections and the last
// checkpoint alone; and how well planted label flips are found. Reuses the mail pipeline's cells (same params: same fingerprints, same models).
import { lds, loco, mislabel, pipeline } from "../cells/index.ts";
import mail from "./mail.pipeline.ts";

const reused = ["mail", "train", "queries", "base_slice", "base", "model"].map((name) => [name, mail.cells.get(name)!] as [string, NonNullable<ReturnType<typeof mail.cells.get>>]);

export default pipeline("mail-quality", reused, {
  // A replicate seed: how far two trainings agree on each contributor's LOCO change (the ceiling).
  loco: loco({ model: "model", train: "train", heldOut: "queries", replicateSeed: 8 }),
  lds: lds({ model: "model", train: "train", heldOut: "queries", subsets: 50, fraction: 0.5, seed: 0 }),
  // 10% of the training labels flipped (seeded), the model retrained on them: does the curation
  // queue's score find them? AUC and recall in the top 1–30%.
  mislabel: mislabel({ model: "model", train: "train", fraction: 0.1, seed: 2024 }),
});
