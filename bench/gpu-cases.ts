// The TracIn test cases (test/tracin.test.ts), as the GPU benchmark runs them on each backend:
// the engine's full score matrix and self-influence, and their error against brute-force
// per-example gradients (computed on the CPU backend). The benchmark compares the backends' scores
// with each other (webgpu against wasm, to 1e-4 relative) and with the reference.
import { denseMatrix, type FeatureMatrix } from "../cells/factory/featurize.ts";
import { initAdapter, initBase, type LoraConfig, type MlpSpec } from "../cells/factory/mlp.ts";
import { selfInfluence, tracin, type TracinCheckpoint, type TracinMode } from "../cells/attribution/tracin.ts";
import type { TracinModel } from "../cells/attribution/factors.ts";
import { bruteInfluence, data, externalMlp, perturbed, sparseRows } from "../test/helpers/brute-tracin.ts";

export interface CaseScores {
  /** Influence [train row][query], as rows of the score matrix. */
  S: Float64Array[];
  self: Float64Array;
  /** The brute-force reference (per-example gradients by tf.grad, read back synchronously: not on webgpu). */
  brute: { S: Float64Array[]; self: Float64Array | null } | null;
}

const dims = 6;
const spec: MlpSpec = { inputSize: dims, hidden: [5, 4], classes: ["a", "b", "c"] };
const tr = data(1, 17, dims, 3), q = data(2, 9, dims, 3);
const lora = (targets: string[]): LoraConfig => ({ rank: 2, alpha: 3, targets });

interface Case { model: TracinModel; cks: TracinCheckpoint[]; mode: TracinMode; only?: (n: string) => boolean; sparse?: boolean }

function cases(): Record<string, () => Case> {
  const base = initBase(spec, 5);
  const adapter = lora(["dense_1", "dense_2"]);
  const linear: MlpSpec = { inputSize: dims, hidden: [], classes: ["a", "b", "c"] };
  return {
    "lora-adapter-exact": () => ({ model: { spec, base, lora: adapter }, mode: "exact", cks: [1, 2, 3].map((k) => ({ index: k, learningRate: 0.1 / k, weights: perturbed(initAdapter(spec, adapter, base, 6), 10 + k) })) }),
    "external-mlp-exact": () => ({ ...externalMlp(spec, dims), mode: "exact" }),
    "last-layer": () => {
      const l = lora(["dense_1"]);
      return { model: { spec, base, lora: l }, mode: "last-layer", only: (n) => n.startsWith("head."), cks: [{ index: 1, learningRate: 0.1, weights: perturbed(initAdapter(spec, l, base, 6), 4) }] };
    },
    "linear-softmax": () => ({ model: { spec: linear, base: {}, lora: null }, mode: "exact", cks: [1, 2].map((k) => ({ index: k, learningRate: 0.2 / k, weights: perturbed(initBase(linear, 3), 40 + k) })) }),
    "sparse-rows": () => ({ model: { spec, base, lora: adapter }, mode: "exact", sparse: true, cks: [1, 2].map((k) => ({ index: k, learningRate: 0.1 / k, weights: perturbed(initAdapter(spec, adapter, base, 6), 20 + k) })) }),
  };
}

/**
 * Every case's scores on the running backend (TF.js engine: the one the GPU runs), and with
 * `brute` the reference too (its helper reads tensors synchronously, which webgpu cannot).
 */
export async function runTracinCases(brute: boolean): Promise<Record<string, CaseScores>> {
  const out: Record<string, CaseScores> = {};
  for (const [name, make] of Object.entries(cases())) {
    const c = make();
    // The sparse case zeroes every third feature, so rows written into one batch buffer differ.
    const thin = (x: Float32Array) => (c.sparse ? x.map((v, i) => ((i % dims) % 3 === 1 + (Math.floor(i / dims) % 2) ? 0 : v)) : x);
    const t = { x: thin(tr.x), y: tr.y }, u = { x: thin(q.x), y: q.y };
    const N = t.y.length, M = u.y.length;
    const matrix = (x: Float32Array, rows: number): FeatureMatrix => (c.sparse ? sparseRows(x, rows, dims) : denseMatrix(x, rows, dims));
    const r = await tracin({
      model: c.model, checkpoints: c.cks, mode: c.mode, topK: 3, shardSize: 7, queryBlock: 4, engine: "tfjs",
      train: { x: matrix(t.x, N), y: t.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
      queries: { x: matrix(u.x, M), y: u.y },
    });
    const S = Array.from({ length: N }, (_, i) => Float64Array.from({ length: M }, (_, j) => r.groupSums[0]![j * N + i]!));
    const self = Float64Array.from(await selfInfluence({ model: c.model, checkpoints: c.cks, mode: c.mode, shardSize: 5, engine: "tfjs", train: { x: matrix(t.x, N), y: t.y } }));
    const want = brute ? bruteInfluence(c.model, c.cks, t, u, dims, c.only) : null;
    out[name] = { S, self, brute: want && { S: want.S, self: c.only ? null : Float64Array.from(want.self) } };
  }
  return out;
}
