import type * as Ort from "onnxruntime-node";
import { GraphBuilder, session, type NativeEngine } from "../compute/onnx.ts";
import { layerNames, type HostWeights } from "../factory/mlp.ts";
import { lowestLayer } from "./portable-model.ts";
import type { FactorScope, LossGradient, TracinModel } from "./factors.ts";

/**
 * The TracIn graphs of factors.ts and tracin.ts, built as ONNX graphs for the native engine.
 * Same mathematics (see factors.ts for the factorisation and tracin.ts for the normalisation),
 * arranged for MLAS:
 *
 * - Every product with the input x at the first layer — each checkpoint's kernel (or the frozen
 *   base kernel, once) and each checkpoint's LoRA A — is one matrix product x·[W₁ | … | A₁ | …],
 *   sliced afterwards: one long product runs near the machine's dense rate, many thin ones do not.
 * - Factors whose a-side is x share one Gram block x_q·xᵀ across checkpoints: their b-sides,
 *   scaled by η_k, are concatenated, so Σ_k η_k (x·x′ + [1])(b_k·b′_k) costs one product and one
 *   elementwise pass, however many checkpoints there are.
 * - Scores are [queries × train rows], each product a Gemm with the training side transposed in
 *   the kernel (no copy), η_k and the bias's +1 folded into it: top-k runs along rows, group sums
 *   are one product with a [rows × groups] one-hot matrix; only O(k + groups) per query leaves.
 *
 * Weights are initializers (the session is built per set of checkpoints and reused).
 */

export interface FactorNodes {
  name: string;
  /** The a-side's value; null when it is the model input x. */
  a: string | null;
  b: string;
  bias: boolean;
}

export interface Side {
  /** Per checkpoint, its factors (as in factors.ts: highest layer first). */
  factors: FactorNodes[][];
}

export interface GraphModel {
  model: TracinModel;
  checkpoints: { index: number; learningRate: number; weights: HostWeights }[];
  scope: FactorScope;
  lossGradient: LossGradient;
  /** Projection mode's width and seed (native-projection.ts); absent for exact and last-layer. */
  projection?: { dim: number; seed: number };
}

/** Weight initializers, each added once: per checkpoint where trainable, else the frozen base's. */
class Weights {
  private readonly added = new Map<string, string>();
  constructor(private readonly g: GraphBuilder, private readonly m: GraphModel) {}

  /** The value's name, and where it comes from (to share the base's across checkpoints). */
  source(k: number, key: string): { id: string; data: Float32Array; shape: number[] } {
    const own = this.m.checkpoints[k]!.weights[key];
    const w = own ?? this.m.model.base[key];
    if (!w) throw new Error(`checkpoint ${k + 1} has no weight "${key}"`);
    return { id: own ? `c${k}/${key}` : `base/${key}`, data: w.data, shape: w.shape };
  }

  get(k: number, key: string, transpose = false): string {
    const s = this.source(k, key);
    const id = transpose ? `${s.id}ᵀ` : s.id;
    let name = this.added.get(id);
    if (!name) {
      name = this.g.init(id, transpose ? transposed(s.data, s.shape) : s.data, transpose ? [s.shape[1]!, s.shape[0]!] : s.shape);
      this.added.set(id, name);
    }
    return name;
  }
}

function transposed(data: Float32Array, shape: number[]): Float32Array {
  const [r, c] = shape as [number, number];
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j]!;
  return out;
}

/**
 * Forward and backward of one side (a training shard or a query block) at every checkpoint,
 * returning each gradient factor's a- and b-side values. Mirrors exampleFactors().
 */
