import { createHash } from "node:crypto";
import { tf } from "../compute/backend.ts";
import { batch, BatchBuffer, type FeatureMatrix } from "./featurize.ts";

/**
 * x·W of an adapter's first layer, W the frozen base kernel, for every row at once. Training
 * an adapter multiplied each batch by W at every step: on mail (8,192 inputs by 128) that was
 * half of a step, and every epoch, every held-out evaluation and every retrain (what-if, LOCO,
 * LDS) did it again for the same rows. A row's product does not depend on the batch it is
 * computed in (on the wasm and cpu backends, bit for bit: test/frozen-product.test.ts), so the
 * product is computed once in blocks and the rows of a batch are read from it: the same
 * weights as multiplying batch by batch.
 */
export class FrozenProduct {
  private constructor(readonly width: number, private readonly product: Float32Array) {}

  /** The rows' products as a [rows, width] tensor, in the order given. */
  rows(rows: readonly number[]): tf.Tensor2D {
    const w = this.width, out = new Float32Array(rows.length * w);
    rows.forEach((r, k) => out.set(this.product.subarray(r * w, (r + 1) * w), k * w));
    return tf.tensor2d(out, [rows.length, w]);
  }

  /**
   * The product of `x` and `kernel`, kept beside `x` while it lives and `kernel` holds the
   * same numbers: retrains over the same rows and base (a new tensor each time) share it.
   * Asynchronous: a GPU backend (webgpu) has no synchronous read.
   */
  static async of(x: FeatureMatrix, kernel: tf.Tensor2D): Promise<FrozenProduct> {
    const data = (await kernel.data()) as Float32Array;
    const key = createHash("sha256").update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).update(String(kernel.shape)).digest("hex");
    const hit = kept.get(x);
    if (hit?.key === key) return hit.product;
    const product = new FrozenProduct(kernel.shape[1], await multiply(x, kernel));
    kept.set(x, { key, product }); // one base per set of rows: a new one replaces it
    return product;
  }
}

const kept = new WeakMap<FeatureMatrix, { key: string; product: FrozenProduct }>();

/** Blocks of rows, as training batches them (dense), so each row is what a batch would give. */
const BLOCK = 1024;

async function multiply(x: FeatureMatrix, kernel: tf.Tensor2D): Promise<Float32Array> {
  const width = kernel.shape[1], out = new Float32Array(x.rows * width), buf = new BatchBuffer();
  for (let r0 = 0; r0 < x.rows; r0 += BLOCK) {
    const rows = Array.from({ length: Math.min(BLOCK, x.rows - r0) }, (_, i) => r0 + i);
    const p = tf.tidy(() => tf.matMul(tf.tensor2d(batch(x, rows, buf), [rows.length, x.dims]), kernel)); // the block's tensor goes here
    out.set((await p.data()) as Float32Array, r0 * width);
    p.dispose();
  }
  return out;
}
