import { layerNames, type HostWeights, type LoraConfig, type MlpSpec } from "../factory/layers.ts";

/**
 * The model's forward pass and the factors of one example's loss gradient, in plain TypeScript
 * on float64, one row at a time: what factors.ts computes batched on TF.js, for places with no
 * TF.js (a static notebook page). Same layers, same factors in the same order, same names, so a
 * projection drawn for `checkpoint:factor:side` is the one the TF.js path draws.
 */

/** A training row or an input, as (index, value) pairs: hashed text is ~5% non-zero, digits ~20%. */
export interface SparseRow {
  idx: ArrayLike<number>;
  val: ArrayLike<number>;
}

/** One trainable factor of the gradient (see factors.ts): ⟨∇θ(i), ∇θ(j)⟩ = Σ_f (aᵢ·aⱼ + [bias])(bᵢ·bⱼ). */
export interface FactorShape {
  name: string;
  /** Width of the a side (the layer's input size for the input layer's factors). */
  aWidth: number;
  bWidth: number;
  bias: boolean;
  /** The a side is the model input itself (sparse, the same at every checkpoint). */
  aIsInput: boolean;
}

/** What TracIn differentiates, with weights to read: a frozen base (adapter models) under the trainable ones. */
export interface PortableNet {
  spec: MlpSpec;
  lora: LoraConfig | null;
  base: HostWeights;
}

interface Layer {
  inputs: number;
  outputs: number;
  W: Float32Array;
  b: Float32Array;
  A: Float32Array | null;
  B: Float32Array | null;
}

/**
 * The lowest layer the gradient reaches: the head alone, every layer of a full model, else the
 * lowest adapter target. The one rule for every engine (factors.ts, native.ts and this file).
 */
export function lowestLayer(net: Pick<PortableNet, "spec" | "lora">, scope: "all" | "last-layer"): number {
  const names = layerNames(net.spec), L = names.length;
  if (scope === "last-layer") return L - 1;
  if (net.lora === null) return 0;
  return Math.min(L - 1, ...names.map((n, i) => (net.lora!.targets.includes(n) ? i : L)));
}

/** The factors exampleFactors (factors.ts) returns for this model and scope, in its order. */
export function factorShapes(net: PortableNet, scope: "all" | "last-layer"): FactorShape[] {
  const { spec, lora } = net;
  const names = layerNames(spec);
  const sizes = [spec.inputSize, ...spec.hidden, spec.classes.length];
  const isTarget = (n: string) => !!lora && lora.targets.includes(n);
  const L = names.length;
  const full = lora === null;
  const lowest = lowestLayer(net, scope);
  const out: FactorShape[] = [];
  for (let l = L - 1; l >= lowest; l--) {
    const name = names[l]!;
    if (full || name === "head") out.push({ name: `${name}.kernel+bias`, aWidth: sizes[l]!, bWidth: sizes[l + 1]!, bias: true, aIsInput: l === 0 });
    if (scope === "all" && isTarget(name)) {
      out.push({ name: `${name}.lora_B`, aWidth: lora!.rank, bWidth: sizes[l + 1]!, bias: false, aIsInput: false });
      out.push({ name: `${name}.lora_A`, aWidth: sizes[l]!, bWidth: lora!.rank, bias: false, aIsInput: l === 0 });
    }
  }
  return out;
}

/** The model at one set of trainable weights (a checkpoint, or the final weights). */
export class PortableLayers {
  private readonly layers: Layer[];
  private readonly names: string[];
  private readonly scale: number;
  /** lowestLayer per scope, computed once: factors() runs once per row. */
  private readonly lowest: Record<"all" | "last-layer", number>;
  /** Whether the input layer's kernel is frozen (the same at every checkpoint): x·W can be kept. */
  readonly frozenInput: boolean;

  constructor(readonly net: PortableNet, trainable: HostWeights) {
    const weight = (key: string) => {
      const w = trainable[key] ?? net.base[key];
      if (!w) throw new Error(`checkpoint has no weight "${key}"`);
      return w.data;
    };
    const sizes = [net.spec.inputSize, ...net.spec.hidden, net.spec.classes.length];
    const targets = new Set(net.lora?.targets ?? []);
    this.names = layerNames(net.spec);
    this.layers = this.names.map((name, l) => ({
      inputs: sizes[l]!, outputs: sizes[l + 1]!, W: weight(`${name}.kernel`), b: weight(`${name}.bias`),
      A: targets.has(name) ? weight(`${name}.lora_A`) : null, B: targets.has(name) ? weight(`${name}.lora_B`) : null,
    }));
    this.scale = net.lora ? net.lora.alpha / net.lora.rank : 0;
    this.frozenInput = !trainable[`${this.names[0]}.kernel`];
    this.lowest = { all: lowestLayer(net, "all"), "last-layer": lowestLayer(net, "last-layer") };
  }

  /** x·W of the input layer (no bias): kept per training row where the kernel is frozen. */
  inputProduct(x: SparseRow): Float64Array {
    const { W, outputs } = this.layers[0]!;
    const z = new Float64Array(outputs);
    for (let k = 0; k < x.idx.length; k++) {
      const v = x.val[k]!, o = x.idx[k]! * outputs;
      for (let j = 0; j < outputs; j++) z[j]! += v * W[o + j]!;
    }
    return z;
  }