export function buildSide(g: GraphBuilder, m: GraphModel, x: string, y1h: string): Side {
  const { spec, lora } = m.model;
  const names = layerNames(spec);
  const L = names.length, K = m.checkpoints.length;
  const full = lora === null;
  const isTarget = (n: string) => !!lora && lora.targets.includes(n);
  const s = lora ? g.scalar(lora.alpha / lora.rank) : "";
  const W = new Weights(g, m);

  // The first layer's products with x, fused: distinct kernels (the base's appears once) and each
  // checkpoint's LoRA A.
  const blocks: { id: string; data: Float32Array; cols: number }[] = [];
  const blockOf = (k: number, key: string): number => {
    const src = W.source(k, key);
    const at = blocks.findIndex((b) => b.id === src.id);
    if (at >= 0) return at;
    blocks.push({ id: src.id, data: src.data, cols: src.shape[1]! });
    return blocks.length - 1;
  };
  const first = names[0]!;
  const kernelBlock = Array.from({ length: K }, (_, k) => blockOf(k, `${first}.kernel`));
  const loraBlock = Array.from({ length: K }, (_, k) => (isTarget(first) ? blockOf(k, `${first}.lora_A`) : -1));
  const D = spec.inputSize;
  const width = blocks.reduce((n, b) => n + b.cols, 0);
  const fusedW = new Float32Array(D * width);
  let col = 0;
  const offsets: number[] = [];
  for (const b of blocks) {
    offsets.push(col);
    for (let i = 0; i < D; i++) fusedW.set(b.data.subarray(i * b.cols, (i + 1) * b.cols), i * width + col);
    col += b.cols;
  }
  const fused = g.op("MatMul", [x, g.init("first/fused", fusedW, [D, width])]);
  const slice = (b: number) => g.columns(fused, offsets[b]!, offsets[b]! + blocks[b]!.cols);
  const sliced = new Map<number, string>();
  const block = (b: number) => sliced.get(b) ?? (sliced.set(b, slice(b)), sliced.get(b)!);

  let column: string | null = null;
  const ones = () => (column ??= g.init("classes/ones", new Float32Array(spec.classes.length).fill(1), [spec.classes.length, 1]));
  const factors: FactorNodes[][] = [];
  for (let k = 0; k < K; k++) {
    // Forward, keeping each layer's input h, LoRA intermediate u and pre-activation z.
    const inputs: string[] = [], us: (string | null)[] = [], zs: string[] = [];
    let h = x;
    names.forEach((name, l) => {
      inputs.push(h);
      const hw = l === 0 ? block(kernelBlock[k]!) : g.op("MatMul", [h, W.get(k, `${name}.kernel`)]);
      let z = g.op("Add", [hw, W.get(k, `${name}.bias`)]);
      if (isTarget(name)) {
        const u = l === 0 ? block(loraBlock[k]!) : g.op("MatMul", [h, W.get(k, `${name}.lora_A`)]);
        z = g.op("Add", [z, g.op("Mul", [g.op("MatMul", [u, W.get(k, `${name}.lora_B`)]), s])]);
        us.push(u);
      } else us.push(null);
      zs.push(z);
      h = name === "head" ? z : g.op("Relu", [z]);
    });
    // δ_L = softmax(z) − onehot(y), its target entry as factors.ts's LossGradient says, then back
    // through the layers. The sum over the other classes is a product with a column of ones.
    const p = g.op("Softmax", [h], { axis: 1 });
    let delta: string;
    if (m.lossGradient === "summed") {
      const others = g.op("Mul", [p, g.op("Sub", [g.scalar(1), y1h])]);
      delta = g.op("Sub", [others, g.op("Mul", [y1h, g.op("MatMul", [others, ones()])])]);
    } else delta = g.op("Sub", [p, y1h]);
    const out: FactorNodes[] = [];
    const lowest = lowestLayer(m.model, m.scope);
    for (let l = L - 1; l >= lowest; l--) {
      const name = names[l]!;
      const a = l === 0 ? null : inputs[l]!;
      if (full || name === "head") out.push({ name: `${name}.kernel+bias`, a, b: delta, bias: true });
      const deltaBt = isTarget(name) ? g.op("MatMul", [delta, W.get(k, `${name}.lora_B`, true)]) : null;
      if (m.scope === "all" && isTarget(name)) {
        out.push({ name: `${name}.lora_B`, a: g.op("Mul", [us[l]!, s]), b: delta, bias: false });
        out.push({ name: `${name}.lora_A`, a, b: g.op("Mul", [deltaBt!, s]), bias: false });
      }
      if (l === lowest) break;
      let back = g.op("MatMul", [delta, W.get(k, `${name}.kernel`, true)]);
      if (isTarget(name)) back = g.op("Add", [back, g.op("Mul", [g.op("MatMul", [deltaBt!, W.get(k, `${name}.lora_A`, true)]), s])]);
      const active = g.op("Cast", [g.op("Greater", [zs[l - 1]!, g.scalar(0)])], { to: 1 /* FLOAT */ });
      delta = g.op("Mul", [back, active]);
    }
    factors.push(out);
  }
  return { factors };
}

/** Factors with the input as a-side, by bias flag: they share the Gram block. */
const inputFactors = (side: Side, bias: boolean) =>
  side.factors.flatMap((fs, k) => fs.filter((f) => f.a === null && f.bias === bias).map((f) => ({ k, f })));
const otherFactors = (side: Side) => side.factors.flatMap((fs, k) => fs.filter((f) => f.a !== null).map((f) => ({ k, f })));

