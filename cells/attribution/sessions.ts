import type * as Ort from "onnxruntime-node";
import type { NativeEngine } from "../compute/onnx.ts";
import { batch, type BatchBuffer, type FeatureMatrix } from "../factory/featurize.ts";

// What the native engine's callers share: its sessions, kept per set of checkpoints, and rows as a graph's inputs.

/**
 * Sessions are built per set of checkpoints (the weights are baked in as initializers) and kept
 * while that set is alive: LOCO/LDS and the benchmark call the engine repeatedly on one model.
 */
const sessions = new WeakMap<object, Map<string, Promise<unknown>>>();
export function cached<T>(owner: object, key: string, make: () => Promise<T>): Promise<T> {
  let byKey = sessions.get(owner);
  if (!byKey) sessions.set(owner, (byKey = new Map()));
  let p = byKey.get(key) as Promise<T> | undefined;
  if (!p) {
    p = make();
    byKey.set(key, p);
    p.catch(() => byKey!.delete(key));
  }
  return p;
}

const ids = new WeakMap<object, number>();
let lastId = 0;
/** A process-local id per model object: sessions built for one model are never used for another. */
export const idOf = (o: object): number => ids.get(o) ?? (ids.set(o, ++lastId), lastId);

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
