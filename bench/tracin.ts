// TracIn engine benchmark: influence pairs/s, self-influence examples/s, achieved GFLOP/s beside
// the backend's own matmul rate, peak memory, speedup over Captum's TracInCP on these machines,
// and how well self-influence finds flipped labels. Written to bench/results/tracin.json.
// One process, one backend (computeBackend(): TRACEBOOK_BACKEND, else the first that loads).
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { median, mib, round, runBench, timed, writeBenchReport } from "./report.ts";
import { computeBackend, tf } from "../cells/compute/backend.ts";
import { Rng } from "../cells/compute/random.ts";
import type { MlpSpec } from "../cells/factory/mlp.ts";
import { selfInfluence, tracin } from "../cells/attribution/tracin.ts";
import { asTracin, C, D, K, M, N, SEED, trainModel, type Rows } from "./tracin-case.ts";
import { load } from "./tracin-data.ts";
import type { TracinModel } from "../cells/attribution/factors.ts";
import { engineName } from "../cells/attribution/engine.ts";
import { GraphBuilder, nativeEngine, session, type EngineChoice } from "../cells/compute/onnx.ts";

const FLIP_SEED = 2024;    // which labels are flipped, and to what
const TOP_K = 10, REPEATS = 5, MIN_SECONDS = 1;
// The dense rate of these machines (numpy matmul on OpenBLAS), the yardstick of the limits below.
const DENSE_RATE = 140e9;
// Captum TracInCP measured on these machines, same setups (pairs/s, self-influence examples/s).
const CAPTUM: Record<number, { pairs: number; self: number }> = { 32: { pairs: 159_000, self: 1_650 }, 256: { pairs: 20_900, self: 231 } };
const TARGET = { influence: 100, self: 200 };
// Projection mode's width and seed, measured beside exact (each factor side wider than 64 projected).
const PROJECTION = { dim: 64, seed: 0 };
// Every engine that can run here, measured in the same process on the same data.
// TRACEBOOK_BENCH_ENGINES=onnxruntime (comma-separated) measures only those.
const ENGINES = (("error" in (await nativeEngine()) ? ["tfjs"] : ["tfjs", "onnxruntime"]) as EngineChoice[])
  .filter((e) => !process.env.TRACEBOOK_BENCH_ENGINES || process.env.TRACEBOOK_BENCH_ENGINES.split(",").includes(e));


/**
 * FLOPs of the algorithm for 784-H-10 (2 per multiply-add; matrix products only: bias adds,
 * relu, softmax and the elementwise Gram combination are O(width) per row or O(factors) per
 * pair and left out). One side (a training row or a query) per checkpoint costs the forward
 * 2(DH + HC) plus one backward product δ·W_headᵀ, 2CH: the first layer's δ needs no further
 * back-propagation, and no weight gradient is ever formed (factors.ts). Per pair, the Gram
 * products per checkpoint are head a·a′ (2H), head δ·δ′ (2C), dense_1 δ·δ′ (2H); the x·x′ Gram
 * of dense_1 (2D) is computed once, not per checkpoint. Self-influence needs, per row and
 * checkpoint, the side pass plus the squared norms of every factor side, 2(D + H + C + H).
 *
 * The limit is what a per-example-gradient method (Captum) cannot beat at the dense rate: a full
 * forward and backward of every example at every checkpoint, 6P FLOPs per example with P = DH + HC
 * (forward 2P, backward 4P: input and weight gradients).
 */
function flopModel(H: number) {
  const side = 2 * (D * H + H * C) + 2 * C * H;
  const P = D * H + H * C;
  return {
    side,
    influence: (N + M) * K * side + N * M * (2 * D + K * (2 * H + 2 * C + 2 * H)),
    self: N * K * (side + 2 * (D + H + C + H)),
    fullPerExample: 6 * P,
    selfLimit: DENSE_RATE / (6 * P * K),
    // The floor for self-influence: the forward pass alone of every example at every checkpoint.
    selfForwardLimit: DENSE_RATE / (2 * P * K),
    pairsLimit: (N * M * DENSE_RATE) / ((N + M) * 6 * P * K),
  };
}

// Peak RSS: sampled on a timer (it fires between shards, where the engine yields) and after every run.
let rssPeak = 0;
const sampleRss = () => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss));
/** One warm-up, then at least REPEATS timed runs and at least MIN_SECONDS of them, RSS sampled after each. */
const timedRuns = <T>(run: () => Promise<T>) => timed(run, { reps: REPEATS, minSeconds: MIN_SECONDS, after: sampleRss });

