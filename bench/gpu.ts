// GPU benchmark: TF.js on WebGPU (Dawn) beside this machine's CPU paths, in one run.
//
// One backend per process (TF.js picks one per process), so this script runs itself once per
// backend (--backend NAME) and merges what the children wrote:
//   - matmul TFLOP/s of float32 squares (1024-8192 on a GPU; the CPU path stops where its rate is
//     already clear, an 8192² product there would take minutes);
//   - what a backend pays besides arithmetic: a one-element read back, and per queued dispatch;
//   - exact TracIn pairs/s and self-influence examples/s on the TracIn issue's benchmark case
//     (bench/tracin-case.ts), every backend scoring the same checkpoints (bench/gpu-case.ts),
//     and on its rows repeated ten times; on the CPU backend also with the native engine
//     (onnxruntime), the default engine there;
//   - projection-mode TracIn (dim 64) pairs/s, and one question at a time against a training side
//     kept between questions (an explainer's; the first question computes it);
//   - training examples/s of the case's 784-256-10 model;
//   - agreement: the TracIn test cases' scores and the benchmark case's, webgpu against wasm, to
//     1e-4 relative (bench/gpu-cases.ts), and each backend against brute force.
// Written to bench/results/gpu-<adapter>.json (gpu.json when no GPU adapter was found).
// Needs the case file: `tsx bench/gpu-case-build.ts` (npm run bench:gpu builds it first).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { round, runBench, timed, writeBenchReport } from "./report.ts";
import { computeBackend, tf, type ComputeBackend } from "../cells/compute/backend.ts";
import { adapterName } from "../cells/compute/webgpu.ts";
import { selfInfluence, tracin, type TracinCheckpoint, type TracinRequest } from "../cells/attribution/tracin.ts";
import { KeptTrainSide } from "../cells/attribution/kept.ts";
import { engineName } from "../cells/attribution/engine.ts";
import { nativeEngine, type EngineChoice } from "../cells/compute/onnx.ts";
import type { TracinModel } from "../cells/attribution/factors.ts";
import { C, D, K, M, N, trainModel, type Rows } from "./tracin-case.ts";
import { denseMatrix, type FeatureMatrix } from "../cells/factory/featurize.ts";
import { gpuCaseFile, readGpuCase } from "./gpu-case.ts";
import { runTracinCases } from "./gpu-cases.ts";
import { maxRelError } from "../test/helpers/brute-tracin.ts";

const TOP_K = 10;
/** The backends measured, GPU first; TRACEBOOK_GPU_BENCH_BACKENDS=webgpu,wasm (comma-separated) picks. */
const BACKENDS = (process.env.TRACEBOOK_GPU_BENCH_BACKENDS ?? "webgpu,wasm").split(",").map((s) => s.trim()).filter(Boolean);
// TRACEBOOK_GPU_BENCH_SIZES=256,512 shrinks both (a software adapter takes hours over 8192²).
const sizes = (fallback: number[]) => process.env.TRACEBOOK_GPU_BENCH_SIZES?.split(",").map(Number) ?? fallback;
const GPU_SIZES = sizes([1024, 2048, 4096, 8192]);
const CPU_SIZES = sizes([1024, 2048, 4096]);
/** The agreement the issue asks of webgpu against wasm, relative to the largest score. */
const AGREE = 1e-4;
/** The targets of the GPU issue: matmul rate on an H100-class GPU, exact TracIn against the CPU path. */
const TARGET = { matmulTflops: 10, tracinSpeedup: 20 };

/**
 * A float32 square product's rate, synchronised by reading back one element of it (a GPU
 * queue runs in order, so that element is ready only when the product is), not the whole
 * result: a 8192² read back over PCIe would time the bus, not the arithmetic.
 */
async function matmulRate(n: number, reps: number) {
  const a = tf.randomUniform([n, n], -1, 1, "float32", 1), b = tf.randomUniform([n, n], -1, 1, "float32", 2);
  const t = await timed(async () => {
    const c = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
    const corner = c.slice([n - 1, n - 1], [1, 1]);
    await corner.data();
    tf.dispose([c, corner]);
  }, { reps, digits: 5 });
  tf.dispose([a, b]);
  const rate = (2 * n ** 3) / t.median;
  return { n, seconds_all: t.all, seconds_median: round(t.median, 5), tflop_per_second: round(rate / 1e12, 3), gflop_per_second: round(rate / 1e9, 2) };
}

/**
 * What a GPU backend pays besides arithmetic: the round trip of a one-element read (submit,
 * wait, map), and per dispatch of a tiny op when 200 are queued before one read.
 */
