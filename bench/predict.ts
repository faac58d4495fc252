// What a prediction costs on real mail, on each engine: the mail adapter (8,192 hashed inputs,
// LoRA over a 128-64 base) serving 20,000 real messages as `tracebook infer --from` does (one
// ModelServer, the inputs featurized once before timing, as the featurizer caches them), then
// one message at a time (a page's or a single `infer`'s latency). TF.js (the compute backend)
// against the native engine (onnxruntime's MLAS), in the same process, with how far their
// probabilities differ and whether any label does. Written to bench/results/predict.json.
//
//   npx tsx bench/predict.ts [--from <workspace dir where the mail pipeline ran>] [--rows 20000]
import fs from "node:fs";
import { argument, mailWorkspace } from "./mail.ts";
import { median, runBench, secondsSince, writeBenchReport } from "./report.ts";
import { computeBackend } from "../cells/compute/backend.ts";
import { nativeEngine } from "../cells/compute/onnx.ts";
import { ModelServer, type Prediction } from "../cells/factory/serve.ts";
import { resolveModel } from "../cells/factory/catalog.ts";
import { loadPipelineIn } from "../cells/graph/loader.ts";

const ROWS = Number(argument("--rows") ?? 20_000);
const ONE_BY_ONE = 20;

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-predict-");
  try {
    const backend = await computeBackend();
    const native = await nativeEngine();
    const { pipeline } = await loadPipelineIn(ws, "mail");
    const model = await resolveModel(ws, "model", { pipeline });
    const messages = await ws.rows<{ title: string; text: string }>("select coalesce(title, '') as title, coalesce(text, '') as text from contributions where datanet = 'mail-spam' order by id");
    const inputs = Array.from({ length: ROWS }, (_, i) => messages[i % messages.length]!);
    const engines = "error" in native ? ["tfjs"] : ["tfjs", "onnxruntime"];
    const before = process.env.TRACEBOOK_ENGINE;
    const results: Record<string, unknown> = { rows: ROWS, model: model.id.slice(0, 12) };
    const answers: Record<string, Prediction[]> = {};
    for (const engine of engines) {
      process.env.TRACEBOOK_ENGINE = engine;
      const server = new ModelServer(ws.home);
      await server.infer(model.id, inputs); // featurizes every input once (cached) and builds the session
      let t0 = performance.now();
      answers[engine] = await server.infer(model.id, inputs);
      const seconds = secondsSince(t0);
      const one: number[] = [];
      for (let i = 0; i < ONE_BY_ONE; i++) {
        t0 = performance.now();
        await server.infer(model.id, [inputs[i]!]);
        one.push(performance.now() - t0);
      }
      server.dispose();
      results[engine] = {
        seconds, predictions_per_second: Math.round(ROWS / seconds),
        one_input_ms: { median: +median(one).toFixed(1), inputs: ONE_BY_ONE },
        engine: engine === "tfjs" ? `tfjs ${backend.name}` : "error" in native ? null : native.provider,
      };
      console.log(engine, JSON.stringify(results[engine]));
    }
    if (before === undefined) delete process.env.TRACEBOOK_ENGINE;
    else process.env.TRACEBOOK_ENGINE = before;
    if (answers.onnxruntime) {
      const a = answers.tfjs!, b = answers.onnxruntime;
      let largest = 0, labels = 0;
      a.forEach((p, i) => {
        if (p.label !== b[i]!.label) labels++;
        p.probabilities.forEach((v, c) => (largest = Math.max(largest, Math.abs(v - b[i]!.probabilities[c]!))));
      });
      results.agreement = { labels_differing: labels, largest_probability_difference: +largest.toExponential(2) };
      results.speedup = +((results.tfjs as { seconds: number }).seconds / (results.onnxruntime as { seconds: number }).seconds).toFixed(1);
    }
    results.peak_rss_mib = Math.round(process.resourceUsage().maxRSS / 1024);
    console.log(JSON.stringify(results, null, 2));
    await writeBenchReport("predict", {
      benchmark: "predict",
      setup: `the mail adapter serving ${ROWS} real messages (featurized before timing) in one call, then ${ONE_BY_ONE} one at a time, on each engine`,
      backend,
      results,
    });
  } finally {
    ws.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