  /** Logits, with each layer's input h, LoRA intermediate u and pre-activation z (h of the input layer is x). */
  forward(x: SparseRow, xW?: Float64Array): { logits: Float64Array; h: (Float64Array | null)[]; u: (Float64Array | null)[]; z: Float64Array[] } {
    const h: (Float64Array | null)[] = [], u: (Float64Array | null)[] = [], zs: Float64Array[] = [];
    let input: Float64Array | null = null; // null: the sparse x
    this.layers.forEach((L, l) => {
      const z = l === 0 ? (xW ? xW.slice() : this.inputProduct(x)) : product(input!, L.W, L.inputs, L.outputs);
      for (let j = 0; j < L.outputs; j++) z[j]! += L.b[j]!;
      let ul: Float64Array | null = null;
      if (L.A && L.B) {
        const r = L.B.length / L.outputs;
        ul = l === 0 ? sparseProduct(x, L.A, r) : product(input!, L.A, L.inputs, r);
        const delta = product(ul, L.B, r, L.outputs);
        for (let j = 0; j < L.outputs; j++) z[j]! += this.scale * delta[j]!;
      }
      h.push(input);
      u.push(ul);
      zs.push(z);
      input = l === this.layers.length - 1 ? z : relu(z);
    });
    return { logits: input!, h, u, z: zs };
  }

  /**
   * The gradient factors of ℓ = CE(softmax(logits), y) for one row, in factorShapes' order: per
   * factor its a side (null where it is the input x) and its b side.
   */
  factors(x: SparseRow, y: number, scope: "all" | "last-layer", xW?: Float64Array): { a: (Float64Array | null)[]; b: Float64Array[] } {
    const { logits, h, u, z } = this.forward(x, xW);
    const names = this.names;
    const L = names.length, full = this.net.lora === null, s = this.scale;
    const lowest = this.lowest[scope];
    let delta = lossGradient(logits, y);
    const a: (Float64Array | null)[] = [], b: Float64Array[] = [];
    for (let l = L - 1; l >= lowest; l--) {
      const layer = this.layers[l]!;
      if (full || names[l] === "head") {
        a.push(h[l]!);
        b.push(delta);
      }
      const r = layer.B ? layer.B.length / layer.outputs : 0;
      const deltaBt = layer.B ? productT(delta, layer.B, r, layer.outputs) : null;
      if (scope === "all" && layer.A) {
        a.push(scaled(u[l]!, s));
        b.push(delta);
        a.push(h[l]!);
        b.push(scaled(deltaBt!, s));
      }
      if (l === lowest) break;
      // δ_{l−1} = (δ_l·W_lᵀ + s·(δ_l·B_lᵀ)·A_lᵀ) ∘ relu′(z_{l−1}), only where relu passed z_{l−1}
      const below = z[l - 1]!;
      const back = productT(delta, layer.W, layer.inputs, layer.outputs, below);
      if (layer.A) {
        const viaA = productT(deltaBt!, layer.A, layer.inputs, r, below);
        for (let i = 0; i < back.length; i++) back[i]! += s * viaA[i]!;
      }
      delta = back;
    }
    return { a, b };
  }

  /** Class probabilities of one row. */
  probabilities(x: SparseRow, xW?: Float64Array): Float64Array {
    return softmax(this.forward(x, xW).logits);
  }
}

/** h·M for h [n] and M [n][m] row-major. */
function product(h: Float64Array, M: Float32Array, n: number, m: number): Float64Array {
  const out = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    const v = h[i]!;
    if (v === 0) continue; // relu zeroes about half of every hidden layer
    const o = i * m;
    for (let j = 0; j < m; j++) out[j]! += v * M[o + j]!;
  }
  return out;
}

/** x·M for sparse x and M [dims][m]. */
function sparseProduct(x: SparseRow, M: Float32Array, m: number): Float64Array {
  const out = new Float64Array(m);
  for (let k = 0; k < x.idx.length; k++) {
    const v = x.val[k]!, o = x.idx[k]! * m;
    for (let j = 0; j < m; j++) out[j]! += v * M[o + j]!;
  }
  return out;
}

/** d·Mᵀ for d [m] and M [n][m] row-major: [n]; with `where`, only the entries where it is positive (else 0). */
function productT(d: Float64Array, M: Float32Array, n: number, m: number, where?: Float64Array): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (where && !(where[i]! > 0)) continue;
    const o = i * m;
    let sum = 0;
    for (let j = 0; j < m; j++) sum += d[j]! * M[o + j]!;
    out[i] = sum;
  }
  return out;
}

function relu(z: Float64Array): Float64Array {
  const out = new Float64Array(z.length);
  for (let i = 0; i < z.length; i++) out[i] = z[i]! > 0 ? z[i]! : 0;
  return out;
}

function scaled(v: Float64Array, s: number): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * s;
  return out;
}

/**
 * softmax(z) − onehot(y), its target entry as −Σ_{c≠y} p_c: the same number, without the
 * cancellation of p_y − 1 when p_y is near 1 (factors.ts's `summed` LossGradient; the portable
 * engine explains inputs, never recomputes an older receipt, so it has no `subtracted` form).
 */
function lossGradient(z: Float64Array, y: number): Float64Array {
  const delta = softmax(z);
  let rest = 0;
  for (let c = 0; c < delta.length; c++) if (c !== y) rest += delta[c]!;
  delta[y] = -rest;
  return delta;
}

export function softmax(z: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of z) max = Math.max(max, v);
  const e = z.map((v) => Math.exp(v - max));
  let sum = 0;
  for (const v of e) sum += v;
  return e.map((v) => v / sum);
}
