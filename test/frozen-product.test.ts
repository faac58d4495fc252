import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { computeBackend, tf } from "../cells/compute/backend.ts";
import { Rng } from "../cells/compute/random.ts";
import { batch, featurize, hashedNgrams } from "../cells/factory/featurize.ts";
import { FrozenProduct } from "../cells/factory/frozen-product.ts";
import { forward, initAdapter, initBase, toTensors, type MlpSpec } from "../cells/factory/mlp.ts";

// Real-looking sparse rows, as the mail featurizer makes them, over more rows than one block.
const WORDS = "offer free money click meeting agenda patch kernel invoice winner urgent reply thanks list".split(" ");
const texts = Array.from({ length: 1500 }, (_, i) => {
  const rng = Rng.derive(i, "text");
  return { text: Array.from({ length: 5 + rng.int(0, 60) }, () => WORDS[rng.int(0, WORDS.length)]).join(" ") };
});
const x = featurize(hashedNgrams({ dims: 512 }), texts);
const spec: MlpSpec = { inputSize: 512, hidden: [24, 12], classes: ["a", "b", "c"] };
const base = initBase(spec, 3);
const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe("an adapter's frozen first-layer product", () => {
  beforeAll(async () => {
    await computeBackend();
  });

  it("gives each row bit for bit what multiplying its batch gives, whatever the batch", async () => {
    const kernel = tf.tensor2d(base["dense_1.kernel"]!.data, base["dense_1.kernel"]!.shape as [number, number]);
    const product = await FrozenProduct.of(x, kernel);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: x.rows - 1 }), { minLength: 1, maxLength: 70 }), (rows) => {
      const [got, want] = tf.tidy(() => [product.rows(rows), tf.matMul(tf.tensor2d(batch(x, rows), [rows.length, x.dims]), kernel)]);
      const ok = sameBits(got!.dataSync() as Float32Array, want!.dataSync() as Float32Array);
      tf.dispose([got!, want!]);
      return ok;
    }), { seed: 11, numRuns: 40 });
    kernel.dispose();
  });

  it("makes the adapter's logits bit for bit those of the whole forward pass", async () => {
    const lora = { rank: 4, alpha: 8, targets: ["dense_1", "dense_2"] };
    const adapter = initAdapter(spec, lora, base, 5);
    // B starts at zero: give it values, so the adapter's own path counts in the logits.
    for (const k of Object.keys(adapter)) if (k.endsWith("lora_B")) adapter[k]!.data.set(Rng.derive(7, k).normals(adapter[k]!.data.length, 0.3));
    const w = toTensors(base), a = toTensors(adapter);
    const rows = Rng.derive(9, "rows").shuffle(Array.from({ length: x.rows }, (_, i) => i)).slice(0, 32);
    const product = await FrozenProduct.of(x, w["dense_1.kernel"] as tf.Tensor2D);
    const [got, want] = tf.tidy(() => {
      const xb = tf.tensor2d(batch(x, rows), [rows.length, x.dims]);
      return [forward(spec, w, xb, { lora, weights: a }, product.rows(rows)), forward(spec, w, xb, { lora, weights: a })];
    });
    expect(sameBits(got!.dataSync() as Float32Array, want!.dataSync() as Float32Array)).toBe(true);
    tf.dispose([got!, want!, ...Object.values(w), ...Object.values(a)]);
  });

  it("is computed once for the same rows and the same kernel numbers, again for another kernel", async () => {
    const k1 = tf.tensor2d(base["dense_1.kernel"]!.data, base["dense_1.kernel"]!.shape as [number, number]);
    const k2 = tf.tensor2d(base["dense_1.kernel"]!.data, base["dense_1.kernel"]!.shape as [number, number]); // a retrain's own copy
    const other = tf.tensor2d(initBase(spec, 4)["dense_1.kernel"]!.data, base["dense_1.kernel"]!.shape as [number, number]);
    const p = await FrozenProduct.of(x, k1);
    expect(await FrozenProduct.of(x, k2)).toBe(p);
    const q = await FrozenProduct.of(x, other);
    expect(q).not.toBe(p);
    const [a, b] = tf.tidy(() => [p.rows([0, 1]), q.rows([0, 1])]);
    expect(sameBits(a!.dataSync() as Float32Array, b!.dataSync() as Float32Array)).toBe(false);
    tf.dispose([a!, b!, k1, k2, other]);
  });
});
