import { describe, expect, it } from "vitest";
import { computeBackend } from "../cells/compute/backend.ts";
import { denseMatrix, selectRows } from "../cells/factory/featurize.ts";
import { initAdapter, initBase, type LoraConfig } from "../cells/factory/mlp.ts";
import { selfInfluence, tracin, type TracinCheckpoint, type TracinMode } from "../cells/attribution/tracin.ts";
import type { TracinModel } from "../cells/attribution/factors.ts";
import type { EngineChoice } from "../cells/compute/onnx.ts";
import { KeptTrainSide } from "../cells/attribution/kept.ts";
import { nativeEngine } from "../cells/compute/onnx.ts";
import { gradientFeatures, scoreWithFeatures } from "../cells/attribution/features.ts";
import { bruteInfluence, dot, maxRelError, perturbed, sparseRows } from "./helpers/brute-tracin.ts";
import { dims, q, spec, thin, tr, TRACIN_CASES } from "./helpers/tracin-cases.ts";

/** The engine's full score matrix: one group per training row makes the group sums the scores. */
async function engineInfluence(model: TracinModel, cks: TracinCheckpoint[], tr: { x: Float32Array; y: Int32Array }, q: { x: Float32Array; y: Int32Array }, dims: number, mode: TracinMode, projection?: { dim: number; seed: number }, engine: EngineChoice = "tfjs") {
  const N = tr.y.length, M = q.y.length;
  const r = await tracin({
    model, checkpoints: cks, mode, projection, topK: 3, shardSize: 7, queryBlock: 4, engine,
    train: { x: denseMatrix(tr.x, N, dims), y: tr.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
    queries: { x: denseMatrix(q.x, M, dims), y: q.y },
  });
  const S = Array.from({ length: N }, (_, i) => Float64Array.from({ length: M }, (_, j) => r.groupSums[0]![j * N + i]!));
  expect(r.engine).toMatch(engine === "onnxruntime" ? /^onnxruntime-node@/ : /^tfjs /);
  const self = await selfInfluence({ model, checkpoints: cks, mode, projection, shardSize: 5, engine, train: { x: denseMatrix(tr.x, N, dims), y: tr.y } });
  return { S, self, top: r.top };
}

// The native engine is an optional dependency: where it is not installed only the TF.js engine is
// tested here (.ci/run checks that CI has it).
const native = await nativeEngine();
if ("error" in native) console.warn(`TracIn tests of the onnxruntime engine skipped: ${native.error}`);
const engines: EngineChoice[] = "error" in native ? ["tfjs"] : ["tfjs", "onnxruntime"];

describe.each(engines)("TracIn against brute-force per-example gradients (%s engine)", (engine) => {
  it("is exact for a LoRA adapter over a frozen base (max relative error ≤ 1e-4)", async () => {
    await computeBackend();
    const { model, cks } = TRACIN_CASES["lora-adapter-exact"]();
    const want = bruteInfluence(model, cks, tr, q, dims);
    const got = await engineInfluence(model, cks, tr, q, dims, "exact", undefined, engine);
    expect(maxRelError(got.S, want.S)).toBeLessThanOrEqual(1e-4);
    expect(maxRelError([got.self], [want.self])).toBeLessThanOrEqual(1e-4);
  });

  const fullModel = TRACIN_CASES["external-mlp-exact"];

  it("is exact for an imported external MLP, every layer trainable", async () => {
    await computeBackend();
    const { model, cks } = fullModel();
    const want = bruteInfluence(model, cks, tr, q, dims);
    const got = await engineInfluence(model, cks, tr, q, dims, "exact", undefined, engine);
    expect(maxRelError(got.S, want.S)).toBeLessThanOrEqual(1e-4);
    expect(maxRelError([got.self], [want.self])).toBeLessThanOrEqual(1e-4);
  });

  it("restricts to the head in last-layer mode", async () => {
    await computeBackend();
    const { model, cks, only } = TRACIN_CASES["last-layer"]();
    const want = bruteInfluence(model, cks, tr, q, dims, only);
    const got = await engineInfluence(model, cks, tr, q, dims, "last-layer", undefined, engine);
    expect(maxRelError(got.S, want.S)).toBeLessThanOrEqual(1e-4);
  });

  it("projection is exact when no side is wider than its dimension, and close when it is", async () => {
    await computeBackend();
    const base = initBase(spec, 5);
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    const model: TracinModel = { spec, base, lora };
    const cks = [1, 2].map((k) => ({ index: k, learningRate: 0.1, weights: perturbed(initAdapter(spec, lora, base, 6), 20 + k) }));
    const exact = await engineInfluence(model, cks, tr, q, dims, "exact", undefined, engine);
    const wide = await engineInfluence(model, cks, tr, q, dims, "projection", { dim: 8, seed: 1 }, engine);
    expect(maxRelError(wide.S, exact.S)).toBeLessThanOrEqual(1e-4);
    expect(maxRelError([wide.self], [exact.self])).toBeLessThanOrEqual(1e-4);
    // Narrower than the layers: an estimate, unbiased over seeds; here only its sign agreement is checked.
    const narrow = await engineInfluence(model, cks, tr, q, dims, "projection", { dim: 3, seed: 1 }, engine);
    let agree = 0, total = 0;
    exact.S.forEach((row, i) => row.forEach((v, j) => {
      if (Math.abs(v) > 1e-3) {
        total++;
        if (Math.sign(v) === Math.sign(narrow.S[i]![j]!)) agree++;
      }
    }));
    expect(agree / total).toBeGreaterThan(0.7);
  });

  it.each(["adapter", "full"])("stores projected features whose dot products are the projection-mode influence (%s model)", async (kind) => {
    await computeBackend();
    const base = initBase(spec, 5);
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    // The full model's first factor projects the input with its bias row ([x, 1]·P).
    const { model, cks } = kind === "full" ? fullModel() : {
      model: { spec, base, lora } as TracinModel,
      cks: [1, 2].map((k) => ({ index: k, learningRate: 0.05 * k, weights: perturbed(initAdapter(spec, lora, base, 6), 30 + k) })),
    };
    const projection = { dim: 3, seed: 9 };
    const got = await engineInfluence(model, cks, tr, q, dims, "projection", projection, engine);
    // The features of TF.js (the reference), against this engine's scores, and this engine's own features.
    const trainF = await gradientFeatures(model, cks, { x: denseMatrix(tr.x, tr.y.length, dims), y: tr.y }, projection, 5, "tfjs");
    const queryF = await gradientFeatures(model, cks, { x: denseMatrix(q.x, q.y.length, dims), y: q.y }, projection, 1024, "tfjs");
    const ownF = await gradientFeatures(model, cks, { x: denseMatrix(tr.x, tr.y.length, dims), y: tr.y }, projection, 5, engine);
    expect(ownF.width).toBe(trainF.width);
    const rowsOf = (f: { width: number; data: Float32Array }) => Array.from({ length: tr.y.length }, (_, i) => Float64Array.from(f.data.subarray(i * f.width, (i + 1) * f.width)));
    expect(maxRelError(rowsOf(ownF), rowsOf(trainF))).toBeLessThanOrEqual(1e-4);
    const fromFeatures = Array.from({ length: q.y.length }, (_, j) => scoreWithFeatures(trainF, queryF.data.subarray(j * queryF.width, (j + 1) * queryF.width)));
    const S = tr.y.length ? Array.from({ length: tr.y.length }, (_, i) => fromFeatures.map((col) => col[i]!)) : [];
    expect(maxRelError(S, got.S)).toBeLessThanOrEqual(1e-4);
    const norms = Float64Array.from({ length: tr.y.length }, (_, i) => trainF.data.subarray(i * trainF.width, (i + 1) * trainF.width).reduce((t, v) => t + v * v, 0));
    expect(maxRelError([got.self], [norms])).toBeLessThanOrEqual(1e-4);
  });

  it("is exact for a linear softmax model (no hidden layer), with one group for everything", async () => {
    await computeBackend();
    const { model, cks } = TRACIN_CASES["linear-softmax"]();
    const want = bruteInfluence(model, cks, tr, q, dims);
    const got = await engineInfluence(model, cks, tr, q, dims, "exact", undefined, engine);
    expect(maxRelError(got.S, want.S)).toBeLessThanOrEqual(1e-4);
    expect(maxRelError([got.self], [want.self])).toBeLessThanOrEqual(1e-4);
    const N = tr.y.length;
    const one = await tracin({
      model, checkpoints: cks, mode: "exact", topK: 2, engine, shardSize: 5,
      train: { x: denseMatrix(tr.x, N, dims), y: tr.y, groups: [new Int32Array(N)], groupSizes: [1] }, queries: { x: denseMatrix(q.x, q.y.length, dims), y: q.y },
    });
    q.y.forEach((_, j) => expect(one.groupSums[0]![j]!).toBeCloseTo(want.S.reduce((s, row) => s + row[j]!, 0), 4));
  });

  it("streams sparse rows (as featurized text) through reused batch buffers: shards of 5, query blocks of 2", async () => {
    await computeBackend();
    // Every third feature zero, so each row's nonzeros differ from the rows written before it into the same buffer.
    const { model, cks } = TRACIN_CASES["sparse-rows"]();
    const t = { x: thin(tr.x), y: tr.y }, u = { x: thin(q.x), y: q.y };
    const sparseOf = (x: Float32Array, rows: number) => sparseRows(x, rows, dims);
    const want = bruteInfluence(model, cks, t, u, dims);
    const N = t.y.length, M = u.y.length;
    const r = await tracin({
      model, checkpoints: cks, mode: "exact", topK: 3, shardSize: 5, queryBlock: 2, engine,
      train: { x: sparseOf(t.x, N), y: t.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
      queries: { x: sparseOf(u.x, M), y: u.y },
    });
    const S = Array.from({ length: N }, (_, i) => Float64Array.from({ length: M }, (_, j) => r.groupSums[0]![j * N + i]!));
    expect(maxRelError(S, want.S)).toBeLessThanOrEqual(1e-4);
    const self = await selfInfluence({ model, checkpoints: cks, mode: "exact", shardSize: 5, engine, train: { x: sparseOf(t.x, N), y: t.y } });
    expect(maxRelError([self], [want.self])).toBeLessThanOrEqual(1e-4);
  });

  it("keeps per query the top proponents and opponents, in order", async () => {
    await computeBackend();
    const model: TracinModel = { spec, base: {}, lora: null };
    const cks = [{ index: 1, learningRate: 0.1, weights: initBase(spec, 8) }];
    const got = await engineInfluence(model, cks, tr, q, dims, "exact", undefined, engine);
    got.top.forEach((t, j) => {
      const col = got.S.map((row, i) => ({ i, s: row[j]! }));
      const best = col.filter((c) => c.s > 0).sort((a, b) => b.s - a.s || a.i - b.i).slice(0, 3).map((c) => c.i);
      const worst = col.filter((c) => c.s < 0).sort((a, b) => a.s - b.s || a.i - b.i).slice(0, 3).map((c) => c.i);
      expect(t.proponents().map((p) => p.index)).toEqual(best);
      expect(t.opponents().map((p) => p.index)).toEqual(worst);
    });
  });
});

describe.each(engines)("a kept training side (%s engine)", (engine) => {
  const N = tr.y.length;
  // The same rows stored sparse (as featurized text is): the Gram block is summed over nonzeros.
  const sparse = (x: Float32Array, rows: number) => sparseRows(x, rows, dims, (d) => d % 3 === 1);
  const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
  const base = initBase(spec, 5);
  const adapter: TracinModel = { spec, base, lora };
  const full: TracinModel = { spec, base: {}, lora: null };
  const cks = (model: TracinModel) => [1, 2].map((k) => ({ index: k, learningRate: 0.1 / k, weights: perturbed(model.lora ? initAdapter(spec, lora, base, 6) : initBase(spec, 8), 10 + k) }));

  it.each([
    ["a LoRA adapter on the first layer, dense rows", adapter, "exact", false],
    ["a LoRA adapter on the first layer, sparse rows", adapter, "exact", true],
    ["a full model, sparse rows", full, "exact", true],
    ["the head only", adapter, "last-layer", true],
    // The native engine computes a projected training side each time; TF.js keeps it too.
    ...(engine === "tfjs" ? [["a LoRA adapter on the first layer, projected", adapter, "projection", false] as const] : []),
  ] as const)("scores %s as the cell does, question after question, computing the side once", async (_, model, mode, isSparse) => {
    await computeBackend();
    const checkpoints = cks(model);
    const x = isSparse ? sparse(tr.x, N) : denseMatrix(tr.x, N, dims);
    const queries = isSparse ? sparse(q.x, q.y.length) : denseMatrix(q.x, q.y.length, dims);
    const ask = (keep: KeptTrainSide | undefined, rows: number[]) => tracin({
      model, checkpoints, mode, projection: mode === "projection" ? { dim: 3, seed: 2 } : undefined, topK: 3, shardSize: 7, engine, keep,
      train: { x, y: tr.y, groups: [Int32Array.from({ length: N }, (_, i) => i), new Int32Array(N)], groupSizes: [N, 1] },
      queries: { x: selectRows(queries, rows), y: Int32Array.from(rows, (r) => q.y[r]!) },
    });
    const want = await ask(undefined, Array.from(q.y, (_, j) => j));
    const keep = new KeptTrainSide();
    for (const rows of [[0], [3, 5], [8], [0]]) {
      const got = await ask(keep, rows);
      rows.forEach((r, j) => {
        const scores = Array.from({ length: N }, (_, i) => got.groupSums[0]![j * N + i]!), ref = Array.from({ length: N }, (_, i) => want.groupSums[0]![r * N + i]!);
        expect(maxRelError([scores], [ref])).toBeLessThanOrEqual(1e-6);
        expect(got.groupSums[1]![j]!).toBeCloseTo(want.groupSums[1]![r]!, 6);
        expect(got.top[j]!.proponents().map((c) => c.index)).toEqual(want.top[r]!.proponents().map((c) => c.index));
        expect(got.top[j]!.opponents().map((c) => c.index)).toEqual(want.top[r]!.opponents().map((c) => c.index));
      });
      expect(keep.entries.size).toBe(1); // one side, computed on the first question
      expect(got.engine).toMatch(/, training side kept$/);
    }
    expect(await keep.bytes()).toBeGreaterThan(0);
  });

  it("keeps nothing past its budget, nor for a batch of questions, and still scores as the cell does", async () => {
    await computeBackend();
    const checkpoints = cks(adapter);
    const ask = (keep: KeptTrainSide, M: number, o: { shardSize?: number; mode?: "exact" | "last-layer" } = {}) => tracin({
      model: adapter, checkpoints, mode: o.mode ?? "exact", topK: 3, engine, keep, shardSize: o.shardSize,
      train: { x: denseMatrix(tr.x, N, dims), y: tr.y, groups: [new Int32Array(N)], groupSizes: [1] },
      queries: { x: denseMatrix(new Float32Array(M * dims).map((_, i) => q.x[i % q.x.length]!), M, dims), y: Int32Array.from({ length: M }, (_, j) => q.y[j % q.y.length]!) },
    });
    const tight = new KeptTrainSide(16);
    const one = await ask(tight, 1);
    expect(await tight.bytes()).toBe(0);
    const batch = new KeptTrainSide();
    const many = await ask(batch, 40);
    expect(batch.entries.size).toBe(0);
    expect(many.groupSums[0]![0]!).toBeCloseTo(one.groupSums[0]![0]!, 6);
    // A budget the first shard fits and the whole side does not: given up after that shard, with
    // what the side would have taken (its first shard's rows tell).
    const whole = new KeptTrainSide();
    await ask(whole, 1, { shardSize: 7 });
    const full = await whole.bytes();
    const partial = new KeptTrainSide(full - 1);
    expect((await ask(partial, 1, { shardSize: 7 })).groupSums[0]![0]!).toBeCloseTo(one.groupSums[0]![0]!, 6);
    expect(await partial.bytes()).toBe(0);
    expect([...partial.declined.values()]).toEqual([full]);
    // The budget bounds the sides kept together: a second side that fits alone, but not beside the first, is not kept.
    const lastLayer = new KeptTrainSide();
    await ask(lastLayer, 1, { shardSize: 7, mode: "last-layer" });
    const both = new KeptTrainSide(full + (await lastLayer.bytes()) - 1);
    await ask(both, 1, { shardSize: 7 });
    await ask(both, 1, { shardSize: 7, mode: "last-layer" });
    expect(await both.bytes()).toBe(full);
    expect([...both.declined.values()]).toEqual([await lastLayer.bytes()]);
  });
});

describe("TracIn engine choice", () => {
  it("refuses an unknown TRACEBOOK_ENGINE, naming it, and follows a known one", async () => {
    const { tracinEngine } = await import("../cells/attribution/engine.ts");
    const before = process.env.TRACEBOOK_ENGINE;
    try {
      process.env.TRACEBOOK_ENGINE = "cuda";
      await expect(tracinEngine()).rejects.toThrow(/TRACEBOOK_ENGINE=cuda is not an engine \(one of tfjs, onnxruntime\)/);
      process.env.TRACEBOOK_ENGINE = "tfjs";
      expect((await tracinEngine()).kind).toBe("tfjs");
    } finally {
      if (before === undefined) delete process.env.TRACEBOOK_ENGINE;
      else process.env.TRACEBOOK_ENGINE = before;
    }
  });
});