/** The query side of a block: its factors ([queries, width]), ready for the score graph. */
export interface QueryGraph {
  session: Ort.InferenceSession;
  /** The score graph's query inputs, in the names both graphs use. */
  outputs: string[];
}

/** Values a graph returns by name, each [rows, width]; `outputs` lists the names in order. */
function namedOutputs(g: GraphBuilder, rows: "m" | "n"): { outputs: string[]; emit(name: string, value: string): void } {
  const outputs: string[] = [];
  return {
    outputs,
    emit(name, value) {
      g.op("Identity", [value], {}, name);
      g.output(name, [rows, "w"]);
      outputs.push(name);
    },
  };
}

export async function queryGraph(engine: NativeEngine, m: GraphModel): Promise<QueryGraph> {
  const g = new GraphBuilder("tracin-queries");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  const side = buildSide(g, m, g.input("x", ["m", D]), g.input("y", ["m", C]));
  const { outputs, emit } = namedOutputs(g, "m");
  for (const bias of [true, false]) {
    const fs = inputFactors(side, bias);
    if (fs.length) emit(`q/input${bias ? 1 : 0}`, fs.length === 1 ? fs[0]!.f.b : g.op("Concat", fs.map(({ f }) => f.b), { axis: 1 }));
  }
  otherFactors(side).forEach(({ f }, i) => {
    emit(`q/a${i}`, f.a!);
    emit(`q/b${i}`, f.b);
  });
  return { session: await session(engine, g), outputs };
}

/**
 * The training side as a score graph multiplies it: per bias flag, the input factors' b-sides
 * scaled by η_k and concatenated (null when none); then every other factor's a and b, with its
 * checkpoint and bias flag.
 */
interface TrainValues {
  inputs: [string | null, string | null];
  others: { k: number; a: string; b: string; bias: boolean }[];
}

function trainValues(g: GraphBuilder, m: GraphModel, x: string, y: string): TrainValues {
  const side = buildSide(g, m, x, y);
  const inputs = [true, false].map((bias) => {
    const fs = inputFactors(side, bias);
    if (!fs.length) return null;
    const scaled = fs.map(({ k, f }) => g.op("Mul", [f.b, g.scalar(m.checkpoints[k]!.learningRate)]));
    return scaled.length === 1 ? scaled[0]! : g.op("Concat", scaled, { axis: 1 });
  }) as [string | null, string | null];
  return { inputs, others: otherFactors(side).map(({ k, f }) => ({ k, a: f.a!, b: f.b, bias: f.bias })) };
}

/** What a kept training side holds (trainGraph's outputs): which input products, and each other factor's checkpoint and bias flag. */
export interface TrainLayout {
  inputs: [boolean, boolean];
  others: { k: number; bias: boolean }[];
}

const trainInput = (bias: boolean) => `t/input${bias ? 1 : 0}`;

/**
 * The training side alone, for rows to keep (an explainer answers many questions against the
 * same rows): the values scoreGraph would compute from x and y, by the same operations, so a
 * score graph given them computes the same scores.
 */
export async function trainGraph(engine: NativeEngine, m: GraphModel): Promise<{ session: Ort.InferenceSession; outputs: string[]; layout: TrainLayout }> {
  const g = new GraphBuilder("tracin-train");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  const v = trainValues(g, m, g.input("x", ["n", D]), g.input("y", ["n", C]));
  const { outputs, emit } = namedOutputs(g, "n");
  v.inputs.forEach((value, j) => value && emit(trainInput(j === 0), value));
  v.others.forEach((f, i) => {
    emit(`t/a${i}`, f.a);
    emit(`t/b${i}`, f.b);
  });
  const layout: TrainLayout = { inputs: [v.inputs[0] !== null, v.inputs[1] !== null], others: v.others.map(({ k, bias }) => ({ k, bias })) };
  return { session: await session(engine, g), outputs, layout };
}

/**
 * Scores of a query block against a training shard, reduced: per query the shard's top-k each
 * way (values and row indices, [queries, k]) and per grouping the sums [queries, groups]; with
 * `full`, the scores themselves [queries, rows]. The training side is computed from the shard's
 * x and y, or, with `kept`, given as trainGraph's outputs, with the Gram block x_q·xᵀ where a
 * factor's a-side is the input.
 */
