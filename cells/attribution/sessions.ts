import type * as Ort from "onnxruntime-node";
import type { NativeEngine } from "../compute/onnx.ts";
import { batch, BatchBuffer, type FeatureMatrix } from "../factory/featurize.ts";
import { forEachShard } from "./accumulate.ts";

// What the native engine's TracIn callers share (its sessions are kept per set of checkpoints in compute/onnx.ts): rows as a graph's inputs, and a graph run over them shard by shard.

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

/**
 * A graph run over `ex` a shard of `size` rows at a time, x and y as inputs() gives them (one
 * buffer for every shard's x), each shard's outputs handed to `each` before the next is written;
 * `each` returning false stops.
 */
export async function runShards(
  engine: NativeEngine, session: Ort.InferenceSession, ex: { x: FeatureMatrix; y: Int32Array }, classes: number, size: number, signal: AbortSignal | undefined,
  each: (from: number, rows: number[], out: Ort.InferenceSession.OnnxValueMapType) => void | false,
): Promise<void> {
  const into = new BatchBuffer();
  await forEachShard(ex.y.length, size, signal, async (from, rows) => each(from, rows, await session.run(inputs(engine.ort, ex, rows, classes, into))));
}
