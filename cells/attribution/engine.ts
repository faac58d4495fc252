import type * as Ort from "onnxruntime-node";
import { backendAdapter, computeBackendName, tf } from "../compute/backend.ts";
import { adapterName } from "../compute/adapter.ts";
import { cached, forcedEngine, idOf, nativeUnlessTfjs, type EngineChoice, type NativeEngine } from "../compute/onnx.ts";
import { probeWebgpu } from "../compute/webgpu.ts";
import { BatchBuffer, type FeatureMatrix } from "../factory/featurize.ts";
import { queryGraph, scoreGraph, selfGraph, type GraphModel, type QueryGraph } from "./native.ts";
import { projectionQueryGraph, projectionScoreGraph, projectionSelfGraph } from "./native-projection.ts";
import { inputs, runShards } from "./sessions.ts";
import { gramBlock, KEPT_NOTE, KEPT_QUERIES, keptSide } from "./kept.ts";
import { Accumulator, streamBlocks } from "./accumulate.ts";
import { scopeOf } from "./factors.ts";
import type { SelfInfluenceRequest, TracinMode, TracinRequest, TracinResult } from "./tracin.ts";

export type ResolvedEngine = { kind: "tfjs" } | { kind: "onnxruntime"; native: NativeEngine };

/**
 * Which engine computes TracIn, in every mode. On a GPU (the webgpu backend on a hardware
 * adapter), TF.js, every checkpoint stacked in one batched pass (stacked.ts): on an H200 it scored
 * the TracIn benchmark case's 784-256-10 model at 2.8× the native engine on all 16 cores (1.95× at
 * ten times the rows), and only the small 784-32-10 slower, at 0.68×: too little work to fill a
 * GPU (bench/results/gpu-nvidia-h200.json). Projection mode, stacked since but not measured on a
 * GPU, stays native until it is. Elsewhere `onnxruntime` (native.ts and, for projection mode,
 * native-projection.ts: MLAS kernels on every core) where it loads, `tfjs` otherwise.
 * TRACEBOOK_ENGINE=tfjs|onnxruntime forces one, failing loudly when the forced one cannot run.
 */
export async function tracinEngine(choice: EngineChoice = "auto", mode: TracinMode = "exact"): Promise<ResolvedEngine> {
  if (choice === "auto" && mode !== "projection" && !forcedEngine() && (await onGpu())) return { kind: "tfjs" };
  const native = await nativeUnlessTfjs("TracIn", choice);
  return native ? { kind: "onnxruntime", native } : { kind: "tfjs" };
}

/** The compute backend is webgpu on a hardware adapter (predicted, without loading TF.js). */
async function onGpu(): Promise<boolean> {
  if ((await computeBackendName()) !== "webgpu") return false;
  const probe = await probeWebgpu();
  return probe.ok && !probe.record.software;
}

/** The name recorded for results computed on TF.js: its backend, and the GPU where it runs on one. */
export function describeTfjs(): string {
  const adapter = backendAdapter();
  return `tfjs ${tf.getBackend()}${adapter && tf.getBackend() === "webgpu" ? ` on ${adapterName(adapter)}` : ""}`;
}

/**
 * A TracIn cell's source version: the compute backend and the engine TracIn runs on, so a
 * result computed by another engine (float32 rounding differs) is never taken for this one's.
 */
export async function attributionSource(): Promise<{ version: string; describe: string }> {
  const [backend, exact, projection] = await Promise.all([computeBackendName(), tracinEngine("auto", "exact"), tracinEngine("auto", "projection")]);
  const version = (e: ResolvedEngine) => (e.kind === "onnxruntime" ? e.native.version : "tfjs");
  // One engine for every mode (the version as before), or on a GPU one for projection mode too.
  const engines = version(exact) === version(projection) ? version(exact) : `${version(exact)}, projection ${version(projection)}`;
  return { version: `${backend}; ${engines}`, describe: "compute backend; TracIn engine" };
}

/** One engine name for logs, without running anything: what tracin() would use in `mode`. */
export async function engineName(choice: EngineChoice = "auto", mode: TracinMode = "exact"): Promise<string> {
  const e = await tracinEngine(choice, mode);
  return e.kind === "onnxruntime" ? e.native.provider : describeTfjs();
}

function graphModel(req: Pick<TracinRequest, "model" | "checkpoints" | "mode" | "projection" | "lossGradient">): GraphModel {
  const projection = req.mode === "projection" ? req.projection : undefined;
  if (req.mode === "projection" && !projection) throw new Error("projection mode needs a projection ({ dim, seed })");
  return { model: req.model, checkpoints: req.checkpoints, scope: scopeOf(req.mode), lossGradient: req.lossGradient ?? "summed", projection };
}

/** What a graph of this model computes, for the session cache: the scope, loss gradient and projection too. */
const graphKey = (m: GraphModel) => `${m.scope}|${m.lossGradient}|${m.projection ? `projection ${m.projection.dim}/${m.projection.seed}` : "factors"}|${idOf(m.model)}`;

/** The query side's graph of a model, built once per set of checkpoints: tracin() and nativeFeatures() share it. */
const queryGraphOf = (engine: NativeEngine, m: GraphModel) =>
  cached<QueryGraph>(m.checkpoints, `query|${graphKey(m)}`, () => (m.projection ? projectionQueryGraph(engine, m) : queryGraph(engine, m)));

