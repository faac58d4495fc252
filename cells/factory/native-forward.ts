import type * as Ort from "onnxruntime-node";
import { cached, GraphBuilder, idOf, nativeUnlessTfjs, session, type NativeEngine } from "../compute/onnx.ts";
import { layerNames, type LoraConfig, type MlpSpec, type Weights } from "./mlp.ts";

/**
 * A model's forward pass on the native engine: the MLP of mlp.ts `forward` (an adapter's LoRA
 * products over its frozen base) as one ONNX graph on MLAS over every core. Predictions were one
 * thread of TF.js's wasm backend: 20,000 mail messages (8,192 inputs, 128 hidden) took 3.1 s
 * there, once when they were paid for and again in each tracin cell that traces them.
 */

/** Where predictions run: the native engine where it loads, unless TRACEBOOK_ENGINE=tfjs; null means TF.js. */
export function forwardEngine(): Promise<NativeEngine | null> {
  return nativeUnlessTfjs("prediction");
}

/**
 * The forward pass as predict.ts `classProbabilities` runs it, a block of densified rows at a
 * time: probabilities (log-probabilities with `log`), rows × classes. The session is built once
 * per weights object (tensors do not change in place) and kept while that object lives.
 */
export async function nativeForward(
  engine: NativeEngine, spec: MlpSpec, weights: Weights, adapter: { base: Weights; lora: LoraConfig } | undefined, log: boolean,
): Promise<(block: Float32Array, rows: number) => Promise<Float32Array>> {
  const s = await cached(weights, `forward|${adapter ? idOf(adapter.base) : 0}|${log ? "log" : "p"}`, () => forwardSession(engine, spec, weights, adapter, log));
  return async (block, rows) => (await s.run({ x: new engine.ort.Tensor("float32", block, [rows, spec.inputSize]) })).p!.data as Float32Array;
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
