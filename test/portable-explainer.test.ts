import { beforeAll, describe, expect, it } from "vitest";
import { computeBackend } from "../cells/compute/backend.ts";
import { denseMatrix, rawFeatures } from "../cells/factory/featurize.ts";
import { initAdapter, initBase, toTensors, type HostWeights, type LoraConfig, type MlpSpec } from "../cells/factory/mlp.ts";
import { classProbabilities } from "../cells/factory/predict.ts";
import { tracin, type TracinCheckpoint, type TracinMode } from "../cells/attribution/tracin.ts";
import { projectionMatrices } from "../cells/attribution/explain.ts";
import type { TracinModel } from "../cells/attribution/factors.ts";
import { mergeParts, PortableExplainerEngine, type BatchScorer, type PortableExplainer } from "../cells/attribution/portable.ts";
import { PortableLayers } from "../cells/attribution/portable-model.ts";
import { nativeEngine } from "../cells/compute/onnx.ts";
import type { EngineChoice } from "../cells/compute/onnx.ts";
import type { LossGradient } from "../cells/attribution/factors.ts";
import { lossGradientOf } from "../cells/attribution/receipts.ts";
import { decodePortable, encodePortable } from "../cells/attribution/portable-file.ts";
import { bruteInfluence, maxRelError, perturbed } from "./helpers/brute-tracin.ts";
import { dims, q, spec, tr } from "./helpers/tracin-cases.ts";

// The native engine where it is installed (.ci/run checks that CI has it).
const engines: EngineChoice[] = "error" in (await nativeEngine()) ? ["tfjs"] : ["tfjs", "onnxruntime"];

/** A portable explainer over dense random rows (every row its own contributor, two Datanets). */
function portable(model: TracinModel, cks: TracinCheckpoint[], final: HostWeights, mode: TracinMode, projection?: { dim: number; seed: number }): PortableExplainer {
  const N = tr.y.length;
  const contributors = Array.from({ length: N }, (_, i) => `c${i}`);
  const sorted = [...contributors].sort();
  return {
    source: { pipeline: "p", influence: "influence", modelId: "m".repeat(64), mode, topK: 5, trainVersion: "v" },
    featurizer: rawFeatures(dims), spec: model.spec, lora: model.lora, base: model.base, final,
    checkpoints: cks.map((c) => ({ index: c.index, learningRate: c.learningRate, weights: c.weights })),
    projection: projection ? { ...projection, matrices: projectionMatrices(model, cks, projection) } : null,
    train: {
      offsets: Uint32Array.from({ length: N + 1 }, (_, i) => i * dims), idx: Uint16Array.from({ length: N * dims }, (_, k) => k % dims), val: tr.x, y: tr.y,
      ids: Array.from({ length: N }, (_, i) => `id${i}`), contributors,
      datanets: Array.from({ length: N }, (_, i) => (i % 2 ? "odd" : "even")), labels: Array.from(tr.y, (y) => spec.classes[y]!), texts: Array.from({ length: N }, () => ""),
    },
    credit: {
      contributors: sorted, datanets: ["even", "odd"],
      groups: [Int32Array.from(contributors, (c) => sorted.indexOf(c)), Int32Array.from({ length: N }, (_, i) => i % 2)],
    },
  };
}

/** Every score, [train][query], as the portable engine ranks them (top = every row), each query traced as its target (its label by default). */
function portableScores(p: PortableExplainer, targets: Int32Array = q.y): Float64Array[] {
  const engine = new PortableExplainerEngine(decodePortable(encodePortable(p), "test")); // through the file, as a page reads it
  const S = Array.from({ length: tr.y.length }, () => new Float64Array(q.y.length));
  for (let j = 0; j < q.y.length; j++) {
    const [e] = engine.explain([{ features: q.x.subarray(j * dims, (j + 1) * dims) }], { top: tr.y.length, as: p.spec.classes[targets[j]!] }).explanations;
    for (const c of [...e!.proponents, ...e!.opponents]) S[Number(c.contribution.slice(2))]![j] = c.score;
    // Contributor sums: one contributor per row, so each is that row's score.
    for (const g of e!.contributors) expect(g.score).toBeCloseTo(S[Number(g.name.slice(1))]![j]!, 12);
  }
  return S;
}

