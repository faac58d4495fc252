import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { computeBackend } from "../cells/compute/backend.ts";
import { nativeEngine } from "../cells/compute/onnx.ts";
import { denseMatrix, sparseMatrix, type FeatureMatrix } from "../cells/factory/featurize.ts";
import { initAdapter, initBase, layerNames, toTensors, type HostWeights, type LoraConfig, type MlpSpec } from "../cells/factory/mlp.ts";
import { classProbabilities } from "../cells/factory/predict.ts";
import { forwardEngine } from "../cells/factory/native-forward.ts";
import { Rng } from "../cells/compute/random.ts";
import { perturbed } from "./helpers/brute-tracin.ts";

// Predictions on the native engine (native-forward.ts) against the forward pass written out in
// float64, and against TF.js's: one engine serves a model's predictions everywhere.

const dims = 40;
const spec: MlpSpec = { inputSize: dims, hidden: [12, 6], classes: ["a", "b", "c"] };
const lora: LoraConfig = { rank: 3, alpha: 5, targets: ["dense_1", "dense_2"] };
const base = initBase(spec, 3);
// B is zero at init: perturbed, so the LoRA products count.
const adapter = perturbed(initAdapter(spec, lora, base, 4), 9);
const native = await nativeEngine();
const env = process.env.TRACEBOOK_ENGINE;

/** The forward pass in float64, one row at a time: the reference. */
function brute(x: FeatureMatrix, weights: HostWeights, over?: HostWeights, scale = 1, log = false): Float64Array {
  const w = (k: string) => (over ? weights[k] ?? over[k] : weights[k])!;
  const C = spec.classes.length, out = new Float64Array(x.rows * C), row = new Float32Array(dims);
  for (let r = 0; r < x.rows; r++) {
    x.fill(r, row, 0);
    let h = Float64Array.from(row);
    for (const name of layerNames(spec)) {
      const k = w(`${name}.kernel`), [n, m] = k.shape as [number, number];
      const z = Float64Array.from(w(`${name}.bias`).data);
      for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) z[j]! += h[i]! * k.data[i * m + j]!;
      if (over && lora.targets.includes(name)) {
        const A = weights[`${name}.lora_A`]!, B = weights[`${name}.lora_B`]!;
        const u = new Float64Array(lora.rank);
        for (let i = 0; i < n; i++) for (let t = 0; t < lora.rank; t++) u[t]! += h[i]! * A.data[i * lora.rank + t]!;
        for (let t = 0; t < lora.rank; t++) for (let j = 0; j < m; j++) z[j]! += scale * u[t]! * B.data[t * m + j]!;
      }
      h = name === "head" ? z : z.map((v) => Math.max(v, 0));
    }
    const top = Math.max(...h), lse = top + Math.log(h.reduce((s, v) => s + Math.exp(v - top), 0));
    h.forEach((v, c) => (out[r * C + c] = log ? v - lse : Math.exp(v - lse)));
  }
  return out;
}

/** Rows of mostly zeros, as hashed n-grams are, and more of them than one native run takes. */
function rows(n: number, seed: number): FeatureMatrix {
  const rng = Rng.derive(seed, "rows");
  return sparseMatrix(Array.from({ length: n }, () => {
    const idx = Int32Array.from(new Set(Array.from({ length: 6 }, () => rng.int(0, dims - 1)))).sort();
    return { idx, val: Float32Array.from(idx, () => rng.normal() * 2) };
  }), dims);
}

/** classProbabilities with the native engine forced (afterEach puts TRACEBOOK_ENGINE back). */
function onNative(...args: Parameters<typeof classProbabilities>): Promise<Float32Array> {
  process.env.TRACEBOOK_ENGINE = "onnxruntime";
  return classProbabilities(...args);
}

/**
 * The largest error relative to the value, or to `floor` where the value is smaller: float32
 * holds a probability near 0, or a log-probability near 0, to an absolute error, not a relative one.
 */
const relErr = (got: Float32Array, want: Float64Array, floor: number) =>
  Math.max(...Array.from(want, (v, i) => Math.abs(got[i]! - v) / Math.max(Math.abs(v), floor)));
const FLOOR = { p: 1e-3, log: 1 };

describe("predictions on the native engine", () => {
  beforeAll(async () => {
    await computeBackend();
  });
  afterEach(() => {
    if (env === undefined) delete process.env.TRACEBOOK_ENGINE;
    else process.env.TRACEBOOK_ENGINE = env;
  });
  const x = rows(1100, 1);

  it.skipIf("error" in native)("agree with the forward pass in float64, for a full model and an adapter over its base, probabilities and log", async () => {
    const scale = lora.alpha / lora.rank;
    for (const log of [false, true]) {
      const full = await onNative(spec, x, toTensors(base), undefined, { log });
      expect(relErr(full, brute(x, base, undefined, 1, log), log ? FLOOR.log : FLOOR.p)).toBeLessThan(1e-5);
      const over = await onNative(spec, x, toTensors(adapter), { base: toTensors(base), lora }, { log });
      expect(relErr(over, brute(x, adapter, base, scale, log), log ? FLOOR.log : FLOOR.p)).toBeLessThan(1e-5);
    }
  });

  it.skipIf("error" in native)("keeps log-probabilities exact where a probability underflows", async () => {
    // Logits hundreds apart: the losing classes' probabilities are 0 in float32, their logs are not.
    const loud: HostWeights = { ...base, "head.kernel": { shape: base["head.kernel"]!.shape, data: base["head.kernel"]!.data.map((v) => v * 400) } };
    const want = brute(x, loud, undefined, 1, true);
    expect(Math.min(...want)).toBeLessThan(-120);
    const got = await onNative(spec, x, toTensors(loud), undefined, { log: true });
    expect(got.every(Number.isFinite)).toBe(true);
    expect(relErr(got, want, FLOOR.log)).toBeLessThan(1e-4); // logits in the hundreds, each to float32
  });

  it("run where classProbabilities runs, unless TRACEBOOK_ENGINE=tfjs; both engines agree", async () => {
    const args = [spec, x, toTensors(adapter), { base: toTensors(base), lora }] as const;
    process.env.TRACEBOOK_ENGINE = "tfjs";
    expect(await forwardEngine()).toBeNull();
    const tfjs = await classProbabilities(...args);
    delete process.env.TRACEBOOK_ENGINE;
    expect((await forwardEngine())?.version).toBe("error" in native ? undefined : native.version);
    const auto = await classProbabilities(...args);
    expect(relErr(auto, Float64Array.from(tfjs), FLOOR.p)).toBeLessThan(1e-5);
    // Dense storage and sparse rows are the same input.
    const dense = new Float32Array(x.rows * dims);
    for (let r = 0; r < x.rows; r++) x.fill(r, dense, r * dims);
    expect(await classProbabilities(spec, denseMatrix(dense, x.rows, dims), args[2], args[3])).toEqual(auto);
  });

  it("refuse an engine that is not one, naming it", async () => {
    process.env.TRACEBOOK_ENGINE = "cuda";
    await expect(forwardEngine()).rejects.toThrow(/TRACEBOOK_ENGINE=cuda is not an engine \(one of tfjs, onnxruntime\)/);
  });
});
