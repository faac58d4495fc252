import { tf } from "../compute/backend.ts";
import { idOf } from "../compute/onnx.ts";
import { factorsFrom, type FactorScope, type LossGradient, type TracinModel, type WeightSource } from "./factors.ts";
import type { TracinCheckpoint } from "./tracin.ts";
import { projectionMatrix } from "./projection.ts";

/**
 * Every checkpoint at once. Exact TracIn sums the same small products over K checkpoints; done
 * one checkpoint at a time on TF.js that is K forward and backward passes of a dozen kernels
 * each, and K uploads of every weight per side and shard. Stacked, each weight is one tensor with
 * a leading checkpoint axis ([K, in, out]; a frozen weight shared by all checkpoints stays
 * [in, out]), uploaded once and kept on the backend between calls, and one batched pass computes
 * every checkpoint's factors. On a GPU that is what matters, the host's work per kernel and per
 * upload: on an H200 a TracIn call of the benchmark case spent 3.3 ms of 63-71 ms in kernels one
 * checkpoint at a time (276 kernels); stacked, it runs 54 kernels and takes 16-21 ms.
 */
export interface StackedCheckpoints {
  K: number;
  weights: WeightSource;
  /** η_k as [K, 1, 1]: scales a [K, n, m] block of per-checkpoint scores. */
  eta: tf.Tensor3D;
  /** √η_k as [K, 1, 1]: scales projection mode's features, whose products then carry η_k. */
  rootEta: tf.Tensor3D;
  /** Projection mode's Gaussian matrices of one side of one factor, [K, d, dim], drawn once per seed and width. */
  projector(factor: string, side: "a" | "b", d: number, p: Projection): tf.Tensor3D;
}

export interface Projection { dim: number; seed: number }

/** One side's stacked factors: a [K, n, da] (or [n, da] when the same at every checkpoint), b [K, n, db]. */
export interface StackedFactor {
  name: string;
  a: tf.Tensor;
  b: tf.Tensor3D;
  bias: boolean;
}

// Per checkpoints list (the object a model's loader hands out once), per base and backend. The
// tensors are freed when the list is collected: they are a second copy of its weights.
const stacks = new WeakMap<object, Map<string, { groups: StackedCheckpoints[]; tensors: tf.Tensor[] }>>();
const freeing = new FinalizationRegistry<tf.Tensor[]>((tensors) => {
  for (const t of tensors) if (!t.isDisposed) t.dispose();
});

/**
 * The checkpoints' weights stacked on the current backend, made on first use and kept: one
 * group of all K on a GPU backend, one group per checkpoint on wasm and cpu. Their batched
 * product is a plain loop, 10-13× slower than the XNNPACK product of one slice (wasm, 2000×784
 * by 5×784×32: 229 ms against 18 ms for the same arithmetic), and slicing a stack costs as much.
 */
export function checkpointGroups(model: TracinModel, checkpoints: TracinCheckpoint[], layout: GroupLayout = defaultLayout()): StackedCheckpoints[] {
  if (checkpoints.length === 0) throw new Error("TracIn needs at least one checkpoint");
  let byKey = stacks.get(checkpoints);
  if (!byKey) stacks.set(checkpoints, (byKey = new Map()));
  const key = `${idOf(model.base)}|${tf.getBackend()}|${layout}`;
  const hit = byKey.get(key);
  if (hit && hit.tensors.every((t) => !t.isDisposed)) return hit.groups;
  const tensors: tf.Tensor[] = [];
  const groups = layout === "per-checkpoint" ? checkpoints.map((c) => stackOf(model, [c], tensors)) : [stackOf(model, checkpoints, tensors)];
  byKey.set(key, { groups, tensors });
  freeing.register(checkpoints, tensors);
  return groups;
}

/** All checkpoints in one stack, or one stack per checkpoint. */
export type GroupLayout = "stacked" | "per-checkpoint";
const defaultLayout = (): GroupLayout => (tf.getBackend() === "wasm" || tf.getBackend() === "cpu" ? "per-checkpoint" : "stacked");

