import { beforeAll, describe, expect, it } from "vitest";
import { computeBackend, tf } from "../cells/compute/backend.ts";
import { useExplicitTransposeGradient } from "../cells/compute/matmul-gradient.ts";
import { Rng } from "../cells/compute/random.ts";

/** Row-major m × n matrix product of plain arrays, in float64. */
function product(a: number[][], b: number[][]): number[][] {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
}
const transpose = (m: number[][]) => m[0]!.map((_, j) => m.map((row) => row[j]!));

describe("the gradient of a matrix product with explicit transposes", () => {
  beforeAll(async () => {
    await computeBackend();
    useExplicitTransposeGradient(); // wasm installs it; on another backend the test installs it
  });

  it("is the brute-force gradient for every combination of transposed sides", async () => {
    const rng = new Rng(11);
    const matrix = (r: number, c: number) => Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal()));
    const [m, k, n] = [5, 37, 3];
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const a = tA ? matrix(k, m) : matrix(m, k);
      const b = tB ? matrix(n, k) : matrix(k, n);
      const w = matrix(m, n); // the loss: Σ w ⊙ op(a)·op(b), so dL/dC = w
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, tA, tB), tf.tensor2d(w))))([tf.tensor2d(a), tf.tensor2d(b)]);
      const opA = tA ? transpose(a) : a, opB = tB ? transpose(b) : b;
      const dOpA = product(w, transpose(opB)), dOpB = product(transpose(opA), w);
      const want = { a: tA ? transpose(dOpA) : dOpA, b: tB ? transpose(dOpB) : dOpB };
      for (const [got, expected] of [[ga!, want.a], [gb!, want.b]] as const) {
        expect(got.shape).toEqual([expected.length, expected[0]!.length]);
        const values = (await got.array()) as number[][];
        values.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!), `transposeA ${tA}, transposeB ${tB}`).toBeLessThan(1e-4)));
      }
    }
  });

  it("leaves batched products of rank 3 to TF.js's own gradient", async () => {
    const a = tf.randomNormal([2, 3, 4], 0, 1, "float32", 1), b = tf.randomNormal([2, 4, 5], 0, 1, "float32", 2);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D)))([a, b]);
    expect(ga!.shape).toEqual([2, 3, 4]);
    expect(gb!.shape).toEqual([2, 4, 5]);
    // d/da Σ a·b = 1 · bᵀ summed over the output columns: row sums of b, per batch.
    const rowSums = (await tf.sum(b, 2).array()) as number[][];
    const got = (await ga!.array()) as number[][][];
    got.forEach((batch, i) => batch.forEach((row) => row.forEach((v, k) => expect(v).toBeCloseTo(rowSums[i]![k]!, 4))));
  });
});
