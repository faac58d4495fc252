import { initAdapter, initBase, type LoraConfig, type MlpSpec } from "../../cells/factory/mlp.ts";
import type { TracinCheckpoint, TracinMode } from "../../cells/attribution/tracin.ts";
import type { TracinModel } from "../../cells/attribution/factors.ts";
import { data, externalMlp, perturbed } from "./brute-tracin.ts";

// The TracIn test cases (test/tracin.test.ts), defined once: the GPU benchmark (bench/gpu-cases.ts)
// scores the very same ones on each backend.

export const dims = 6;
export const spec: MlpSpec = { inputSize: dims, hidden: [5, 4], classes: ["a", "b", "c"] };
/** 17 training rows and 9 queries. */
export const tr = data(1, 17, dims, 3), q = data(2, 9, dims, 3);

export interface TracinCase {
  model: TracinModel;
  cks: TracinCheckpoint[];
  mode: TracinMode;
  /** The parameters brute force differentiates (last-layer mode: the head's). */
  only?: (name: string) => boolean;
  /** Rows read sparse, every third feature zeroed (thinned). */
  sparse?: boolean;
}

const lora = (targets: string[]): LoraConfig => ({ rank: 2, alpha: 3, targets });
const base = () => initBase(spec, 5);
const linear: MlpSpec = { inputSize: dims, hidden: [], classes: ["a", "b", "c"] };

export const TRACIN_CASES = {
  /** Non-zero B (a trained adapter), different weights and learning rates per checkpoint. */
  "lora-adapter-exact": (): TracinCase => {
    const b = base(), l = lora(["dense_1", "dense_2"]);
    return { model: { spec, base: b, lora: l }, mode: "exact", cks: [1, 2, 3].map((k) => ({ index: k, learningRate: 0.1 / k, weights: perturbed(initAdapter(spec, l, b, 6), 10 + k) })) };
  },
  /** An imported MLP, every layer trainable: its first layer's factor has the input as a-side, with a bias. */
  "external-mlp-exact": (): TracinCase => ({ ...externalMlp(spec, dims), mode: "exact" }),
  "last-layer": (): TracinCase => {
    const b = base(), l = lora(["dense_1"]);
    return { model: { spec, base: b, lora: l }, mode: "last-layer", only: (n) => n.startsWith("head."), cks: [{ index: 1, learningRate: 0.1, weights: perturbed(initAdapter(spec, l, b, 6), 4) }] };
  },
  "linear-softmax": (): TracinCase => ({
    model: { spec: linear, base: {}, lora: null }, mode: "exact",
    cks: [1, 2].map((k) => ({ index: k, learningRate: 0.2 / k, weights: perturbed(initBase(linear, 3), 40 + k) })),
  }),
  "sparse-rows": (): TracinCase => {
    const b = base(), l = lora(["dense_1", "dense_2"]);
    return { model: { spec, base: b, lora: l }, mode: "exact", sparse: true, cks: [1, 2].map((k) => ({ index: k, learningRate: 0.1 / k, weights: perturbed(initAdapter(spec, l, b, 6), 20 + k) })) };
  },
} satisfies Record<string, () => TracinCase>;

/** Every third feature zeroed, in a pattern that alternates by row: each row's nonzeros differ from the row written before it into a reused buffer. */
export const thin = (x: Float32Array) => x.map((v, i) => ((i % dims) % 3 === 1 + (Math.floor(i / dims) % 2) ? 0 : v));
