// No TF.js: the notebooks' browser code explains inputs with these (attribution/portable.ts).

/**
 * The model family: a multilayer perceptron, dense layers `dense_1 … dense_n` with relu,
 * then a linear `head` over the classes; softmax cross-entropy. Kernels are [in][out],
 * row-major (TF.js's layout). A LoRA adapter adds (alpha / rank) · x · A · B to a target
 * layer's pre-activation, with A [in][rank] and B [rank][out]; its head replaces the base's.
 */
export interface MlpSpec {
  inputSize: number;
  hidden: number[];
  classes: string[];
}

export interface LoraConfig {
  rank: number;
  alpha: number;
  /** Dense layers that get an adapter, e.g. ["dense_1", "dense_2"]. */
  targets: string[];
}

export type HostWeights = Record<string, { shape: number[]; data: Float32Array }>;

export function layerNames(spec: MlpSpec): string[] {
  return [...spec.hidden.map((_, i) => `dense_${i + 1}`), "head"];
}

export function layerShapes(spec: MlpSpec): { name: string; inputs: number; outputs: number }[] {
  const sizes = [spec.inputSize, ...spec.hidden, spec.classes.length];
  return layerNames(spec).map((name, i) => ({ name, inputs: sizes[i]!, outputs: sizes[i + 1]! }));
}
