import fc from "fast-check";
import murmurhash from "murmurhash";
import { describe, expect, it } from "vitest";
import { computeBackend, tf } from "../cells/compute/backend.ts";
import { Rng } from "../cells/compute/random.ts";
import { denseMatrix, featurize, hashedNgrams } from "../cells/factory/featurize.ts";
import { forward, initAdapter, initBase, toTensors, type HostWeights, type MlpSpec } from "../cells/factory/mlp.ts";
import { learningRate, makeOptimizer } from "../cells/factory/optimize.ts";
import { train } from "../cells/factory/train.ts";

/** Brute-force forward pass in plain JS, the reference for the tensor code. */
function bruteForward(spec: MlpSpec, w: HostWeights, x: number[], adapter?: { rank: number; alpha: number; targets: string[]; weights: HostWeights }): number[] {
  const names = [...spec.hidden.map((_, i) => `dense_${i + 1}`), "head"];
  let h = x;
  for (const name of names) {
    const k = adapter?.weights[`${name}.kernel`] ?? w[`${name}.kernel`]!;
    const b = adapter?.weights[`${name}.bias`] ?? w[`${name}.bias`]!;
    const [inn, out] = k.shape as [number, number];
    const z = Array.from({ length: out }, (_, j) => b.data[j]! + h.reduce((s, v, i) => s + v * k.data[i * out + j]!, 0));
    if (adapter?.targets.includes(name)) {
      const A = adapter.weights[`${name}.lora_A`]!, B = adapter.weights[`${name}.lora_B`]!;
      const xa = Array.from({ length: adapter.rank }, (_, r) => h.reduce((s, v, i) => s + v * A.data[i * adapter.rank + r]!, 0));
      for (let j = 0; j < out; j++) z[j]! += (adapter.alpha / adapter.rank) * xa.reduce((s, v, r) => s + v * B.data[r * out + j]!, 0);
    }
    void inn;
    h = name === "head" ? z : z.map((v) => Math.max(0, v));
  }
  return h;
}

/** n rows of 8 Gaussian features, labelled by the sign of the first two's sum: an easy two-class set. */
function separable(seed: number, n = 40) {
  const data = new Rng(seed).normals(n * 8);
  const y = Int32Array.from({ length: n }, (_, i) => (data[i * 8]! + data[i * 8 + 1]! > 0 ? 1 : 0));
  return { spec: { inputSize: 8, hidden: [6], classes: ["a", "b"] } as MlpSpec, n, data, y };
}

