import { tf } from "../../cells/compute/backend.ts";
import { Rng } from "../../cells/compute/random.ts";
import { sparseMatrix, type FeatureMatrix } from "../../cells/factory/featurize.ts";
import { forward, meanLoss, toTensors, type HostWeights } from "../../cells/factory/mlp.ts";
import type { TracinCheckpoint } from "../../cells/attribution/tracin.ts";
import type { TracinModel } from "../../cells/attribution/factors.ts";
import { parseExternalMlp } from "../../cells/factory/external.ts";
import type { MlpSpec } from "../../cells/factory/mlp.ts";

// The references TracIn engines are tested against (tracin.test.ts, portable-explainer.test.ts).

/** Per-example gradients by tf.grad, one example at a time: the reference. */
export function bruteGradients(model: TracinModel, c: TracinCheckpoint, x: Float32Array, dims: number, y: Int32Array, only?: (name: string) => boolean): Float64Array[] {
  const names = Object.keys(c.weights).filter((k) => !only || only(k)).sort();
  const out: Float64Array[] = [];
  for (let i = 0; i < y.length; i++) {
    const grads = tf.tidy(() => {
      const vars = names.map((k) => tf.tensor(c.weights[k]!.data, c.weights[k]!.shape));
      const fixed = Object.fromEntries(Object.entries(c.weights).filter(([k]) => !names.includes(k)).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
      const base = toTensors(model.base);
      const xi = tf.tensor2d(x.subarray(i * dims, (i + 1) * dims), [1, dims]);
      const yi = tf.tensor1d([y[i]!], "int32");
      const f = (...ts: tf.Tensor[]) => {
        const w = { ...fixed, ...Object.fromEntries(names.map((k, j) => [k, ts[j]!])) };
        const logits = model.lora ? forward(model.spec, base, xi, { lora: model.lora, weights: w }) : forward(model.spec, w, xi);
        return meanLoss(logits, yi, model.spec.classes.length);
      };
      return tf.grads(f)(vars).map((g) => g.dataSync());
    });
    const flat = new Float64Array(grads.reduce((n, g) => n + g.length, 0));
    let at = 0;
    for (const g of grads) {
      flat.set(g, at);
      at += g.length;
    }
    out.push(flat);
  }
  return out;
}

export const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

export function bruteInfluence(model: TracinModel, cks: TracinCheckpoint[], tr: { x: Float32Array; y: Int32Array }, q: { x: Float32Array; y: Int32Array }, dims: number, only?: (n: string) => boolean) {
  const S = Array.from({ length: tr.y.length }, () => new Float64Array(q.y.length));
  const self = new Float64Array(tr.y.length);
  for (const c of cks) {
    const gt = bruteGradients(model, c, tr.x, dims, tr.y, only), gq = bruteGradients(model, c, q.x, dims, q.y, only);
    gt.forEach((g, i) => {
      self[i] = self[i]! + c.learningRate * dot(g, g);
      const row = S[i]!;
      gq.forEach((h, j) => (row[j] = row[j]! + c.learningRate * dot(g, h)));
    });
  }
  return { S, self };
}

export function maxRelError(got: ArrayLike<number>[], want: ArrayLike<number>[]): number {
  let scale = 0, err = 0;
  want.forEach((row, i) => Array.from(row).forEach((w, j) => {
    scale = Math.max(scale, Math.abs(w));
    err = Math.max(err, Math.abs(got[i]![j]! - w));
  }));
  return err / scale;
}

export function data(seed: number, n: number, dims: number, classes: number) {
  const rng = new Rng(seed);
  return { x: rng.normals(n * dims), y: Int32Array.from({ length: n }, () => rng.int(0, classes - 1)) };
}

export function perturbed(w: HostWeights, seed: number, scale = 0.3): HostWeights {
  const rng = new Rng(seed);
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data, (x) => x + rng.normal() * scale) }]));
}

/** Dense rows [rows, dims] stored sparse, as featurized text is: their nonzeros, less any entry `drop` names. */
export function sparseRows(x: Float32Array, rows: number, dims: number, drop: (d: number) => boolean = () => false): FeatureMatrix {
  return sparseMatrix(Array.from({ length: rows }, (_, i) => {
    const idx = Int32Array.from({ length: dims }, (_, d) => d).filter((d) => x[i * dims + d] !== 0 && !drop(d));
    return { idx, val: Float32Array.from(idx, (d) => x[i * dims + d]!) };
  }), dims);
}

/** An imported MLP (spec's layer sizes), every layer trainable, two checkpoints: its first factor has the input as a-side, with a bias. */
export function externalMlp(spec: MlpSpec, dims: number): { model: TracinModel; cks: TracinCheckpoint[] } {
  const rng = new Rng(3);
  const layer = (i: number, o: number) => ({ kernel: Array.from({ length: i }, () => Array.from({ length: o }, () => rng.normal() * 0.7)), bias: Array.from({ length: o }, () => rng.normal() * 0.1) });
  const sizes = [dims, ...spec.hidden, spec.classes.length];
  const ext = parseExternalMlp({
    format: "tracebook.external-mlp/1", classes: spec.classes,
    checkpoints: [0.05, 0.02].map((lr) => ({ learning_rate: lr, layers: sizes.slice(1).map((o, i) => layer(sizes[i]!, o)) })),
  }, "test.json");
  const cks = ext.checkpoints.map((c, k) => ({
    index: k + 1, learningRate: c.learningRate,
    weights: Object.fromEntries(c.layers.flatMap((l, i) => {
      const name = i === c.layers.length - 1 ? "head" : `dense_${i + 1}`;
      return [[`${name}.kernel`, { shape: [l.inputs, l.outputs], data: l.kernel }], [`${name}.bias`, { shape: [l.outputs], data: l.bias }]];
    })) as HostWeights,
  }));
  return { model: { spec, base: {}, lora: null }, cks };
}
