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
 * Where the forward and backward pass read weights: a kernel, bias or LoRA matrix by key, and
 * its last two axes swapped (the backward pass multiplies by it). A tensor of rank 2 (or 1 for
 * a bias) serves one checkpoint, or every checkpoint when they share it (a frozen base weight);
 * rank 3 (2 for a bias) is one slice per checkpoint (stacked.ts). Broadcasting does the rest.
 */
export interface WeightSource {
  get(key: string): tf.Tensor;
  transposed(key: string): tf.Tensor;
  /** A constant operand: a kept scalar tensor where each new one would be an upload (webgpu), else the number. */
  scalar(v: number): tf.Tensor | number;
}

/** One checkpoint's host weights, uploaded as the pass reads them (once each per call). */
function hostSource(model: TracinModel, trainable: HostWeights): WeightSource {
  const up = new Map<string, tf.Tensor>();
  const get = (key: string) => {
    let t = up.get(key);
    if (!t) {
      const w = trainable[key] ?? model.base[key];
      if (!w) throw new Error(`checkpoint has no weight "${key}"`);
      up.set(key, (t = tf.tensor(w.data, w.shape, "float32")));
    }
    return t;
  };
  // Products with a transposed operand are ~10× slower on wasm than with a transposed copy.
  return { get, transposed: (key) => tf.transpose(get(key)), scalar: (v) => v };
}

/**
 * The factors of per-example gradients of the per-example loss ℓ = CE(softmax(z), y) at one
 * checkpoint, for rows x [n, D] and targets y (class indices). Also returns the logits.
 * Built by a hand-written forward and backward pass, batched as matrix products.
 */
export function exampleFactors(
  model: TracinModel, trainable: HostWeights, x: tf.Tensor2D, y: tf.Tensor1D, scope: FactorScope, lossGradient: LossGradient = "summed",
): { factors: Factor[]; logits: tf.Tensor2D } {
  return factorsFrom(model, hostSource(model, trainable), x, y, scope, lossGradient) as { factors: Factor[]; logits: tf.Tensor2D };
}

/**
 * exampleFactors over any WeightSource. With stacked weights (stacked.ts) every tensor past the
 * first per-checkpoint weight carries a leading checkpoint axis: one pass computes the factors of
 * every checkpoint, [K, n, d] each (an a-side stays [n, d] while it is the same at every
 * checkpoint: x, or a frozen layer's output).
 */
export function factorsFrom(
  model: TracinModel, w: WeightSource, x: tf.Tensor2D, y: tf.Tensor1D, scope: FactorScope, lossGradient: LossGradient = "summed",
): { factors: { name: string; a: tf.Tensor; b: tf.Tensor; bias: boolean; aIsInput: boolean }[]; logits: tf.Tensor } {
  const { spec, lora } = model;
  const names = layerNames(spec);
  const full = lora === null;
  const s = lora ? lora.alpha / lora.rank : 0;
  const isTarget = (n: string) => !!lora && lora.targets.includes(n);
  // Forward, keeping each layer's input h, LoRA intermediate u and pre-activation z.
  const inputs: tf.Tensor[] = [];
  const us: (tf.Tensor | null)[] = [];
  const zs: tf.Tensor[] = [];
  let h: tf.Tensor = x;
  for (const name of names) {
    inputs.push(h);
    let z = tf.add(tf.matMul(h, w.get(`${name}.kernel`)), w.get(`${name}.bias`));
    if (isTarget(name)) {
      const u = tf.matMul(h, w.get(`${name}.lora_A`));
      z = tf.add(z, tf.mul(tf.matMul(u, w.get(`${name}.lora_B`)), w.scalar(s)));
      us.push(u);
    } else {
      us.push(null);
    }
    zs.push(z);
    h = name === "head" ? z : tf.relu(z);
  }
  const logits = h;
  const L = names.length;
  // δ_L = softmax(z) − onehot(y): the gradient of the per-example cross-entropy (LossGradient).
  // Cast once, not at each use (a dispatch each on a GPU). Not oneHot's own float32 dtype: wasm's
  // kernel writes the integer bits into a float tensor (1 reads as 1.4e-45).
  const onehot = tf.cast(tf.oneHot(y, spec.classes.length), "float32");
  const others = lossGradient === "summed" ? tf.mul(tf.softmax(logits), tf.sub(w.scalar(1), onehot)) : null;
  let delta = others ? tf.sub(others, tf.mul(onehot, tf.sum(others, -1, true))) : tf.sub(tf.softmax(logits), onehot);
  const factors: { name: string; a: tf.Tensor; b: tf.Tensor; bias: boolean; aIsInput: boolean }[] = [];
  const lowest = lowestLayer(model, scope);
  for (let l = L - 1; l >= lowest; l--) {
    const name = names[l]!;
    const trainableDense = full || name === "head";
    if (trainableDense) factors.push({ name: `${name}.kernel+bias`, a: inputs[l]!, b: delta, bias: true, aIsInput: l === 0 });
    const deltaBt = isTarget(name) ? tf.matMul(delta, w.transposed(`${name}.lora_B`)) : null;
    if (scope === "all" && isTarget(name)) {
      factors.push({ name: `${name}.lora_B`, a: tf.mul(us[l]!, w.scalar(s)), b: delta, bias: false, aIsInput: false });
      factors.push({ name: `${name}.lora_A`, a: inputs[l]!, b: tf.mul(deltaBt!, w.scalar(s)), bias: false, aIsInput: l === 0 });
    }
    if (l === lowest) break;
    // δ_{l−1} = (δ_l·W_lᵀ + s·(δ_l·B_lᵀ)·A_lᵀ) ∘ relu′(z_{l−1})
    let back = tf.matMul(delta, w.transposed(`${name}.kernel`));
    if (deltaBt) back = tf.add(back, tf.mul(tf.matMul(deltaBt, w.transposed(`${name}.lora_A`)), w.scalar(s)));
    delta = tf.mul(back, tf.step(zs[l - 1]!));
  }
  return { factors, logits };
}