async function overheads() {
  const x = tf.scalar(1);
  const sync = await timed(async () => { const y = tf.add(x, 1); await y.data(); y.dispose(); }, { reps: 20, digits: 5 });
  const chain = await timed(async () => {
    let y = tf.add(x, 0);
    for (let i = 0; i < 200; i++) { const z = tf.add(y, 1); y.dispose(); y = z; }
    await y.data();
    y.dispose();
  }, { reps: 5, digits: 5 });
  x.dispose();
  return { read_round_trip_ms: round(sync.median * 1000, 3), per_dispatch_us: round(((chain.median - sync.median) / 200) * 1e6, 1) };
}

/** Training the case's 784-256-10 model (5 epochs of 2000 rows, batch 32) on this backend: examples/s. */
async function trainRate(bench: Awaited<ReturnType<typeof readGpuCase>>) {
  const t0 = performance.now();
  const r = await trainModel({ inputSize: D, hidden: [256], classes: bench.classes }, bench.tr);
  const seconds = (performance.now() - t0) / 1000;
  return { model: `784-256-${C}`, epochs: 5, batch_size: 32, seconds: round(seconds, 2), examples_per_second: Math.round((5 * N) / seconds), train_accuracy_last_epoch: round(r.metrics.at(-1)!.accuracy, 4) };
}

/** Projection mode as bench/tracin.ts measures it. */
const PROJECTION = { dim: 64, seed: 0 };

/**
 * What an explainer pays per question (cells/attribution/kept.ts): one query at a time against a
 * training side kept between questions; the first question computes and keeps it.
 */
async function keptQuestions(model: TracinModel, checkpoints: TracinCheckpoint[], engine: EngineChoice, train: TracinRequest["train"], te: Rows) {
  const keep = new KeptTrainSide();
  let j = 0;
  const ask = () => {
    const r = j++ % te.y.length;
    return tracin({ model, checkpoints, mode: "exact", topK: TOP_K, engine, keep, train, queries: { x: denseMatrix(te.x.view!(r, r + 1), 1, D), y: te.y.subarray(r, r + 1) } });
  };
  const t0 = performance.now();
  const first = await ask();
  const firstMs = performance.now() - t0;
  const next = await timed(ask, { reps: 20, digits: 5 });
  return { first_ms: round(firstMs, 2), kept_ms_median: round(next.median * 1000, 2), engine: first.engine, kept_bytes: await keep.bytes() };
}

/** The case's 784-H-10 MLP, every layer trainable. */
const mlp = (hidden: number, classes: string[]): TracinModel => ({ spec: { inputSize: D, hidden: [hidden], classes }, base: {}, lora: null });

/** The case's rows repeated SCALE times: the same model at ten times the training rows (throughput only). */
const SCALE = 10;
function tiled(x: FeatureMatrix, times: number): FeatureMatrix {
  const one = x.view!(0, x.rows);
  const all = new Float32Array(one.length * times);
  for (let t = 0; t < times; t++) all.set(one, t * one.length);
  return denseMatrix(all, x.rows * times, x.dims);
}

interface ChildReport {
  backend: { name: string; tf_backend: string; provider: string; skipped: ComputeBackend["skipped"]; adapter: ComputeBackend["adapter"] | null };
  matmul: Awaited<ReturnType<typeof matmulRate>>[];
  tracin: Record<string, Record<string, unknown>>;
  scaled: Record<string, unknown>;
  training: Awaited<ReturnType<typeof trainRate>>;
  overheads: Awaited<ReturnType<typeof overheads>>;
  cases: string[];
  /** How the case's checkpoints were made (read from the case file the child loaded). */
  case_trained_on: string;
  /** The engine a TracIn cell picks on this backend when none is forced. */
  default_engine: string;
  seconds: number;
}