describe("the portable explainer (what a static site explains with) against brute-force per-example gradients", () => {
  const base = initBase(spec, 5);
  beforeAll(() => computeBackend()); // the brute force differentiates on TF.js

  it("is exact for a LoRA adapter over a frozen base, through its file", () => {
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    const model: TracinModel = { spec, base, lora };
    const cks = [1, 2, 3].map((k) => ({ index: k, learningRate: 0.1 / k, weights: perturbed(initAdapter(spec, lora, base, 6), 10 + k) }));
    expect(maxRelError(portableScores(portable(model, cks, cks[2]!.weights, "exact")), bruteInfluence(model, cks, tr, q, dims).S)).toBeLessThanOrEqual(1e-5);
  });

  it("is exact for a full model, every layer trainable", () => {
    const model: TracinModel = { spec, base: {}, lora: null };
    const cks = [1, 2].map((k) => ({ index: k, learningRate: 0.05 * k, weights: perturbed(initBase(spec, 8), 30 + k) }));
    expect(maxRelError(portableScores(portable(model, cks, cks[1]!.weights, "exact")), bruteInfluence(model, cks, tr, q, dims).S)).toBeLessThanOrEqual(1e-5);
  });

  it("restricts to the head in last-layer mode", () => {
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1"] };
    const model: TracinModel = { spec, base, lora };
    const cks = [{ index: 1, learningRate: 0.1, weights: perturbed(initAdapter(spec, lora, base, 6), 4) }];
    expect(maxRelError(portableScores(portable(model, cks, cks[0]!.weights, "last-layer")), bruteInfluence(model, cks, tr, q, dims, (n) => n.startsWith("head.")).S)).toBeLessThanOrEqual(1e-5);
  });

  it("projects as the TF.js engine does, with the matrices it draws", async () => {
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    const model: TracinModel = { spec, base, lora };
    const cks = [1, 2].map((k) => ({ index: k, learningRate: 0.1, weights: perturbed(initAdapter(spec, lora, base, 6), 20 + k) }));
    const projection = { dim: 3, seed: 1 }; // narrower than the layers: the matrices are used
    const N = tr.y.length, M = q.y.length;
    const r = await tracin({
      model, checkpoints: cks, mode: "projection", projection, topK: 1, full: true, engine: "tfjs",
      train: { x: denseMatrix(tr.x, N, dims), y: tr.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
      queries: { x: denseMatrix(q.x, M, dims), y: q.y },
    });
    const want = Array.from({ length: N }, (_, i) => Float64Array.from({ length: M }, (_, j) => r.scores![j * N + i]!));
    expect(maxRelError(portableScores(portable(model, cks, cks[1]!.weights, "projection", projection)), want)).toBeLessThanOrEqual(1e-4);
  });

  it("predicts as the model serves, and ranks proponents, opponents and groups as explain does", async () => {
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    const model: TracinModel = { spec, base, lora };
    const cks = [1, 2].map((k) => ({ index: k, learningRate: 0.1, weights: perturbed(initAdapter(spec, lora, base, 6), 40 + k) }));
    const final = cks[1]!.weights;
    const want = await classProbabilities(spec, denseMatrix(q.x, q.y.length, dims), toTensors(final), { base: toTensors(base), lora });
    const engine = new PortableExplainerEngine(portable(model, cks, final, "exact"));
    const answer = engine.explain(Array.from({ length: q.y.length }, (_, j) => ({ features: q.x.subarray(j * dims, (j + 1) * dims) })));
    expect(answer.explanations).toHaveLength(q.y.length);
    answer.explanations.forEach((e, j) => {
      e.probabilities.forEach((c, k) => expect(c.p).toBeCloseTo(want[j * 3 + k]!, 5));
      expect(e.target).toBe(e.prediction);
      expect(e.proponents.map((c) => c.rank)).toEqual(e.proponents.map((_, r) => r + 1));
      expect(e.proponents.length).toBeLessThanOrEqual(5);
      for (let k = 1; k < e.proponents.length; k++) expect(e.proponents[k]!.score).toBeLessThanOrEqual(e.proponents[k - 1]!.score);
      // The Datanets' sums are their rows' scores summed; the shares split the positive part.
      const positive = e.datanets.reduce((s, g) => s + Math.max(g.score, 0), 0);
      for (const g of e.datanets) {
        if (positive > 0) expect(g.share).toBeCloseTo(Math.max(g.score, 0) / positive, 12);
        else expect(g.share).toBeNull();
      }
    });
    expect(() => engine.explain([{ features: [1, 2] }])).toThrow(/^input 1 has 2 features, the model reads 6/);
    expect(() => engine.explain([{ features: q.x.subarray(0, dims) }], { as: "z" })).toThrow(/^as: "z" is not one of the model's classes \(a, b, c\)/);
  });

  it("splits into shards (one per worker) whose parts merge into the whole answer", () => {
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    const model: TracinModel = { spec, base, lora };
    const cks = [1, 2].map((k) => ({ index: k, learningRate: 0.1, weights: perturbed(initAdapter(spec, lora, base, 6), 50 + k) }));
    const p = portable(model, cks, cks[1]!.weights, "exact");
    const inputs = Array.from({ length: 4 }, (_, j) => ({ features: q.x.subarray(j * dims, (j + 1) * dims) }));
    const whole = new PortableExplainerEngine(p).explain(inputs, { top: 4 });
    // Uneven shards, one empty, in any order.
    const shards = [[11, 17], [0, 5], [5, 5], [5, 11]].map(([from, to]) => new PortableExplainerEngine(p, { from: from!, to: to! }).part(inputs, { top: 4 }));
    const merged = mergeParts(shards);
    expect(merged.engine).toBe("portable explainer, TypeScript float64, 4 shards");
    const strip = ({ seconds: _s, engine: _e, explanations, ...rest }: typeof whole) => ({
      ...rest,
      explanations: explanations.map((e) => ({ ...e, contributors: e.contributors.map((g) => ({ ...g, score: Number(g.score.toPrecision(12)) })), datanets: e.datanets.map((g) => ({ ...g, score: Number(g.score.toPrecision(12)), share: g.share === null ? null : Number(g.share.toPrecision(12)) })) })),
    });
    expect(strip(merged)).toEqual(strip(whole));
    expect(merged.explanations[0]!.proponents.length + merged.explanations[0]!.opponents.length).toBeGreaterThan(4);
    expect(() => new PortableExplainerEngine(p, { from: 3, to: 99 })).toThrow(/shard \[3, 99\) is not within the 17 training rows/);
  });

  it("hands a batch scorer (the page's GPU) all it needs: scores from the problem alone answer as the engine does", async () => {
    // The scorer's formula in plain float64 over what ScoringProblem carries, nothing else of the engine.
    const seen: object[] = [];
    const reference: BatchScorer = {
      name: "reference scorer",
      async scores(engine, problem) {
        seen.push(engine);
        const dotAt = (rows: Float32Array, i: number, v: Float64Array) => v.reduce((t, x, j) => t + rows[i * v.length + j]! * x, 0);
        return problem.queries.map((qq) => Float64Array.from({ length: problem.rows }, (_, i) => problem.checkpoints.reduce((total, c, k) => {
          const f = qq.factors[k]!;
          if (c.side.features) return total + dotAt(c.side.features, i, f.features!);
          return total + c.learningRate * problem.shapes.reduce((t, shape, m) => {
            const ga = (shape.aIsInput ? qq.inputGram![i]! : dotAt(c.side.a[m]!, i, f.a[m]!)) + (shape.bias ? 1 : 0);
            return t + ga * dotAt(c.side.b[m]!, i, f.b[m]!);
          }, 0);
        }, 0)));
      },
    };
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1", "dense_2"] };
    const adapter = [1, 2].map((k) => ({ index: k, learningRate: 0.1 * k, weights: perturbed(initAdapter(spec, lora, base, 6), 60 + k) }));
    const full = [1, 2].map((k) => ({ index: k, learningRate: 0.05 * k, weights: perturbed(initBase(spec, 8), 70 + k) }));
    const explainers = [
      portable({ spec, base, lora }, adapter, adapter[1]!.weights, "exact"),
      portable({ spec, base: {}, lora: null }, full, full[1]!.weights, "exact"), // the first factor's a-side is the input, with a bias
      portable({ spec, base, lora }, adapter, adapter[1]!.weights, "projection", { dim: 3, seed: 1 }),
    ];
    const inputs = Array.from({ length: 3 }, (_, j) => ({ features: q.x.subarray(j * dims, (j + 1) * dims) }));
    const round = (a: ReturnType<typeof mergeParts>) => JSON.parse(JSON.stringify({ ...a, seconds: 0, engine: "" }, (_, v) => (typeof v === "number" ? Number(v.toPrecision(10)) : v)));
    for (const p of explainers) {
      const shards = [[0, 9], [9, 17]].map(([from, to]) => new PortableExplainerEngine(p, { from: from!, to: to! }));
      const own = mergeParts(shards.map((e) => e.part(inputs, { top: 3, as: "b" })));
      const scored = mergeParts(await Promise.all(shards.map((e) => e.partWith(reference, inputs, { top: 3, as: "b" }))));
      expect(scored.engine).toBe("portable explainer, reference scorer, 2 shards");
      expect(round(scored)).toEqual(round(own));
    }
    expect(seen.length).toBe(6);
  });

  it("refuses a file that is not one, cut short, or of another format, naming it", () => {
    const lora: LoraConfig = { rank: 2, alpha: 3, targets: ["dense_1"] };
    const bytes = encodePortable(portable({ spec, base, lora }, [{ index: 1, learningRate: 0.1, weights: initAdapter(spec, lora, base, 6) }], initAdapter(spec, lora, base, 6), "exact"));
    expect(() => decodePortable(new TextEncoder().encode("<!doctype html>"), "mail.bin")).toThrow(/^mail\.bin is not a portable explainer this version can read: it does not start with TBEX/);
    expect(() => decodePortable(bytes.slice(0, bytes.length - 8), "mail.bin")).toThrow(/lies outside the file .*: the file is truncated/);
    const other = bytes.slice();
    new DataView(other.buffer).setUint32(4, 99, true);
    expect(() => decodePortable(other, "mail.bin")).toThrow(/format 99, this version reads format 1: build the site again/);
  });
});

describe("near-certain predictions", () => {
  // Logits far apart (weights scaled up): p of the predicted class within 1e-9 of 1 for some
  // queries, where softmax − onehot cancels in float32 unless its target entry is summed from the
  // other classes (factors.ts's LossGradient).
  const spec3: MlpSpec = { inputSize: dims, hidden: [5], classes: ["a", "b", "c"] };
  const scaled = (w: HostWeights, k: number): HostWeights => Object.fromEntries(Object.entries(w).map(([n, v]) => [n, { shape: v.shape, data: v.data.map((x) => x * k) }]));
  const model: TracinModel = { spec: spec3, base: {}, lora: null };
  const cks = [1, 2].map((k) => ({ index: k, learningRate: 0.1, weights: scaled(perturbed(initBase(spec3, 3), 60 + k, 0.2), 5) }));
  const N = tr.y.length, M = q.y.length;
  const row = (j: number) => ({ idx: Array.from({ length: dims }, (_, i) => i), val: q.x.subarray(j * dims, (j + 1) * dims) });
  const final = new PortableLayers(model, cks[1]!.weights);
  const p = Array.from({ length: M }, (_, j) => final.probabilities(row(j)));
  const predicted = Int32Array.from(p, (pj) => pj.indexOf(Math.max(...pj)));
  /** Every score [train][query] in float64 (the portable engine), each query traced as its prediction. */
  const reference = () => portableScores(portable(model, cks, cks[1]!.weights, "exact"), predicted);
  const engineScores = async (engine: EngineChoice, lossGradient?: LossGradient) => {
    const r = await tracin({
      model, checkpoints: cks, mode: "exact", topK: 1, full: true, engine, lossGradient,
      train: { x: denseMatrix(tr.x, N, dims), y: tr.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
      queries: { x: denseMatrix(q.x, M, dims), y: predicted },
    });
    return Array.from({ length: N }, (_, i) => Float64Array.from({ length: M }, (_, j) => r.scores![j * N + i]!));
  };
  /** Per query, the largest error against its own largest score: a near-certain query's scores are all tiny. */
  const worstQuery = (got: Float64Array[], want: Float64Array[]) =>
    Math.max(...Array.from({ length: M }, (_, j) => maxRelError(got.map((r) => [r[j]!]), want.map((r) => [r[j]!]))));

  it("keep the loss gradient's digits on every engine: float32 scores within 1e-4 of float64's", async () => {
    await computeBackend();
    expect(p.filter((pj) => 1 - Math.max(...pj) < 1e-7).length).toBeGreaterThanOrEqual(3);
    const want = reference();
    for (const engine of engines) expect(worstQuery(await engineScores(engine), want), engine).toBeLessThanOrEqual(1e-4);
  });

  it("recompute a receipt made before attribution version 3 as it was made: the gradient subtracted, digits lost", async () => {
    await computeBackend();
    const want = reference();
    for (const engine of engines) expect(worstQuery(await engineScores(engine, "subtracted"), want), engine).toBeGreaterThan(0.1);
    expect(lossGradientOf({})).toBe("subtracted");
    expect(lossGradientOf({ attribution: { loss_gradient: "summed" } })).toBe("summed");
  });
});
