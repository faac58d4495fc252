// The report fixture's quality evaluation, as pipelines/mail-quality.pipeline.ts is the mail
// pipeline's: the pay pipeline's model cell reused (same fingerprint, same model id), with tiny
// LOCO (4 contributors, two seeds), LDS (6 subsets) and mislabel cells on it, and one what-if:
// the model retrained without contributor c0, with a seed check.
import { counterfactual, lds, loco, mislabel, pipeline } from "../../../cells/index.ts";
import pay from "./report.pipeline.ts";

const reused = ["notes", "train", "queries", "half", "base", "model"].map((name) => [name, pay.cells.get(name)!] as [string, NonNullable<ReturnType<typeof pay.cells.get>>]);
const modes = [{ name: "exact", mode: "exact" as const }, { name: "last-layer", mode: "last-layer" as const }];

export default pipeline("pay-quality", reused, {
  loco: loco({ model: "model", train: "train", heldOut: "queries", modes, replicateSeed: 6 }),
  lds: lds({ model: "model", train: "train", heldOut: "queries", modes, subsets: 6, seed: 1 }),
  mislabel: mislabel({ model: "model", train: "train", fraction: 0.2, seed: 3, tops: [10, 50] }),
  without_c0: counterfactual({ model: "model", train: "train", queries: "queries", without: { contributors: ["c0"] }, replicateSeed: 6 }),
});
