import { tf } from "./backend.ts";

/** Registered once per process (the backend is chosen once). */
let installed = false;

/**
 * The gradient of a 2-D matrix product with its transposes made explicit.
 *
 * TF.js's own gradient of `matMul(a, b)` asks for `matMul(dy, b, false, true)` and
 * `matMul(a, dy, true, false)`. The wasm backend runs a product through XNNPACK only when
 * neither side is transposed; a transposed side falls to a plain loop. For a dense layer over
 * hashed n-grams (x is 32 × 8192) that was 39 ms for xᵀ·δ against 5 ms with the transpose
 * made first, and it made a base model train at 474 examples/s instead of 1,128 (bench:
 * `npm run bench`, train.json). The values are the same products, summed in another order:
 * equal up to float32 rounding, so `FACTORY_VERSION` 2 names the weights they give.
 *
 * Products of higher rank keep TF.js's own gradient (they broadcast batch dimensions).
 */
export function useExplicitTransposeGradient(): void {
  const stock = tf.getGradient("BatchMatMul");
  if (!stock || installed) return;
  installed = true;
  tf.registerGradient({
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor2D, tf.Tensor2D];
      if (a.rank !== 2 || b.rank !== 2) return stock.gradFunc(dy, saved, attrs);
      const g = dy as tf.Tensor2D;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const t = tf.transpose;
      if (!transposeA && !transposeB) return { a: () => tf.matMul(g, t(b)), b: () => tf.matMul(t(a), g) };
      if (!transposeA && transposeB) return { a: () => tf.matMul(g, b), b: () => tf.matMul(t(g), a) };
      if (transposeA && !transposeB) return { a: () => tf.matMul(b, t(g)), b: () => tf.matMul(a, g) };
      return { a: () => tf.matMul(t(b), t(g)), b: () => tf.matMul(t(g), t(a)) };
    },
  });
}
