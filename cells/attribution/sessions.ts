import type * as Ort from "onnxruntime-node";
import type { NativeEngine } from "../compute/onnx.ts";
import { batch, type BatchBuffer, type FeatureMatrix } from "../factory/featurize.ts";

// What the native engine's TracIn callers share: its sessions (kept per set of checkpoints, compute/onnx.ts), and rows as a graph's inputs.

function oneHot(y: Int32Array, rows: readonly number[], classes: number): Float32Array {
  const out = new Float32Array(rows.length * classes);
  rows.forEach((r, i) => (out[i * classes + y[r]!] = 1));
  return out;
}

/** A block of rows as the graphs' x and y; x written into `into`, valid until its next block. */
export function inputs(ort: NativeEngine["ort"], ex: { x: FeatureMatrix; y: Int32Array }, rows: number[], classes: number, into: BatchBuffer): { x: Ort.Tensor; y: Ort.Tensor } {
  return {
    x: new ort.Tensor("float32", batch(ex.x, rows, into), [rows.length, ex.x.dims]),
    y: new ort.Tensor("float32", oneHot(ex.y, rows, classes), [rows.length, classes]),
  };
}