/** One group's stacked weights, read lazily (a model reads only the weights its scope needs). */
function stackOf(model: TracinModel, checkpoints: TracinCheckpoint[], tensors: tf.Tensor[]): StackedCheckpoints {
  const keep = <T extends tf.Tensor>(t: T): T => (tensors.push(tf.keep(t)), t);
  const plain = new Map<string, tf.Tensor>(), swapped = new Map<string, tf.Tensor>();
  const get = (k: string): tf.Tensor => {
    let t = plain.get(k);
    if (!t) plain.set(k, (t = keep(stackOne(model, checkpoints, k))));
    return t;
  };
  const transposed = (k: string): tf.Tensor => {
    let t = swapped.get(k);
    if (!t) {
      const w = get(k);
      swapped.set(k, (t = keep(tf.tidy(() => swapLast(w)))));
    }
    return t;
  };
  const scalars = new Map<number, tf.Tensor>();
  const scalar = (v: number): tf.Tensor => {
    let t = scalars.get(v);
    if (!t) scalars.set(v, (t = keep(tf.scalar(v))));
    return t;
  };
  const K = checkpoints.length;
  const eta = keep(tf.tensor3d(Float32Array.from(checkpoints, (c) => c.learningRate), [K, 1, 1]));
  const rootEta = keep(tf.tensor3d(Float32Array.from(checkpoints, (c) => Math.sqrt(c.learningRate)), [K, 1, 1]));
  const projectors = new Map<string, tf.Tensor3D>();
  const projector = (factor: string, side: "a" | "b", d: number, p: Projection): tf.Tensor3D => {
    const key = `${p.seed}|${p.dim}|${factor}|${side}|${d}`;
    let t = projectors.get(key);
    if (!t) {
      const data = new Float32Array(K * d * p.dim);
      checkpoints.forEach((c, k) => data.set(projectionMatrix(p.seed, c.index, factor, side, d, p.dim), k * d * p.dim));
      projectors.set(key, (t = keep(tf.tensor3d(data, [K, d, p.dim]))));
    }
    return t;
  };
  return { K, weights: { get, transposed, scalar }, eta, rootEta, projector };
}

/**
 * One weight over every checkpoint: [K, ...shape] (a bias [K, 1, out], to broadcast over rows),
 * or the weight itself when no checkpoint has its own (a frozen base weight).
 */
function stackOne(model: TracinModel, checkpoints: TracinCheckpoint[], key: string): tf.Tensor {
  const own = checkpoints.map((c) => c.weights[key]);
  if (own.every((w) => w === undefined)) {
    const w = model.base[key];
    if (!w) throw new Error(`checkpoint has no weight "${key}"`);
    return tf.tensor(w.data, w.shape, "float32");
  }
  const missing = own.findIndex((w) => w === undefined);
  if (missing >= 0) throw new Error(`checkpoint ${checkpoints[missing]!.index} has no weight "${key}" (the others have)`);
  const shape = own[0]!.shape, size = own[0]!.data.length;
  const data = new Float32Array(size * own.length);
  own.forEach((w, k) => {
    if (w!.data.length !== size) throw new Error(`checkpoint ${checkpoints[k]!.index}: "${key}" has shape [${w!.shape}], checkpoint ${checkpoints[0]!.index} [${shape}]`);
    data.set(w!.data, k * size);
  });
  return tf.tensor(data, [own.length, ...(shape.length === 1 ? [1] : []), ...shape], "float32");
}

/** Every group's gradient factors for rows x (targets y), one batched pass per group. */
export function stackedFactors(model: TracinModel, groups: StackedCheckpoints[], x: tf.Tensor2D, y: tf.Tensor1D, scope: FactorScope, lossGradient?: LossGradient): StackedFactor[][] {
  return groups.map((st) => factorsFrom(model, st.weights, x, y, scope, lossGradient).factors.map((f) => {
    if (f.b.rank !== 3) throw new Error(`factor ${f.name}: every checkpoint has the same weights upstream of it; nothing to attribute`);
    return { name: f.name, a: f.a, b: f.b as tf.Tensor3D, bias: f.bias };
  }));
}

/** Swaps the last two axes (a query side, multiplied as the right operand). */
export const swapLast = (t: tf.Tensor): tf.Tensor => tf.transpose(t, t.rank === 3 ? [0, 2, 1] : [1, 0]);