describe("ModelFactory math", () => {
  it("LoRA forward equals the brute-force sum x·W + b + (α/r)·x·A·B", async () => {
    await computeBackend();
    const spec: MlpSpec = { inputSize: 5, hidden: [4, 3], classes: ["a", "b"] };
    const base = initBase(spec, 3);
    const lora = { rank: 2, alpha: 6, targets: ["dense_1", "dense_2"] };
    const ad = initAdapter(spec, lora, base, 4);
    // B starts at zero; give it values so the adapter term is exercised.
    for (const t of lora.targets) ad[`${t}.lora_B`]!.data.set(new Rng(9).normals(ad[`${t}.lora_B`]!.data.length));
    const x = [0.5, -1, 2, 0, 0.25];
    const got = forward(spec, toTensors(base), tf.tensor2d([x]), { lora, weights: toTensors(ad) });
    const want = bruteForward(spec, base, x, { ...lora, weights: ad });
    const values = Array.from(await got.data());
    values.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    // With B = 0 the adapter is exactly the base (head copied from the base).
    const fresh = initAdapter(spec, lora, base, 4);
    const a = await forward(spec, toTensors(base), tf.tensor2d([x]), { lora, weights: toTensors(fresh) }).data();
    const b = await forward(spec, toTensors(base), tf.tensor2d([x])).data();
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it("follows each learning-rate schedule", () => {
    expect([0, 5, 9].map((s) => learningRate({ kind: "constant", lr: 0.1 }, s, 10))).toEqual([0.1, 0.1, 0.1]);
    expect(learningRate({ kind: "linear", lr: 1, final: 0 }, 0, 11)).toBe(1);
    expect(learningRate({ kind: "linear", lr: 1, final: 0 }, 5, 11)).toBeCloseTo(0.5);
    expect(learningRate({ kind: "linear", lr: 1, final: 0 }, 10, 11)).toBeCloseTo(0);
    expect(learningRate({ kind: "cosine", lr: 1, final: 0.1 }, 0, 11)).toBeCloseTo(1);
    expect(learningRate({ kind: "cosine", lr: 1, final: 0.1 }, 5, 11)).toBeCloseTo(0.55);
    expect(learningRate({ kind: "cosine", lr: 1, final: 0.1 }, 10, 11)).toBeCloseTo(0.1);
    expect([0, 2, 3, 7].map((s) => learningRate({ kind: "step", lr: 1, every: 3, factor: 0.5 }, s, 10))).toEqual([1, 1, 0.5, 0.25]);
    expect([0, 1, 2].map((s) => learningRate({ kind: "constant", lr: 0.3, warmup: 3 }, s, 10))).toEqual([0.1, 0.2, 0.3].map((v) => expect.closeTo(v, 10)));
  });

  it("steps SGD with momentum and Adam as their textbook formulas", async () => {
    await computeBackend();
    const g = 0.5;
    const sgd = makeOptimizer({ name: "sgd", momentum: 0.9 });
    const v = tf.variable(tf.scalar(1));
    sgd.step({ v }, { v: tf.scalar(g) }, 0.1);
    sgd.step({ v }, { v: tf.scalar(g) }, 0.1);
    // m1 = g, m2 = 0.9 g + g; v = 1 - 0.1 m1 - 0.1 m2
    expect((await v.data())[0]).toBeCloseTo(1 - 0.1 * g - 0.1 * (0.9 * g + g), 6);
    const adam = makeOptimizer({ name: "adam" });
    const w = tf.variable(tf.scalar(1));
    adam.step({ w }, { w: tf.scalar(g) }, 0.01);
    // First Adam step: m̂ = g, v̂ = g², update = g / (|g| + ε) ≈ 1.
    expect((await w.data())[0]).toBeCloseTo(1 - 0.01 * (g / (Math.abs(g) + 1e-8)), 6);
  });

  it("hashes n-grams deterministically into unit-norm signed rows", () => {
    const spec = hashedNgrams({ dims: 64, seed: 3 });
    const m = featurize(spec, [{ title: "Héllo", text: "Buy now, buy NOW! Ünïcode" }, { text: "buy now buy now unicode" }]);
    const a = m.sparse(0);
    expect(a.idx.length).toBeGreaterThan(2);
    expect(Math.hypot(...a.val)).toBeCloseTo(1, 6);
    expect(Array.from(a.idx)).toEqual([...a.idx].sort((x, y) => x - y));
    expect(m.sparse(0)).toEqual(featurize(spec, [{ title: "Héllo", text: "Buy now, buy NOW! Ünïcode" }]).sparse(0));
    const dense = new Float32Array(64);
    m.fill(1, dense, 0);
    expect(Array.from(dense).filter((v) => v !== 0).length).toBe(m.sparse(1).idx.length);
    expect(() => featurize(spec, [{ text: "  " }], ["abcdef0123456789"])).toThrow(/row 0 \(abcdef012345\) has no text/);
  });

  it("hashes n-grams exactly as the featurizer's definition says, for any text (brute force)", () => {
    // The definition, written the plain way: feature strings, counted in first-seen order, hashed
    // with the murmurhash package, summed per bucket in that order, then L2-normalised.
    const reference = (spec: { dims: number; seed: number; maxTokens: number }, text: string) => {
      const tokens = (text.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, spec.maxTokens);
      const counts = new Map<string, number>();
      tokens.forEach((t, i) => {
        counts.set(`w:${t}`, (counts.get(`w:${t}`) ?? 0) + 1);
        if (i > 0) counts.set(`b:${tokens[i - 1]} ${t}`, (counts.get(`b:${tokens[i - 1]} ${t}`) ?? 0) + 1);
      });
      const buckets = new Map<number, number>();
      for (const [f, c] of counts) {
        const h = murmurhash.v3(f, spec.seed) >>> 0;
        buckets.set(h % spec.dims, (buckets.get(h % spec.dims) ?? 0) + (h >>> 31 ? -1 : 1) * (1 + Math.log(c)));
      }
      const idx = Int32Array.from([...buckets.keys()].sort((a, b) => a - b));
      const val = Float32Array.from(idx, (b) => buckets.get(b)!);
      const norm = Math.hypot(...val);
      if (norm > 0) val.forEach((v, k) => (val[k] = v / norm));
      return { idx, val };
    };
    // Words from a small vocabulary (repeats, pairs, collisions in 16 buckets), with accents, CJK and astral letters.
    const word = fc.constantFrom("buy", "now", "BUY", "Ünïcode", "ﬁne", "日本", "𝒳y", "a1", "z", "naïve", "NOW");
    const text = fc.array(fc.tuple(word, fc.constantFrom(" ", ", ", "! ", "\n", "-")), { minLength: 1, maxLength: 60 }).map((ws) => ws.map(([w, sep]) => w + sep).join(""));
    fc.assert(fc.property(text, fc.constantFrom(16, 64, 8192), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (t, dims, seed) => {
      const spec = hashedNgrams({ dims, seed, maxTokens: 50 });
      expect(featurize(spec, [{ text: t }]).sparse(0)).toEqual(reference({ dims, seed, maxTokens: 50 }, `\n${t}`));
    }), { numRuns: 300, seed: 11 });
  });

  it("trains to the same weights from the same seed, and to others from another", async () => {
    await computeBackend();
    const { spec, n, data, y } = separable(1);
    const x = denseMatrix(data, n, 8);
    const run = (seed: number) => train({
      spec, trainable: initBase(spec, seed), train: { x, y },
      config: { epochs: 3, batchSize: 8, optimizer: { name: "adam" }, schedule: { kind: "cosine", lr: 0.01 }, checkpoints: 3, seed },
    });
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    expect(a.weights).toEqual(b.weights);
    expect(a.weights["dense_1.kernel"]!.data).not.toEqual(c.weights["dense_1.kernel"]!.data);
    expect(a.checkpoints.map((k) => [k.index, k.step, k.epoch])).toEqual([[1, 5, 1], [2, 10, 2], [3, 15, 3]]);
    expect(a.checkpoints[2]!.weights).toEqual(a.weights);
    expect(a.checkpoints.map((k) => k.learningRate)).toEqual([4, 9, 14].map((s) => learningRate({ kind: "cosine", lr: 0.01 }, s, 15)));
    expect(a.metrics.map((m) => [m.epoch, m.split])).toEqual([[1, "train"], [2, "train"], [3, "train"]]);
  });

  it("masks left-out rows out of the full run's batches: what they hold cannot matter, keeping all changes nothing", async () => {
    await computeBackend();
    const { spec, n, data, y } = separable(2);
    // Rows 0..7 left out: every row of the first shuffled batch may be among them, which must still take its step count.
    const keep = Uint8Array.from({ length: n }, (_, i) => (i < 8 ? 0 : 1));
    const run = (d: Float32Array, labels: Int32Array, mask?: Uint8Array) => train({
      spec, trainable: initBase(spec, 3), train: { x: denseMatrix(d, n, 8), y: labels }, keep: mask,
      config: { epochs: 2, batchSize: 8, optimizer: { name: "sgd" }, schedule: { kind: "linear", lr: 0.1, final: 0.01 }, checkpoints: 2, seed: 4 },
    });
    const garbage = Float32Array.from(data, (v, i) => (i < 8 * 8 ? 100 * v + 7 : v));
    const flipped = Int32Array.from(y, (v, i) => (i < 8 ? 1 - v : v));
    const [a, b, all, none] = [await run(data, y, keep), await run(garbage, flipped, keep), await run(data, y, new Uint8Array(n).fill(1)), await run(data, y)];
    expect(a.weights).toEqual(b.weights);
    expect(a.checkpoints.map((k) => k.step)).toEqual(none.checkpoints.map((k) => k.step));
    expect(a.metrics[0]!.examples).toBe(32);
    expect(all.weights).toEqual(none.weights);
    expect(a.weights["dense_1.kernel"]!.data).not.toEqual(none.weights["dense_1.kernel"]!.data);
    await expect(run(data, y, new Uint8Array(n))).rejects.toThrow(/no training examples/);
  });

  it("stops when cancelled", async () => {
    await computeBackend();
    const spec: MlpSpec = { inputSize: 2, hidden: [2], classes: ["a", "b"] };
    const x = { rows: 4, dims: 2, fill: (_i: number, out: Float32Array, o: number) => out.set([1, 0], o), sparse: () => ({ idx: new Int32Array(), val: new Float32Array() }) };
    const controller = new AbortController();
    controller.abort();
    await expect(train({ spec, trainable: initBase(spec, 1), train: { x, y: new Int32Array([0, 1, 0, 1]) }, signal: controller.signal,
      config: { epochs: 1, batchSize: 2, optimizer: { name: "sgd" }, schedule: { kind: "constant", lr: 0.1 }, checkpoints: 1, seed: 1 } })).rejects.toThrow(/cancelled/);
  });
});
