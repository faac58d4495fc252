import { tf } from "../compute/backend.ts";
import { Rng } from "../compute/random.ts";
import { layerNames, layerShapes, type HostWeights, type LoraConfig, type MlpSpec } from "./layers.ts";

export { layerNames, layerShapes } from "./layers.ts";
export type Weights = Record<string, tf.Tensor>;
export type { HostWeights, LoraConfig, MlpSpec } from "./layers.ts";

export function checkLora(spec: MlpSpec, lora: LoraConfig): void {
  const dense = layerNames(spec).filter((n) => n !== "head");
  if (!Number.isInteger(lora.rank) || lora.rank < 1) throw new Error(`adapter rank must be a positive integer, got ${lora.rank}`);
  if (!(lora.alpha > 0)) throw new Error(`adapter alpha must be positive, got ${lora.alpha}`);
  if (!lora.targets.length) throw new Error(`adapter targets: name at least one of ${dense.join(", ")}`);
  for (const t of lora.targets) {
    if (!dense.includes(t)) throw new Error(`adapter target "${t}" is not a dense layer of the base (layers: ${dense.join(", ")})`);
  }
}

/** He-normal kernels (relu layers), Glorot-uniform head, zero biases; seeded per layer. */
export function initBase(spec: MlpSpec, seed: number): HostWeights {
  const out: HostWeights = {};
  for (const { name, inputs, outputs } of layerShapes(spec)) {
    const rng = Rng.derive(seed, `init:${name}`);
    const kernel = name === "head"
      ? rng.uniforms(inputs * outputs, Math.sqrt(6 / (inputs + outputs)))
      : rng.normals(inputs * outputs, Math.sqrt(2 / inputs));
    out[`${name}.kernel`] = { shape: [inputs, outputs], data: kernel };
    out[`${name}.bias`] = { shape: [outputs], data: new Float32Array(outputs) };
  }
  return out;
}

/**
 * The adapter's initial weights, as PEFT does it: A uniform in ±1/sqrt(in) (Kaiming-uniform
 * with a = sqrt(5)), B zero, so training starts exactly at the base model. The head starts as
 * a copy of the base head.
 */
export function initAdapter(spec: MlpSpec, lora: LoraConfig, base: HostWeights, seed: number): HostWeights {
  const out: HostWeights = {};
  const shapes = new Map(layerShapes(spec).map((l) => [l.name, l]));
  for (const target of lora.targets) {
    const { inputs, outputs } = shapes.get(target)!;
    out[`${target}.lora_A`] = { shape: [inputs, lora.rank], data: Rng.derive(seed, `lora:${target}`).uniforms(inputs * lora.rank, 1 / Math.sqrt(inputs)) };
    out[`${target}.lora_B`] = { shape: [lora.rank, outputs], data: new Float32Array(lora.rank * outputs) };
  }
  out["head.kernel"] = { shape: base["head.kernel"]!.shape, data: base["head.kernel"]!.data.slice() };
  out["head.bias"] = { shape: base["head.bias"]!.shape, data: base["head.bias"]!.data.slice() };
  return out;
}

/**
 * Logits [batch][classes]. With an adapter, its tensors override or extend the base's.
 * `firstProduct`, when given, is x times the first layer's kernel, already computed (a frozen
 * base's, see frozen-product.ts); `x` is then read only by an adapter on that layer.
 */
export function forward(spec: MlpSpec, base: Weights, x: tf.Tensor2D, adapter?: { lora: LoraConfig; weights: Weights }, firstProduct?: tf.Tensor2D): tf.Tensor2D {
  const w = (name: string) => adapter?.weights[name] ?? base[name]!;
  const scale = adapter ? adapter.lora.alpha / adapter.lora.rank : 0;
  let h: tf.Tensor2D = x;
  for (const name of layerNames(spec)) {
    const product = h === x && firstProduct ? firstProduct : tf.matMul(h, w(`${name}.kernel`) as tf.Tensor2D);
    let z = tf.add(product, w(`${name}.bias`)) as tf.Tensor2D;
    if (adapter && adapter.lora.targets.includes(name)) {
      const delta = tf.matMul(tf.matMul(h, adapter.weights[`${name}.lora_A`] as tf.Tensor2D), adapter.weights[`${name}.lora_B`] as tf.Tensor2D);
      z = tf.add(z, tf.mul(delta, scale));
    }
    h = name === "head" ? z : tf.relu(z);
  }
  return h;
}

/** Mean softmax cross-entropy of logits against integer labels. */
export function meanLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, classes: number): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, classes), tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

export function toTensors(w: HostWeights): Weights {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, tf.tensor(v.data, v.shape, "float32")]));
}

export async function toHost(w: Weights): Promise<HostWeights> {
  const out: HostWeights = {};
  for (const [k, t] of Object.entries(w)) out[k] = { shape: t.shape, data: (await t.data()) as Float32Array };
  return out;
}
