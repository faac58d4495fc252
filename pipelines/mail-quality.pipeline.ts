// How far can the mail pipeline's influence scores be trusted? Leave-one-contributor-out and the
// linear datamodeling score, for exact TracIn, last layer, two projections and the last
// checkpoint alone. Reuses the mail pipeline's cells (same params: same fingerprints, same models).
import { lds, loco, pipeline } from "../cells/index.ts";
import mail from "./mail.pipeline.ts";

const reused = ["mail", "train", "queries", "base_slice", "base", "model"].map((name) => [name, mail.cells.get(name)!] as [string, NonNullable<ReturnType<typeof mail.cells.get>>]);

export default pipeline("mail-quality", reused, {
  loco: loco({ model: "model", train: "train", heldOut: "queries" }),
  lds: lds({ model: "model", train: "train", heldOut: "queries", subsets: 50, fraction: 0.5, seed: 0 }),
});
