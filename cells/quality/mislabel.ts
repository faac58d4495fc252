import fs from "node:fs";
import path from "node:path";
import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { mislabelOptions } from "./options.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { stageRows } from "../store/stage.ts";
import { tf } from "../compute/backend.ts";
import { Rng } from "../compute/random.ts";
import { attributionSource } from "../attribution/engine.ts";
import { prepareAttribution } from "../attribution/cells.ts";
import { labelErrorScore, labelSignals, DEFAULT_WEIGHTS, type ScoreWeights } from "../curation/signals.ts";
import { auc, recallAtK } from "./metrics.ts";
import { trainAsManifest, trainingIdentity } from "./retrain.ts";

const MISLABEL_VERSION = "2"; // 2: the loss gradient `summed` (attribution/factors.ts)

/** The scores compared: the curation queue's label-error score (its default weights) and its signals alone. */
const SCORES: Record<string, ScoreWeights> = {
  "label-error score": DEFAULT_WEIGHTS,
  "self-influence": { selfInfluence: 1, loss: 0, otherLabel: 0 },
  loss: { selfInfluence: 0, loss: 1, otherLabel: 0 },
};

export interface MislabelParams {
  model: string;
  train: string;
  /** Share of the training rows whose label is flipped (default 0.1). */
  fraction?: number;
  /** Which rows are flipped, and to what (recorded in the table). */
  seed?: number;
  /** Recall is read in the top t% of the ranking, for each t (default 1, 5, 10, 20, 30). */
  tops?: number[];
}

/**
 * Seeded flips: round(N·fraction) distinct rows, each to a class drawn uniformly among the others
 * (an offset in 1..C−1 never lands on the label itself).
 */
export function flipLabels(y: Int32Array, classes: number, fraction: number, seed: number): { y: Int32Array; flipped: Uint8Array } {
  const rng = Rng.derive(seed, "mislabel:flips");
  const n = y.length, want = Math.round(n * fraction);
  const out = y.slice(), flipped = new Uint8Array(n);
  for (const r of rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, want)) {
    out[r] = (y[r]! + rng.int(1, classes - 1)) % classes;
    flipped[r] = 1;
  }
  return { y: out, flipped };
}

/**
 * Mislabel detection on the user's own data: flip a seeded share of the training labels, retrain
 * the model as its manifest says on the flipped copy (with its checkpoints), score every row as
 * the curation queue does (labelSignals, labelErrorScore), and report, per score, the ROC AUC of
 * finding the flipped rows and their recall in the top t% of the ranking. The retrain's scores are
 * cached under `<workspace>/quality/mislabel/`: a rerun (or a resumed run) does not train again.
 */
export function mislabel(p: MislabelParams): Cell {
  checkOptions("mislabel", mislabelOptions, p);
  const params = { fraction: 0.1, seed: 2024, tops: [1, 5, 10, 20, 30], ...p };
  return {
    kind: "mislabel",
    version: MISLABEL_VERSION,
    params,
    inputs: [p.model, p.train],
    source: () => attributionSource(),
    async run(ctx) {
      const loaded = await prepareAttribution(ctx, p.model, p.train, null);
      const { manifest: m, trainSet } = loaded;
      const C = m.spec.classes.length, N = trainSet.y.length;
      const { y, flipped } = flipLabels(trainSet.y, C, params.fraction, params.seed);
      const nFlipped = flipped.reduce((s, v) => s + v, 0);
      const engine = ctx.sourceVersion!; // attributionSource(), computed once by the graph for this run
      const key = sha256(`tracebook.mislabel/${MISLABEL_VERSION}\n${trainingIdentity(m)}\n${m.training?.checkpoints}\n${params.fraction}\n${params.seed}\n${engine}`);
      const file = path.join(ctx.ws.home, "quality", "mislabel", `${key}.json`);
      const t0 = performance.now();
      let signals: { selfInfluence: Float64Array; loss: Float64Array; otherLabel: Float64Array };
      if (fs.existsSync(file)) {
        const c = JSON.parse(fs.readFileSync(file, "utf8")) as Record<"selfInfluence" | "loss" | "otherLabel", number[]>;
        signals = { selfInfluence: Float64Array.from(c.selfInfluence), loss: Float64Array.from(c.loss), otherLabel: Float64Array.from(c.otherLabel) };
        ctx.log(`reused the cached retrain on ${nFlipped} flipped labels`);
      } else {
        ctx.log(`flipped ${nFlipped} of ${N} training labels (seed ${params.seed}); retraining model ${m.id.slice(0, 12)} as its manifest says`);
        const r = await trainAsManifest(m, m.kind === "adapter" ? loaded.model.base : null, { x: trainSet.x, y }, { signal: ctx.signal });
        try {
          const s = await labelSignals({
            model: loaded.model, final: r.weights, x: trainSet.x, y, signal: ctx.signal,
            checkpoints: r.checkpoints.map((c) => ({ index: c.index, learningRate: c.learningRate, weights: c.weights })),
          });
          signals = { selfInfluence: s.selfInfluence, loss: s.loss, otherLabel: s.otherLabel };
        } finally {
          if (r.frozen) tf.dispose(Object.values(r.frozen));
        }
        await writeFileAtomic(file, JSON.stringify({ selfInfluence: Array.from(signals.selfInfluence), loss: Array.from(signals.loss), otherLabel: Array.from(signals.otherLabel) }));
      }
      const seconds = (performance.now() - t0) / 1000;
      const positive = Array.from(flipped, (v) => v === 1);
      const rows: unknown[][] = [];
      for (const [name, weights] of Object.entries(SCORES)) {
        const score = labelErrorScore(signals, weights);
        const a = auc(score, positive);
        const recalls = params.tops.map((t) => {
          const k = Math.round((N * t) / 100);
          return { t, k, recall: recallAtK(score, positive, k) };
        });
        for (const { t, k, recall } of recalls) rows.push([name, a, t, k, recall, Math.round(recall * nFlipped), nFlipped, N, params.fraction, params.seed, seconds]);
        ctx.log(`${name}: AUC ${a.toFixed(4)}; recall ${recalls.map(({ t, recall }) => `top ${t}% ${(recall * 100).toFixed(1)}%`).join(", ")}`);
      }
      await stageRows(ctx.ws, "__tracebook_mislabel", [["score", "VARCHAR"], ["auc", "DOUBLE"], ["top_pct", "DOUBLE"], ["k", "INTEGER"], ["recall", "DOUBLE"],
        ["found", "INTEGER"], ["flipped", "INTEGER"], ["rows", "INTEGER"], ["fraction", "DOUBLE"], ["flip_seed", "INTEGER"], ["retrain_seconds", "DOUBLE"]], rows);
      return { query: "select *, ? as model_id from __tracebook_mislabel", params: [m.id] };
    },
  };
}