/** The child: one backend, every measurement, scores written beside its report for the parent to compare. */
async function child(name: string, outDir: string) {
  const t0 = performance.now();
  const backend = await computeBackend();
  if (backend.name !== name) throw new Error(`asked for ${name}, started ${backend.name}`);
  const gpu = name === "webgpu" || name === "tensorflow-gpu";
  console.log(`[${name}] ${backend.provider}`);
  const matmul = [];
  for (const n of gpu ? GPU_SIZES : CPU_SIZES) {
    matmul.push(await matmulRate(n, gpu ? 10 : n > 1024 ? 2 : 5));
    console.log(`[${name}] matmul ${n}² ${matmul.at(-1)!.gflop_per_second} GFLOP/s (median ${matmul.at(-1)!.seconds_median} s)`);
  }
  const over = await overheads();
  console.log(`[${name}] read round trip ${over.read_round_trip_ms} ms, ${over.per_dispatch_us} µs per queued dispatch`);
  const save = (file: string, a: Float64Array) => fs.writeFileSync(path.join(outDir, file), new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

  const cases: string[] = [];
  const flat = (rows: Float64Array[]) => {
    const out = new Float64Array(rows.length * (rows[0]?.length ?? 0));
    rows.forEach((row, i) => out.set(row, i * row.length));
    return out;
  };
  for (const [caseName, c] of Object.entries(await runTracinCases(!gpu))) {
    cases.push(caseName);
    save(`case-${caseName}.S.f64`, flat(c.S));
    save(`case-${caseName}.self.f64`, c.self);
    if (c.brute) {
      save(`brute-${caseName}.S.f64`, flat(c.brute.S));
      if (c.brute.self) save(`brute-${caseName}.self.f64`, c.brute.self);
    }
  }
  console.log(`[${name}] TracIn test cases scored: ${cases.join(", ")}`);

  const bench = await readGpuCase();
  const engines: EngineChoice[] = gpu ? ["tfjs"] : ["error" in (await nativeEngine()) ? [] : ["onnxruntime" as const], "tfjs" as const].flat();
  const out: ChildReport["tracin"] = {};
  for (const m of bench.models) {
    const model = mlp(m.hidden, bench.classes);
    const label = `784-${m.hidden}-${C}`;
    out[label] = {};
    for (const engine of engines) {
      const train = { x: bench.tr.x, y: bench.tr.y, groups: [bench.tr.groups], groupSizes: [bench.tr.nGroups] };
      let provider = "";
      const inf = await timed(async () => {
        provider = (await tracin({ model, checkpoints: m.checkpoints, mode: "exact", topK: TOP_K, engine, train, queries: { x: bench.te.x, y: bench.te.y } })).engine;
      }, { reps: 3, digits: 5 });
      const self = await timed(() => selfInfluence({ model, checkpoints: m.checkpoints, mode: "exact", engine, train: { x: bench.tr.x, y: bench.tr.y } }), { reps: 3, digits: 5 });
      // The scores themselves, row by row, for the agreement check (one group per training row).
      const perRow = await tracin({
        model, checkpoints: m.checkpoints, mode: "exact", topK: 1, engine, queries: { x: bench.te.x, y: bench.te.y },
        train: { x: bench.tr.x, y: bench.tr.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
      });
      save(`bench-${label}-${engine}.S.f64`, Float64Array.from(perRow.groupSums[0]!));
      save(`bench-${label}-${engine}.self.f64`, Float64Array.from(self.last)); // the timed runs' own scores
      const projected = await timed(() => tracin({ model, checkpoints: m.checkpoints, mode: "projection", projection: PROJECTION, topK: TOP_K, engine, train, queries: { x: bench.te.x, y: bench.te.y } }), { reps: 3, digits: 5 });
      const kept = await keptQuestions(model, m.checkpoints, engine, train, bench.te);
      out[label]![engine] = {
        engine: provider,
        influence: { seconds_all: inf.all, seconds_median: round(inf.median, 4), pairs_per_second: Math.round((N * M) / inf.median) },
        self_influence: { seconds_all: self.all, seconds_median: round(self.median, 4), examples_per_second: Math.round(N / self.median) },
        projection: { ...PROJECTION, seconds_all: projected.all, seconds_median: round(projected.median, 4), pairs_per_second: Math.round((N * M) / projected.median) },
        kept_question: kept,
      };
      console.log(`[${name}] ${label} ${engine}: ${Math.round((N * M) / inf.median)} pairs/s, ${Math.round(N / self.median)} self-influence examples/s, projection-${PROJECTION.dim} ${Math.round((N * M) / projected.median)} pairs/s, one question ${kept.first_ms} ms then ${kept.kept_ms_median} ms kept (${provider})`);
    }
  }
  // Ten times the training rows on the larger model, one timed run after a warm-up.
  const big = bench.models.find((m) => m.hidden === 256)!;
  const bigModel = mlp(256, bench.classes);
  const X = tiled(bench.tr.x, SCALE), Y = Int32Array.from({ length: N * SCALE }, (_, i) => bench.tr.y[i % N]!);
  const G = Int32Array.from({ length: N * SCALE }, (_, i) => bench.tr.groups[i % N]!);
  const scaled: ChildReport["scaled"] = { train_rows: N * SCALE, queries: M, model: `784-256-${C}` };
  for (const engine of engines) {
    const inf = await timed(() => tracin({ model: bigModel, checkpoints: big.checkpoints, mode: "exact", topK: TOP_K, engine, train: { x: X, y: Y, groups: [G], groupSizes: [bench.tr.nGroups] }, queries: { x: bench.te.x, y: bench.te.y } }), { reps: 1, digits: 5 });
    const self = await timed(() => selfInfluence({ model: bigModel, checkpoints: big.checkpoints, mode: "exact", engine, train: { x: X, y: Y } }), { reps: 1, digits: 5 });
    scaled[engine] = { influence_seconds: round(inf.median, 4), pairs_per_second: Math.round((N * SCALE * M) / inf.median), self_seconds: round(self.median, 4), self_examples_per_second: Math.round((N * SCALE) / self.median) };
    console.log(`[${name}] ×${SCALE} rows 784-256-${C} ${engine}: ${Math.round((N * SCALE * M) / inf.median)} pairs/s, ${Math.round((N * SCALE) / self.median)} self-influence examples/s`);
  }
  const training = await trainRate(bench);
  console.log(`[${name}] training 784-256-${C}: ${training.examples_per_second} examples/s (${training.seconds} s for 5 epochs)`);
  const report: ChildReport = {
    backend: { name: backend.name, tf_backend: backend.tfBackend, provider: backend.provider, skipped: backend.skipped, adapter: backend.adapter ?? null },
    matmul, tracin: out, scaled, training, overheads: over, cases, case_trained_on: bench.trainedOn, default_engine: await engineName(), seconds: round((performance.now() - t0) / 1000, 1),
  };
  fs.writeFileSync(path.join(outDir, "report.json"), JSON.stringify(report));
}

const readF64 = (file: string) => {
  const b = fs.readFileSync(file);
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
};

/**
 * Each score file of `a` against the same file of `b` (`rename` maps a's name to b's): the
 * largest difference over the largest score.
 */
function agreement(a: string, b: string, prefix: string, rename = (f: string) => f): Record<string, number> {
  const out: Record<string, number> = {};
  for (const file of fs.readdirSync(a).filter((f) => f.startsWith(prefix) && f.endsWith(".f64")).sort()) {
    const other = path.join(b, rename(file));
    if (!fs.existsSync(other)) continue;
    out[file.replace(/\.f64$/, "")] = maxRelError([readF64(path.join(a, file))], [readF64(other)]);
  }
  return out;
}
const worstOf = (errors: Record<string, number>) => Math.max(...Object.values(errors));

async function parent() {
  const caseFile = gpuCaseFile();
  if (!fs.existsSync(caseFile)) throw new Error(`${caseFile} is missing: build it with \`tsx bench/gpu-case-build.ts\` (npm run bench:gpu does)`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-gpu-"));
  const script = fileURLToPath(import.meta.url);
  const children: Record<string, ChildReport | { error: string }> = {};
  try {
    for (const name of BACKENDS) {
      const dir = path.join(work, name);
      fs.mkdirSync(dir);
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [...process.execArgv, script, "--backend", name, "--out", dir], {
        env: { ...process.env, TRACEBOOK_BACKEND: name }, stdio: ["ignore", "inherit", "pipe"], encoding: "utf8", maxBuffer: 64 * 2 ** 20,
      });
      process.stderr.write(r.stderr ?? "");
      const report = path.join(dir, "report.json");
      children[name] = fs.existsSync(report)
        ? (JSON.parse(fs.readFileSync(report, "utf8")) as ChildReport)
        : { error: (r.stderr ?? "").split("\n").find((l) => l.startsWith("Error: "))?.slice(7) ?? `exit ${r.status}` };
      console.log(`[${name}] ${"error" in children[name]! ? `could not run: ${(children[name] as { error: string }).error}` : "done"} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const ok = Object.fromEntries(Object.entries(children).filter((e): e is [string, ChildReport] => !("error" in e[1])));
    const gpuName = Object.keys(ok).find((n) => n === "webgpu" || n === "tensorflow-gpu");
    const adapter = gpuName ? ok[gpuName]!.backend.adapter : null;
    const cpuName = Object.keys(ok).find((n) => n === "wasm" || n === "cpu");

    // webgpu against wasm, score file by score file (the same engine on both: tfjs); every
    // backend's test-case scores against the brute-force reference (computed on the CPU backend);
    // the GPU's speedups over each CPU path.
    let agree: Record<string, unknown> | null = null;
    const brute: Record<string, unknown> = {}, speedups: Record<string, unknown> = {};
    if (cpuName) {
      for (const name of Object.keys(ok)) {
        const errors = agreement(path.join(work, name), path.join(work, cpuName), "case-", (f) => f.replace(/^case-/, "brute-"));
        brute[name] = { max_rel_error: errors, worst: worstOf(errors) };
        console.log(`${name} vs brute force: worst ${worstOf(errors).toExponential(2)} over ${Object.keys(errors).length} score sets`);
      }
    }
    if (gpuName && cpuName) {
      const [g, c] = [ok[gpuName]!, ok[cpuName]!];
      const errors = { ...agreement(path.join(work, gpuName), path.join(work, cpuName), "case-"), ...agreement(path.join(work, gpuName), path.join(work, cpuName), "bench-") };
      const worst = worstOf(errors);
      agree = { of: `${gpuName} against ${cpuName}, same engine (tfjs), same checkpoints`, tolerance: AGREE, max_rel_error: errors, worst, within_tolerance: worst <= AGREE };
      console.log(`agreement ${gpuName} vs ${cpuName}: worst ${worst.toExponential(2)} (tolerance ${AGREE}) over ${Object.keys(errors).length} score sets`);
      type Rates = { influence: { pairs_per_second: number }; self_influence: { examples_per_second: number }; projection: { pairs_per_second: number }; kept_question: { kept_ms_median: number } };
      for (const [model, byEngine] of Object.entries(g.tracin)) {
        const gr = byEngine.tfjs as Rates;
        speedups[model] = Object.fromEntries(Object.entries(c.tracin[model] ?? {}).map(([engine, r]) => {
          const cr = r as Rates;
          const influence = round(gr.influence.pairs_per_second / cr.influence.pairs_per_second, 2);
          return [`vs ${cpuName} ${engine}`, {
            influence, self_influence: round(gr.self_influence.examples_per_second / cr.self_influence.examples_per_second, 2),
            projection: round(gr.projection.pairs_per_second / cr.projection.pairs_per_second, 2),
            kept_question: round(cr.kept_question.kept_ms_median / gr.kept_question.kept_ms_median, 2),
            meets_target: influence >= TARGET.tracinSpeedup,
          }];
        }));
      }
      type Scaled = { pairs_per_second: number; self_examples_per_second: number };
      const gs = g.scaled.tfjs as Scaled | undefined;
      if (gs) {
        speedups[`${g.scaled.model} ×${SCALE} rows`] = Object.fromEntries(Object.entries(c.scaled).filter(([, v]) => typeof v === "object").map(([engine, v]) => {
          const cs = v as Scaled;
          return [`vs ${cpuName} ${engine}`, { influence: round(gs.pairs_per_second / cs.pairs_per_second, 2), self_influence: round(gs.self_examples_per_second / cs.self_examples_per_second, 2) }];
        }));
      }
      speedups.training = round(g.training.examples_per_second / c.training.examples_per_second, 2);
    }
    const peak = gpuName ? Math.max(...ok[gpuName]!.matmul.map((m) => m.tflop_per_second)) : null;
    const gpuLabel = adapter ? adapterName(adapter) : null;
    const slug = adapter ? (adapter.device || adapter.description || adapter.vendor || "unnamed").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60) : null;
    await writeBenchReport(slug ? `gpu-${slug}` : "gpu", {
      benchmark: "gpu",
      gpu: gpuLabel,
      setup: `float32 square matmuls (${GPU_SIZES.join(", ")} on the GPU; ${CPU_SIZES.join(", ")} on the CPU path), synchronised by reading back one element, median of 10 (GPU) or 2-5 (CPU) after a warm-up; exact TracIn on the digits benchmark case (${N} training rows × ${M} queries, 784-H-10, ${K} checkpoints, top-${TOP_K}, groups = contributors), every backend scoring the same checkpoints (${path.basename(caseFile)}), median of 3 after a warm-up`,
      case_trained_on: Object.values(ok)[0]?.case_trained_on ?? null,
      backends: children,
      speedups,
      targets: { matmul_tflop_per_second: TARGET.matmulTflops, tracin_speedup_vs_cpu: TARGET.tracinSpeedup },
      matmul_peak_tflop_per_second: peak,
      matmul_meets_target: peak === null ? null : peak >= TARGET.matmulTflops,
      agreement: agree,
      against_brute_force: brute,
    });
    if (agree && !agree.within_tolerance) process.exitCode = 1;
    if (Object.values(children).some((c) => "error" in c) && process.env.TRACEBOOK_GPU_BENCH_BACKENDS) process.exitCode = 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const at = process.argv.indexOf("--backend");
if (at >= 0) {
  const out = process.argv[process.argv.indexOf("--out") + 1]!;
  runBench(() => child(process.argv[at + 1]!, out));
} else {
  runBench(parent);
}