/**
 * S[i, j] = Σ_k η_k Σ_f (a_ki·a′_kj + bias)(b_ki·b′_kj) for a training side and a query side
 * whose factors were swapped (swapLast) beforehand. An a-side shared by every checkpoint gives
 * one [n, m] Gram block for all of them, computed once per tensor (x feeds several factors, and
 * every group).
 */
export function stackedScores(groups: StackedCheckpoints[], train: StackedFactor[][], querySwapped: { a: tf.Tensor; b: tf.Tensor3D }[][]): tf.Tensor2D {
  return tf.tidy(() => {
    const grams = new Map<tf.Tensor, tf.Tensor>();
    const perGroup = groups.map((st, g) => {
      let total: tf.Tensor | null = null;
      train[g]!.forEach((f, i) => {
        const q = querySwapped[g]![i]!;
        let ga = grams.get(f.a);
        if (!ga) grams.set(f.a, (ga = tf.matMul(f.a, q.a)));
        if (f.bias) ga = tf.add(ga, st.weights.scalar(1));
        const term = tf.mul(ga, tf.matMul(f.b, q.b)); // [K, n, m]
        total = total ? tf.add(total, term) : term;
      });
      return tf.sum(tf.mul(total!, st.eta), 0);
    });
    return (perGroup.length === 1 ? perGroup[0]! : tf.addN(perGroup)) as tf.Tensor2D;
  });
}

/** Σ_k η_k Σ_f (‖a_ki‖² + bias)‖b_ki‖² for every row of one side: [n]. */
export function stackedSelfInfluence(groups: StackedCheckpoints[], factors: StackedFactor[][]): tf.Tensor1D {
  return tf.tidy(() => {
    const norms = new Map<tf.Tensor, tf.Tensor>();
    const perGroup = groups.map((st, g) => {
      let total: tf.Tensor | null = null;
      for (const f of factors[g]!) {
        let aa = norms.get(f.a);
        if (!aa) norms.set(f.a, (aa = tf.sum(tf.square(f.a), -1)));
        const term = tf.mul(f.bias ? tf.add(aa, st.weights.scalar(1)) : aa, tf.sum(tf.square(f.b), -1)); // [K, n]
        total = total ? tf.add(total, term) : term;
      }
      return tf.sum(tf.mul(total!, tf.reshape(st.eta, [st.K, 1])), 0);
    });
    return (perGroup.length === 1 ? perGroup[0]! : tf.addN(perGroup)) as tf.Tensor1D;
  });
}

/**
 * Projection mode's features of one group's rows: per checkpoint, per factor, the gradient a ⊗ b
 * projected to (a·Pa) ⊗ (b·Pb), flattened row-major and scaled by √η_k, so that the dot product
 * of two rows' features estimates their TracIn influence. [n, K·W], checkpoint-major: the layout
 * gradientFeatures stores and the portable explainer reads. A side no wider than `dim` is kept
 * as is (exact); Pa, Pb ~ N(0, 1/dim), seeded per checkpoint and factor (projection.ts).
 */
export function stackedFeatures(st: StackedCheckpoints, factors: StackedFactor[], p: Projection): tf.Tensor2D {
  return tf.tidy(() => {
    const n = factors[0]!.b.shape[1];
    const project = (t: tf.Tensor, factor: string, side: "a" | "b") => {
      const d = t.shape[t.rank - 1]!;
      return d <= p.dim ? t : tf.matMul(t, st.projector(factor, side, d, p));
    };
    const parts = factors.map((f) => {
      const a = f.bias ? tf.concat([f.a, tf.ones([...f.a.shape.slice(0, -1), 1])], -1) : f.a;
      const pa = project(a, f.name, "a"), pb = project(f.b, f.name, "b");
      const width = pa.shape[pa.rank - 1]! * pb.shape[pb.rank - 1]!;
      // [K or 1, n, pa, 1] × [K, n, 1, pb]: each row's outer product.
      return tf.reshape(tf.mul(tf.expandDims(pa, -1), tf.expandDims(pb, -2)), [st.K, n, width]);
    });
    const features = tf.mul(tf.concat(parts, -1), st.rootEta); // [K, n, W]
    return tf.reshape(tf.transpose(features, [1, 0, 2]), [n, -1]) as tf.Tensor2D;
  });
}
