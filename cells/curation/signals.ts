import { tf } from "../compute/backend.ts";
import type { FeatureMatrix } from "../factory/featurize.ts";
import { toTensors, type HostWeights } from "../factory/mlp.ts";
import { classProbabilities } from "../factory/predict.ts";
import type { TracinModel } from "../attribution/factors.ts";
import { selfInfluence, type TracinCheckpoint } from "../attribution/tracin.ts";

/**
 * Signals that a contribution's label is wrong, from a trained model and its checkpoints:
 *
 *  - self-influence (TracInCP): Σ_k η_k ‖∇θ ℓ(θ_k, z)‖² — how hard the model had to work to fit
 *    the row, summed over training; mislabelled rows pull against everything like them.
 *  - loss: −log p(label) under the final checkpoint — what the model, having seen everything,
 *    thinks of the label. Probabilities are clipped at 1e-6 so one certain mistake cannot
 *    dominate the statistics below.
 *  - other label: max over c ≠ label of p(c), minus p(label), in [−1, 1] — the model's confidence
 *    in another label rather than in this one (the "margin" of confident learning).
 *
 * The score is a weighted sum of the signals' z-scores over the rows scored (self-influence on a
 * log scale: it spans orders of magnitude). bench/curation.ts measures each signal and their
 * combinations on planted label flips in the real corpora; DEFAULT_WEIGHTS is the combination
 * that found most there, averaged over digits and mail-spam.
 */
export interface LabelSignals {
  selfInfluence: Float64Array;
  loss: Float64Array;
  otherLabel: Float64Array;
  pLabel: Float64Array;
  /** The class the model predicts, and the most likely class other than the label. */
  predicted: Int32Array;
  rival: Int32Array;
  pRival: Float64Array;
}

export interface ScoreWeights {
  selfInfluence: number;
  loss: number;
  otherLabel: number;
}

/**
 * Self-influence + final loss, equally weighted. Measured (bench/results/curation.json, 10% of
 * training labels flipped): the loss finds most flips on digits and self-influence on mail-spam
 * (where the model memorises flipped mail by its last checkpoint, but not at its early ones);
 * their sum is the best on average over both. The confidence in another label ranks like the loss
 * on two classes and a little worse than it on ten, so it adds nothing: weight 0, still reported.
 */
export const DEFAULT_WEIGHTS: ScoreWeights = { selfInfluence: 1, loss: 1, otherLabel: 0 };

const P_MIN = 1e-6;

export interface SignalRequest {
  model: TracinModel;
  checkpoints: TracinCheckpoint[];
  /** The final trainable weights (adapter + head, or every layer). */
  final: HostWeights;
  x: FeatureMatrix;
  /** The label of each row, as a class index of the model. */
  y: Int32Array;
  signal?: AbortSignal;
}

export async function labelSignals(req: SignalRequest): Promise<LabelSignals> {
  const n = req.y.length, C = req.model.spec.classes.length;
  const si = await selfInfluence({ model: req.model, checkpoints: req.checkpoints, mode: "exact", train: { x: req.x, y: req.y }, signal: req.signal });
  const probs = await probabilities(req.model, req.final, req.x);
  const out: LabelSignals = {
    selfInfluence: si, loss: new Float64Array(n), otherLabel: new Float64Array(n), pLabel: new Float64Array(n),
    predicted: new Int32Array(n), rival: new Int32Array(n), pRival: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const p = probs.subarray(i * C, (i + 1) * C), y = req.y[i]!;
    let best = 0, rival = y === 0 ? 1 : 0;
    for (let c = 0; c < C; c++) {
      if (p[c]! > p[best]!) best = c;
      if (c !== y && p[c]! > p[rival]!) rival = c;
    }
    out.predicted[i] = best;
    out.rival[i] = rival;
    out.pRival[i] = p[rival]!;
    out.pLabel[i] = p[y]!;
    out.loss[i] = -Math.log(Math.max(p[y]!, P_MIN));
    out.otherLabel[i] = p[rival]! - p[y]!;
  }
  return out;
}

/** The combined label-error score: Σ w · z(signal) over the rows given, self-influence on a log scale. */
export function labelErrorScore(s: Pick<LabelSignals, "selfInfluence" | "loss" | "otherLabel">, weights: ScoreWeights = DEFAULT_WEIGHTS): Float64Array {
  const n = s.loss.length;
  const parts: [number, Float64Array][] = [
    [weights.selfInfluence, zScores(Float64Array.from(s.selfInfluence, (v) => Math.log(Math.max(v, 1e-30))))],
    [weights.loss, zScores(s.loss)],
    [weights.otherLabel, zScores(s.otherLabel)],
  ];
  const out = new Float64Array(n);
  for (const [w, z] of parts) if (w) for (let i = 0; i < n; i++) out[i]! += w * z[i]!;
  return out;
}

/** (v − mean) / standard deviation; all zeros when the values do not vary. */
export function zScores(v: Float64Array): Float64Array {
  const n = v.length;
  if (!n) return new Float64Array(0);
  let mean = 0;
  for (const x of v) mean += x;
  mean /= n;
  let sq = 0;
  for (const x of v) sq += (x - mean) ** 2;
  const sd = Math.sqrt(sq / n);
  return Float64Array.from(v, (x) => (sd > 0 ? (x - mean) / sd : 0));
}

/** Softmax probabilities [n × classes] under the given weights (over the frozen base for an adapter), as the model serves them. */
export async function probabilities(model: TracinModel, weights: HostWeights, x: FeatureMatrix): Promise<Float32Array> {
  const base = toTensors(model.base), w = toTensors(weights);
  try {
    return await classProbabilities(model.spec, x, w, model.lora ? { base, lora: model.lora } : undefined);
  } finally {
    tf.dispose([...Object.values(base), ...Object.values(w)]);
  }
}