/**
 * The backend's own dense rate: 1024² matmuls, result read back, median of 7 after a warm-up.
 * Also the x·x′ Gram of this benchmark's shape ([N, D]·[M, D]ᵀ) as the engine calls it (transposeB)
 * and with the right side transposed beforehand: on wasm the two differ by an order of magnitude.
 */
async function matmulRates(): Promise<{ square: number; gramTransposeB: number; gramPretransposed: number }> {
  const n = 1024, a = tf.randomUniform([n, n]), b = tf.randomUniform([n, n]);
  const x = tf.randomUniform([N, D]), q = tf.randomUniform([M, D]), qt = tf.transpose(q);
  const gram = 2 * N * M * D;
  const out = {
    square: (2 * n ** 3) / (await timedMatmul(a, b, 7)) / 1e9,
    gramTransposeB: gram / (await timedMatmul(x, q, 5, true)) / 1e9,
    gramPretransposed: gram / (await timedMatmul(x, qt, 5)) / 1e9,
  };
  tf.dispose([a, b, x, q, qt]);
  return out;
}
/** The native engine's 1024² matmul rate, measured the same way (a one-node ONNX graph). */
async function nativeMatmulRate(): Promise<number | null> {
  const native = await nativeEngine();
  if ("error" in native) return null;
  const n = 1024, g = new GraphBuilder("matmul");
  g.op("MatMul", [g.input("a", [n, n]), g.input("b", [n, n])], {}, "c");
  g.output("c", [n, n]);
  const s = await session(native, g);
  const feeds = { a: new native.ort.Tensor("float32", Float32Array.from({ length: n * n }, Math.random), [n, n]), b: new native.ort.Tensor("float32", Float32Array.from({ length: n * n }, Math.random), [n, n]) };
  await s.run(feeds);
  const all: number[] = [];
  for (let i = 0; i < 7; i++) { const t0 = performance.now(); await s.run(feeds); all.push((performance.now() - t0) / 1000); }
  await s.release();
  return (2 * n ** 3) / median(all) / 1e9;
}

async function timedMatmul(a: tf.Tensor, b: tf.Tensor, reps: number, transposeB = false): Promise<number> {
  const once = async () => { const c = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, transposeB); await c.data(); c.dispose(); };
  await once();
  const all: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); await once(); all.push((performance.now() - t0) / 1000); }
  return median(all);
}