export async function scoreGraph(engine: NativeEngine, m: GraphModel, groupSizes: number[], full: boolean, kept?: TrainLayout): Promise<Ort.InferenceSession> {
  const g = new GraphBuilder("tracin-scores");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  let x: string | null = null;
  let v: TrainValues;
  if (kept) {
    v = {
      inputs: kept.inputs.map((has, j) => (has ? g.input(trainInput(j === 0), ["n", "w"]) : null)) as [string | null, string | null],
      others: kept.others.map((f, i) => ({ ...f, a: g.input(`t/a${i}`, ["n", "w"]), b: g.input(`t/b${i}`, ["n", "w"]) })),
    };
  } else {
    x = g.input("x", ["n", D]);
    v = trainValues(g, m, x, g.input("y", ["n", C]));
  }
  let S: string | null = null;
  const add = (t: string) => (S = S ? g.op("Add", [S, t]) : t);
  // q·tᵀ with the transpose done inside the kernel; Y = alpha·q·tᵀ (+ beta·c).
  const gemm = (q: string, t: string, alpha = 1, c?: string) => g.op("Gemm", c ? [q, t, c] : [q, t], { transB: 1, alpha: { float: alpha } });
  // Input factors: Σ η_k (G + [1]) ⊙ (b′_k·b_kᵀ) = G ⊙ (P₁ + P₀) + P₁, one product per bias flag.
  const [P1, P0] = v.inputs.map((t, j) => (t ? gemm(g.input(`q/input${j === 0 ? 1 : 0}`, ["m", "w"]), t) : null));
  if (P1 || P0) {
    // A kept side is asked few queries at a time: their Gram block with the (sparse) training
    // inputs comes computed, rather than densifying every training row for each question.
    const gram = kept ? g.input("gram", ["m", "n"]) : gemm(g.input("q/x", ["m", D]), x!);
    add(g.op("Mul", [gram, P1 && P0 ? g.op("Add", [P1, P0]) : (P1 ?? P0)!]));
  }
  if (P1) add(P1);
  v.others.forEach(({ k, a, b, bias }, i) => {
    const aa = gemm(g.input(`q/a${i}`, ["m", "w"]), a, 1, bias ? g.scalar(1) : undefined);
    add(g.op("Mul", [aa, gemm(g.input(`q/b${i}`, ["m", "w"]), b, m.checkpoints[k]!.learningRate)]));
  });
  if (S === null) throw new Error("the model has no trainable factor in this mode");
  reduceScores(g, S, groupSizes, full);
  return session(engine, g);
}

/**
 * A score block's outputs, [queries × rows] reduced: per query the top-k each way (values and
 * row indices, [queries, k]), per grouping the sums [queries, groups], and with `full` the scores.
 */
export function reduceScores(g: GraphBuilder, scores: string, groupSizes: number[], full: boolean): void {
  const kk = g.input("k", [1], "int64");
  g.opN("TopK", [scores, kk], 2, { axis: 1, largest: 1, sorted: 1 }, ["best", "bestIndex"]);
  g.opN("TopK", [scores, kk], 2, { axis: 1, largest: 0, sorted: 1 }, ["worst", "worstIndex"]);
  for (const [name, type] of [["best", "float32"], ["bestIndex", "int64"], ["worst", "float32"], ["worstIndex", "int64"]] as const) g.output(name, ["m", "k"], type);
  groupSizes.forEach((size, i) => {
    g.op("MatMul", [scores, g.input(`group${i}`, ["n", size])], {}, `sums${i}`);
    g.output(`sums${i}`, ["m", size]);
  });
  if (full) {
    g.op("Identity", [scores], {}, "scores");
    g.output("scores", ["m", "n"]);
  }
}

/** Σ_k η_k ‖∇θℓ(θ_k, z)‖² per row: Σ over factors of (‖a‖² + [1])·‖b‖², ‖x‖² computed once. */
export async function selfGraph(engine: NativeEngine, m: GraphModel): Promise<Ort.InferenceSession> {
  const g = new GraphBuilder("tracin-self");
  const C = m.model.spec.classes.length, D = m.model.spec.inputSize;
  const x = g.input("x", ["n", D]), y = g.input("y", ["n", C]);
  const side = buildSide(g, m, x, y);
  const norm = (v: string) => g.op("ReduceSumSquare", [v], { axes: [1], keepdims: 0 });
  const xx = norm(x);
  let acc: string | null = null;
  side.factors.forEach((fs, k) => fs.forEach((f) => {
    let aa = f.a === null ? xx : norm(f.a);
    if (f.bias) aa = g.op("Add", [aa, g.scalar(1)]);
    const t = g.op("Mul", [g.op("Mul", [aa, norm(f.b)]), g.scalar(m.checkpoints[k]!.learningRate)]);
    acc = acc ? g.op("Add", [acc, t]) : t;
  }));
  if (acc === null) throw new Error("the model has no trainable factor in this mode");
  g.op("Identity", [acc], {}, "self");
  g.output("self", ["n"]);
  return session(engine, g);
}
