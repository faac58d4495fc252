import { tf } from "../compute/backend.ts";
import { layerNames, type HostWeights, type LoraConfig, type MlpSpec } from "../factory/mlp.ts";
import { lowestLayer } from "./portable-model.ts";

/**
 * Per-example gradients of dense and LoRA layers are outer products, so gradient dot products
 * factor. For a dense layer z = h·W + b with δ = ∂ℓ/∂z:
 *
 *   ∇W = hᵀδ, ∇b = δ   ⇒   ⟨∇θ(i), ∇θ(j)⟩ = (hᵢ·hⱼ + 1)(δᵢ·δⱼ)
 *
 * and for a LoRA term s·(h·A)·B with u = h·A (s = α / r):
 *
 *   ∇B = s·uᵀδ              ⇒ (s·uᵢ · s·uⱼ)(δᵢ·δⱼ)
 *   ∇A = hᵀ(s·δ·Bᵀ)         ⇒ (hᵢ·hⱼ)(gᵢ·gⱼ),  g = s·δ·Bᵀ
 *
 * A model's trainable parameters are a list of such factors (a, b, bias): the gradient dot
 * product of two examples is Σ_f (aᵢ·aⱼ + [bias])(bᵢ·bⱼ), exactly, with no N×D gradient ever
 * formed. `a` of the first layer is the input itself, which does not change across
 * checkpoints: the engine computes its Gram block once and reuses it.
 */
export interface Factor {
  name: string;
  /** [n, da] */
  a: tf.Tensor2D;
  /** [n, db] */
  b: tf.Tensor2D;
  /** The a-side carries an implicit constant 1 (a bias): add 1 to every a·a′. */
  bias: boolean;
  /** `a` is the model input x (the same at every checkpoint). */
  aIsInput: boolean;
}

/** What TracIn differentiates: the whole MLP (base or imported), or an adapter over a frozen base. */
export interface TracinModel {
  spec: MlpSpec;
  /** Frozen base weights (adapter mode); empty for a full model. */
  base: HostWeights;
  lora: LoraConfig | null;
}

/**
 * How the loss gradient's target entry p_y − 1 is computed. `summed`: as −Σ_{c≠y} p_c, the same
 * number, but float32 keeps its digits when p_y is within ~1e-7 of 1 (a near-certain prediction),
 * where `subtracted` rounds it to a multiple of 6e-8 or to 0. On mail 14% of the receipts had
 * confidence above 1 − 1e-6; summed, 34 of 1,201 first scores moved by 0.1% to 1.6%, and the
 * TF.js and onnxruntime engines no longer put one 10% apart.
 * `subtracted` is kept to recompute the receipts made with it (before attribution version 3).
 */
export type LossGradient = "summed" | "subtracted";

/** Which parameters the gradients cover: all trainable ones, or only the last layer (head). */
export type FactorScope = "all" | "last-layer";

/** The scope a TracIn mode differentiates: projection projects all trainable parameters. */
export const scopeOf = (mode: "exact" | "last-layer" | "projection"): FactorScope => (mode === "last-layer" ? "last-layer" : "all");

/**
 * The factors of per-example gradients of the per-example loss ℓ = CE(softmax(z), y) at one
 * checkpoint, for rows x [n, D] and targets y (class indices). Also returns the logits.
 * Built by a hand-written forward and backward pass, batched as matrix products.
 */
export function exampleFactors(
  model: TracinModel, trainable: HostWeights, x: tf.Tensor2D, y: tf.Tensor1D, scope: FactorScope, lossGradient: LossGradient = "summed",
): { factors: Factor[]; logits: tf.Tensor2D } {
  const { spec, lora } = model;
  const names = layerNames(spec);
  const weight = (key: string) => trainable[key] ?? model.base[key];
  const t = (key: string) => {
    const w = weight(key);
    if (!w) throw new Error(`checkpoint has no weight "${key}"`);
    return tf.tensor(w.data, w.shape, "float32");
  };
  const full = lora === null;
  const s = lora ? lora.alpha / lora.rank : 0;
  const isTarget = (n: string) => !!lora && lora.targets.includes(n);
  // Forward, keeping each layer's input h, LoRA intermediate u and pre-activation z.
  const inputs: tf.Tensor2D[] = [];
  const us: (tf.Tensor2D | null)[] = [];
  const zs: tf.Tensor2D[] = [];
  const W: tf.Tensor2D[] = [], A: (tf.Tensor2D | null)[] = [], B: (tf.Tensor2D | null)[] = [];
  let h: tf.Tensor2D = x;
  for (const name of names) {
    const w = t(`${name}.kernel`) as tf.Tensor2D;
    W.push(w);
    inputs.push(h);
    let z = tf.add(tf.matMul(h, w), t(`${name}.bias`)) as tf.Tensor2D;
    if (isTarget(name)) {
      const a = t(`${name}.lora_A`) as tf.Tensor2D, b = t(`${name}.lora_B`) as tf.Tensor2D;
      const u = tf.matMul(h, a) as tf.Tensor2D;
      z = tf.add(z, tf.mul(tf.matMul(u, b), s));
      A.push(a); B.push(b); us.push(u);
    } else {
      A.push(null); B.push(null); us.push(null);
    }
    zs.push(z);
    h = name === "head" ? z : tf.relu(z);
  }
  const logits = h;
  const L = names.length;
  // δ_L = softmax(z) − onehot(y): the gradient of the per-example cross-entropy (LossGradient).
  const onehot = tf.oneHot(y, spec.classes.length);
  const others = lossGradient === "summed" ? tf.mul(tf.softmax(logits), tf.sub(1, onehot)) : null;
  let delta = (others ? tf.sub(others, tf.mul(onehot, tf.sum(others, 1, true))) : tf.sub(tf.softmax(logits), onehot)) as tf.Tensor2D;
  const factors: Factor[] = [];
  const lowest = lowestLayer(model, scope);
  for (let l = L - 1; l >= lowest; l--) {
    const name = names[l]!;
    const trainableDense = full || name === "head";
    if (trainableDense) factors.push({ name: `${name}.kernel+bias`, a: inputs[l]!, b: delta, bias: true, aIsInput: l === 0 });
    // Products with a transposed operand are ~10× slower on wasm than with a transposed copy.
    const deltaBt = isTarget(name) ? tf.matMul(delta, tf.transpose(B[l]!)) : null;
    if (scope === "all" && isTarget(name)) {
      factors.push({ name: `${name}.lora_B`, a: tf.mul(us[l]!, s) as tf.Tensor2D, b: delta, bias: false, aIsInput: false });
      factors.push({ name: `${name}.lora_A`, a: inputs[l]!, b: tf.mul(deltaBt!, s) as tf.Tensor2D, bias: false, aIsInput: l === 0 });
    }
    if (l === lowest) break;
    // δ_{l−1} = (δ_l·W_lᵀ + s·(δ_l·B_lᵀ)·A_lᵀ) ∘ relu′(z_{l−1})
    let back = tf.matMul(delta, tf.transpose(W[l]!));
    if (A[l]) back = tf.add(back, tf.mul(tf.matMul(deltaBt!, tf.transpose(A[l]!)), s));
    delta = tf.mul(back, tf.step(zs[l - 1]!)) as tf.Tensor2D;
  }
  return { factors, logits };
}