async function benchModel(H: number, classes: string[], tr: Rows, te: Rows, matmul: Record<string, number>) {
  const spec: MlpSpec = { inputSize: D, hidden: [H], classes };
  const name = `784-${H}-10`;
  const trained = await trainModel(spec, tr);
  const model: TracinModel = { spec, base: {}, lora: null };
  const checkpoints = asTracin(trained);
  const f = flopModel(H);
  const captum = CAPTUM[H]!;
  const engines: Record<string, unknown> = {};
  for (const engine of ENGINES) {
    const rssBefore = process.memoryUsage().rss, tfBefore = tf.memory();
    rssPeak = rssBefore;
    let provider = "";
    const inf = await timedRuns(async () => {
      provider = (await tracin({
        model, checkpoints, mode: "exact", topK: TOP_K, engine,
        train: { x: tr.x, y: tr.y, groups: [tr.groups], groupSizes: [tr.nGroups] }, queries: { x: te.x, y: te.y },
      })).engine;
    });
    const self = await timedRuns(() => selfInfluence({ model, checkpoints, mode: "exact", engine, train: { x: tr.x, y: tr.y } }));
    const projected = await timedRuns(() => tracin({
      model, checkpoints, mode: "projection", projection: PROJECTION, topK: TOP_K, engine,
      train: { x: tr.x, y: tr.y, groups: [tr.groups], groupSizes: [tr.nGroups] }, queries: { x: te.x, y: te.y },
    }));
    const mem = tf.memory();
    const pairsPerS = (N * M) / inf.median, exPerS = N / self.median;
    const out = {
      engine: provider,
      influence: {
        seconds_all: inf.all, seconds_median: round(inf.median, 4), pairs_per_second: Math.round(pairsPerS),
        gflop_per_second: round(f.influence / inf.median / 1e9, 2), captum_pairs_per_second: captum.pairs,
        speedup_vs_captum: round(pairsPerS / captum.pairs, 1), target_speedup: TARGET.influence, meets_target: pairsPerS / captum.pairs >= TARGET.influence,
        limit_pairs_per_second: Math.round(f.pairsLimit), fraction_of_limit: round(pairsPerS / f.pairsLimit, 4),
      },
      self_influence: {
        seconds_all: self.all, seconds_median: round(self.median, 4), examples_per_second: Math.round(exPerS),
        gflop_per_second: round(f.self / self.median / 1e9, 2), captum_examples_per_second: captum.self,
        speedup_vs_captum: round(exPerS / captum.self, 1), target_speedup: TARGET.self, meets_target: exPerS / captum.self >= TARGET.self,
        limit_examples_per_second: Math.round(f.selfLimit), fraction_of_limit: round(exPerS / f.selfLimit, 4),
        forward_limit_examples_per_second: Math.round(f.selfForwardLimit), fraction_of_forward_limit: round(exPerS / f.selfForwardLimit, 4),
      },
      projection: { ...PROJECTION, seconds_all: projected.all, seconds_median: round(projected.median, 4), pairs_per_second: Math.round((N * M) / projected.median) },
      engine_matmul_gflop_per_second: round(matmul[engine]!, 2),
      memory: { rss_before_mib: mib(rssBefore), rss_peak_mib: mib(rssPeak), tf_num_bytes_before: tfBefore.numBytes, tf_num_bytes_after: mem.numBytes, tf_num_tensors_before: tfBefore.numTensors, tf_num_tensors_after: mem.numTensors },
    };
    const i = out.influence, s = out.self_influence;
    const tag = `${name} ${engine.padEnd(11)}`;
    console.log(`${tag} influence      ${i.pairs_per_second} pairs/s (median ${i.seconds_median} s of ${i.seconds_all.length} runs), ${i.gflop_per_second} GFLOP/s vs matmul ${out.engine_matmul_gflop_per_second}, ${i.speedup_vs_captum}× Captum (target ${TARGET.influence}×), ${(i.fraction_of_limit * 100).toFixed(1)}% of limit ${i.limit_pairs_per_second}`);
    console.log(`${tag} self-influence ${s.examples_per_second} examples/s (median ${s.seconds_median} s of ${s.seconds_all.length} runs), ${s.gflop_per_second} GFLOP/s, ${s.speedup_vs_captum}× Captum (target ${TARGET.self}×), ${(s.fraction_of_limit * 100).toFixed(1)}% of limit ${s.limit_examples_per_second}, ${(s.fraction_of_forward_limit * 100).toFixed(1)}% of forward-only limit ${s.forward_limit_examples_per_second}`);
    console.log(`${tag} projection-${PROJECTION.dim}  ${out.projection.pairs_per_second} pairs/s (median ${out.projection.seconds_median} s of ${projected.all.length} runs)`);
    console.log(`${tag} memory         rss ${out.memory.rss_before_mib} → peak ${out.memory.rss_peak_mib} MiB, tf ${out.memory.tf_num_bytes_before} → ${out.memory.tf_num_bytes_after} bytes, ${out.memory.tf_num_tensors_before} → ${out.memory.tf_num_tensors_after} tensors (across ${inf.all.length + 1} tracin + ${self.all.length + 1} selfInfluence calls)`);
    engines[engine] = out;
  }
  return {
    model: name,
    train_accuracy_last_epoch: round(trained.metrics.at(-1)!.accuracy, 4),
    checkpoints: trained.checkpoints.map((c) => ({ index: c.index, step: c.step, epoch: c.epoch, learning_rate: c.learningRate })),
    flops: { per_side_per_checkpoint: f.side, influence_total: f.influence, self_influence_total: f.self, limit_per_example_fwd_bwd: f.fullPerExample },
    engines,
  };
}