/** tracin() on the native engine: the same streaming, shards and reductions, scores by native.ts (native-projection.ts in projection mode). */
export async function nativeTracin(engine: NativeEngine, req: TracinRequest): Promise<TracinResult> {
  const t0 = performance.now();
  const { ort } = engine;
  const m = graphModel(req);
  const size = req.shardSize ?? 2048;
  // A kept side serves a few questions at a time; a batch (receipts recomputed) streams as a cell
  // does. Projection mode computes its training side each time, as on TF.js.
  const kept = req.keep && !m.projection && req.queries.y.length <= KEPT_QUERIES ? await keptSide(engine, req, m, size) : null;
  // The query graph is the same for a kept side and a computed one; the score graph is not.
  const model = graphKey(m);
  const [query, score] = await Promise.all([
    queryGraphOf(engine, m),
    cached<Ort.InferenceSession>(req.checkpoints, `score|${model}|${req.train.groupSizes.join(",")}|${req.full ? 1 : 0}|${kept ? "kept" : "computed"}`,
      () => (m.projection ? projectionScoreGraph(engine, m, req.train.groupSizes, !!req.full) : scoreGraph(engine, m, req.train.groupSizes, !!req.full, kept?.layout))),
  ]);
  const C = req.model.spec.classes.length;
  const acc = new Accumulator(req);
  // A query block's x is fed to every shard's run; a shard's only to its own.
  const queryBuffer = new BatchBuffer(), shardBuffer = new BatchBuffer();
  const openBlock = async (qRows: number[]) => {
    const q = inputs(ort, req.queries, qRows, C, queryBuffer);
    const qOut = await query.session.run(q);
    const feeds: Record<string, Ort.Tensor> = Object.fromEntries(query.outputs.map((n) => [n, qOut[n]!]));
    // The Gram block's query side is the input itself (models whose first layer trains).
    if (score.inputNames.includes("q/x")) feeds["q/x"] = q.x;
    return feeds;
  };
  // With a kept side, the Gram block of the queries and the shard's inputs (models whose first layer trains).
  const needsGram = score.inputNames.includes("gram");
  await streamBlocks({ ...req, shardSize: size }, openBlock, async (qFeeds, q0, qRows, t0r, tRows) => {
    const n = tRows.length, k = Math.min(req.topK, n);
    const train = kept
      ? { ...kept.shards[t0r / size]!, ...(needsGram ? { gram: new ort.Tensor("float32", gramBlock(req.queries.x, qRows, req.train.x, t0r, n), [qRows.length, n]) } : {}) }
      : inputs(ort, req.train, tRows, C, shardBuffer);
    const feeds: Record<string, Ort.Tensor> = { ...qFeeds, ...train, k: new ort.Tensor("int64", BigInt64Array.of(BigInt(Math.max(1, k))), [1]) };
    req.train.groups.forEach((g, gi) => {
      // [rows, groups] one-hot: the group sums are one product with the scores.
      const groups = req.train.groupSizes[gi]!, h = new Float32Array(n * groups);
      for (let i = 0; i < n; i++) h[i * groups + g[t0r + i]!] = 1;
      feeds[`group${gi}`] = new ort.Tensor("float32", h, [n, groups]);
    });
    const out = await score.run(feeds);
    acc.absorb(q0, t0r, qRows.length, n, k, {
      best: out.best!.data as Float32Array, bestIndex: out.bestIndex!.data as BigInt64Array,
      worst: out.worst!.data as Float32Array, worstIndex: out.worstIndex!.data as BigInt64Array,
      sums: req.train.groupSizes.map((_, gi) => out[`sums${gi}`]!.data as Float32Array),
      scores: req.full ? (out.scores!.data as Float32Array) : undefined,
    });
  });
  return acc.result((performance.now() - t0) / 1000, kept ? `${engine.provider}, ${KEPT_NOTE}` : engine.provider);
}

/**
 * Projected gradient features ([rows, width] row-major) on the native engine: the query graph of
 * projection mode (native-projection.ts) run over shards, the graph tracin() scores queries with.
 */
export async function nativeFeatures(
  engine: NativeEngine, req: Pick<TracinRequest, "model" | "checkpoints" | "projection">, ex: { x: FeatureMatrix; y: Int32Array }, shard: number,
): Promise<{ width: number; data: Float32Array }> {
  const m = graphModel({ ...req, mode: "projection" });
  const graph = await queryGraphOf(engine, m);
  let width = 0, data = new Float32Array(0);
  await runShards(engine, graph.session, ex, req.model.spec.classes.length, shard, undefined, (s0, _, out) => {
    const f = out["q/f"]!;
    if (s0 === 0) {
      width = f.dims[1]!;
      data = new Float32Array(ex.y.length * width);
    }
    data.set(f.data as Float32Array, s0 * width);
  });
  return { width, data };
}

/** selfInfluence() on the native engine. */
export async function nativeSelfInfluence(engine: NativeEngine, req: SelfInfluenceRequest): Promise<Float64Array> {
  const m = graphModel(req);
  const self = await cached<Ort.InferenceSession>(req.checkpoints, `self|${graphKey(m)}`, () => (m.projection ? projectionSelfGraph(engine, m) : selfGraph(engine, m)));
  const out = new Float64Array(req.train.y.length);
  await runShards(engine, self, req.train, req.model.spec.classes.length, req.shardSize ?? 2048, req.signal, (s0, _, r) => {
    out.set(r.self!.data as Float32Array, s0);
  });
  return out;
}
