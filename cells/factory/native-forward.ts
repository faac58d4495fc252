import type * as Ort from "onnxruntime-node";
import { cached, forcedEngine, GraphBuilder, idOf, nativeEngine, session, type NativeEngine } from "../compute/onnx.ts";
import { batch, BatchBuffer, type FeatureMatrix } from "./featurize.ts";
import { layerNames, type LoraConfig, type MlpSpec, type Weights } from "./mlp.ts";

/**
 * A model's forward pass on the native engine: the MLP of mlp.ts `forward` (an adapter's LoRA
 * products over its frozen base) as one ONNX graph on MLAS over every core. Predictions were one
 * thread of TF.js's wasm backend: 20,000 mail messages (8,192 inputs, 128 hidden) took 3.1 s
 * there, once when they were paid for and again in each tracin cell that traces them.
 */

/** Where predictions run: the native engine where it loads, unless TRACEBOOK_ENGINE=tfjs; null means TF.js. */
export async function forwardEngine(): Promise<NativeEngine | null> {
  const forced = forcedEngine();
  if (forced === "tfjs") return null;
  const native = await nativeEngine();
  if ("error" in native) {
    if (forced === "onnxruntime") throw new Error(`engine onnxruntime cannot be used for predictions: ${native.error}`);
    return null;
  }
  return native;
}

/** Rows densified per run: 512 mail rows are 16 MB, written into one buffer reused from run to run. */
const BLOCK = 512;

/**
 * Class probabilities (log-probabilities with `log`) of every row of `x`, row-major rows ×
 * classes, as predict.ts `classProbabilities` computes them on TF.js. The session is built once
 * per weights object (tensors do not change in place) and kept while that object lives.
 */
export async function nativeProbabilities(
  engine: NativeEngine, spec: MlpSpec, x: FeatureMatrix, weights: Weights, adapter: { base: Weights; lora: LoraConfig } | undefined, log: boolean,
): Promise<Float32Array> {
  const s = await cached(weights, `forward|${adapter ? idOf(adapter.base) : 0}|${log ? "log" : "p"}`, () => forwardSession(engine, spec, weights, adapter, log));
  const C = spec.classes.length;
  const out = new Float32Array(x.rows * C);
  const into = new BatchBuffer();
  for (let start = 0; start < x.rows; start += BLOCK) {
    const rows = Array.from({ length: Math.min(BLOCK, x.rows - start) }, (_, i) => start + i);
    const feeds = { x: new engine.ort.Tensor("float32", batch(x, rows, into), [rows.length, x.dims]) };
    const r = await s.run(feeds);
    out.set(r.p!.data as Float32Array, start * C);
  }
  return out;
}

async function forwardSession(engine: NativeEngine, spec: MlpSpec, weights: Weights, adapter: { base: Weights; lora: LoraConfig } | undefined, log: boolean): Promise<Ort.InferenceSession> {
  const g = new GraphBuilder("forward");
  // An adapter's own weights (head, LoRA factors) over the frozen base's, as forward() reads them.
  const tensor = (name: string) => {
    const t = (adapter ? weights[name] ?? adapter.base[name] : weights[name]);
    if (!t) throw new Error(`the model has no weight "${name}"`);
    return t;
  };
  const init = async (name: string) => {
    const t = tensor(name);
    return g.init(name, (await t.data()) as Float32Array, t.shape);
  };
  const scale = adapter ? g.scalar(adapter.lora.alpha / adapter.lora.rank) : "";
  let h = g.input("x", ["rows", spec.inputSize]);
  for (const name of layerNames(spec)) {
    let z = g.op("Add", [g.op("MatMul", [h, await init(`${name}.kernel`)]), await init(`${name}.bias`)]);
    if (adapter && adapter.lora.targets.includes(name)) {
      const delta = g.op("MatMul", [g.op("MatMul", [h, await init(`${name}.lora_A`)]), await init(`${name}.lora_B`)]);
      z = g.op("Add", [z, g.op("Mul", [delta, scale])]);
    }
    h = name === "head" ? z : g.op("Relu", [z]);
  }
  g.op(log ? "LogSoftmax" : "Softmax", [h], { axis: 1 }, "p");
  g.output("p", ["rows", spec.classes.length]);
  return session(engine, g);
}