/** Flip 10% of the training labels to another class, train 784-32-10, rank rows by self-influence. */
async function mislabel(classes: string[], tr: Rows) {
  const rng = new Rng(FLIP_SEED);
  const flipped = rng.shuffle(Array.from({ length: N }, (_, i) => i)).slice(0, N / 10).sort((a, b) => a - b);
  const y = tr.y.slice();
  // An offset in 1..C−1 always lands on a different class, uniformly over the other nine.
  for (const r of flipped) y[r] = (y[r]! + rng.int(1, C - 1)) % C;
  const spec: MlpSpec = { inputSize: D, hidden: [32], classes };
  const trained = await trainModel(spec, { ...tr, y });
  const scores = await selfInfluence({ model: { spec, base: {}, lora: null }, checkpoints: asTracin(trained), mode: "exact", train: { x: tr.x, y } });
  const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const isFlipped = new Set(flipped);
  const recall = Object.fromEntries([10, 20, 30].map((pct) => {
    const found = order.slice(0, (N * pct) / 100).filter((r) => isFlipped.has(r)).length;
    return [`top_${pct}pct`, { recall: round(found / flipped.length, 4), found, random_baseline: pct / 100 }];
  }));
  for (const [k, v] of Object.entries(recall)) console.log(`mislabel recall ${k.padEnd(10)} ${(v.recall * 100).toFixed(1)}% (${v.found}/${flipped.length}; random ${v.random_baseline * 100}%)`);
  return {
    setup: `784-32-10, ${N} training rows, ${flipped.length} labels flipped to a uniformly drawn other class, same training as above`,
    flip_seed: FLIP_SEED, train_accuracy_last_epoch: round(trained.metrics.at(-1)!.accuracy, 4), recall,
    flipped_rows: flipped.map((r) => ({ row: r, id: tr.ids[r], label: tr.y[r], flipped_to: y[r] })),
  };
}

async function main() {
  const backend = await computeBackend();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-tracin-"));
  const timer = setInterval(sampleRss, 10);
  timer.unref();
  try {
    const { classes, tr, te } = await load(home);
    const rates = await matmulRates(), matmul = rates.square;
    const nativeRate = await nativeMatmulRate();
    const rateOf: Record<string, number> = { tfjs: matmul, ...(nativeRate !== null ? { onnxruntime: nativeRate } : {}) };
    console.log(`backend ${backend.name} (${backend.provider}); matmul 1024² ${matmul.toFixed(2)} GFLOP/s; dense rate for limits ${DENSE_RATE / 1e9} GFLOP/s`);
    console.log(nativeRate !== null ? `native engine ${(await engineName("onnxruntime"))}: matmul 1024² ${nativeRate.toFixed(2)} GFLOP/s` : "native engine: not available");
    console.log(`backend Gram [${N},${D}]·[${M},${D}]ᵀ: ${rates.gramTransposeB.toFixed(2)} GFLOP/s with transposeB (as the engine calls it), ${rates.gramPretransposed.toFixed(2)} GFLOP/s pre-transposed`);
    const models = [];
    for (const H of [32, 256]) models.push(await benchModel(H, classes, tr, te, rateOf));
    const mis = await mislabel(classes, tr);
    await writeBenchReport("tracin", {
      benchmark: "tracin",
      setup: `digits, first ${N} training rows × first ${M} test rows (by id); MLPs 784-32-10 and 784-256-10 trained 5 epochs, batch 32, plain SGD lr 0.1, ${K} checkpoints (one per epoch); TracIn mode exact, top-${TOP_K}, groups = contributors (${tr.nGroups}); median of at least ${REPEATS} runs and ${MIN_SECONDS} s after one warm-up`,
      backend: { name: backend.name, tf_backend: backend.tfBackend, provider: backend.provider, skipped: backend.skipped },
      seeds: { train: SEED, flip: FLIP_SEED },
      dense_rate_gflop_per_second: DENSE_RATE / 1e9,
      dense_rate_source: "numpy/OpenBLAS matmul on these machines; limit = full forward (2P) + backward (4P) of every example at every checkpoint at this rate, P = DH + HC",
      captum_reference: { "784-32-10": CAPTUM[32], "784-256-10": CAPTUM[256], source: "Captum TracInCP on these machines" },
      targets: { influence_speedup: TARGET.influence, self_influence_speedup: TARGET.self },
      flop_model: "side = 2(DH+HC) + 2CH per row per checkpoint; influence = (N+M)·K·side + N·M·(2D + K·(4H+2C)); self = N·K·(side + 2(D+2H+C)); matrix products only",
      engines: ENGINES,
      default_engine: await engineName(),
      backend_matmul_gflop_per_second: round(matmul, 2),
      native_matmul_gflop_per_second: nativeRate === null ? null : round(nativeRate, 2),
      backend_gram_gflop_per_second: { transpose_b: round(rates.gramTransposeB, 2), pretransposed: round(rates.gramPretransposed, 2), shape: `[${N},${D}]·[${M},${D}]ᵀ` },
      results: models,
      mislabel: mis,
    });
  } finally {
    clearInterval(timer);
    fs.rmSync(home, { recursive: true, force: true });
  }
}

runBench(main);
