// The page's explainer (PortableExplainerEngine) in TypeScript against the page's GPU scorer
// (notebooks/runtime/gpu-scores.ts), in Node on Dawn: the same TF.js webgpu kernels a browser
// runs, where no browser with a GPU is at hand. Needs a GPU (or TRACEBOOK_BACKEND=webgpu with
// PAGE_BACKEND=webgpu on a software adapter) and an explainer a static build shipped:
//   npx tracebook build-notebooks --out site
//   TRACEBOOK_BACKEND=webgpu npx tsx bench/page-gpu.ts site/_tracebook/explain/mail.*.bin.gz
// INPUTS=40 (default) single questions, then 5 × INPUTS at once. Written to bench/results/page-gpu.json.
import fs from "node:fs";
import zlib from "node:zlib";
import { computeBackend } from "../cells/compute/backend.ts";
import { decodePortable } from "../cells/attribution/portable-file.ts";
import { PortableExplainerEngine, mergeParts } from "../cells/attribution/portable.ts";
import { gpuScorer } from "../notebooks/runtime/gpu-scores.ts";
import { median, runBench, writeBenchReport } from "./report.ts";

async function main() {
  const b = await computeBackend(); // TRACEBOOK_BACKEND=webgpu: installs navigator.gpu, starts TF.js webgpu
  console.log(b.name, b.provider);
  const p = decodePortable(zlib.gunzipSync(fs.readFileSync(process.argv[2]!)), process.argv[2]!);
  const { scorer, why } = await gpuScorer((process.env.PAGE_BACKEND as "webgpu" | "auto") ?? "auto");
  if (!scorer) throw new Error(`no GPU scorer: ${why}`);
  const K = Number(process.env.INPUTS ?? 40);
  const texts = p.train.texts.filter((t) => t.length > 20).slice(0, 5 * K);
  const cpu = new PortableExplainerEngine(p), gpu = new PortableExplainerEngine(p);
  let t0 = performance.now(); cpu.part([{ text: texts[0]! }]); const firstCpu = performance.now() - t0;
  t0 = performance.now(); await gpu.partWith(scorer, [{ text: texts[0]! }]); const firstGpu = performance.now() - t0;
  console.log(`${p.train.y.length} rows; first question (computes the training side): TypeScript ${firstCpu.toFixed(0)} ms, GPU ${firstGpu.toFixed(0)} ms`);
  const one = { cpu: [] as number[], gpu: [] as number[] };
  let worst = 0, sameTop = 0;
  for (const text of texts.slice(1, K + 1)) {
    t0 = performance.now(); const a = mergeParts([cpu.part([{ text }])]); one.cpu.push(performance.now() - t0);
    t0 = performance.now(); const g = mergeParts([await gpu.partWith(scorer, [{ text }])]); one.gpu.push(performance.now() - t0);
    const ea = a.explanations[0]!, eg = g.explanations[0]!;
    const scale = Math.max(...ea.proponents.map((c) => Math.abs(c.score)), ...ea.opponents.map((c) => Math.abs(c.score)));
    ea.proponents.forEach((c, i) => { const o = eg.proponents[i]; if (o) worst = Math.max(worst, Math.abs(o.score - c.score) / scale); });
    if (ea.proponents.map((c) => c.contribution).join() === eg.proponents.map((c) => c.contribution).join()) sameTop++;
  }
  console.log(`one input (median of ${K}): TypeScript ${median(one.cpu).toFixed(1)} ms, GPU ${median(one.gpu).toFixed(1)} ms; same top proponents in order ${sameTop}/${K}, largest score difference ${worst.toExponential(2)} of the largest`);
  const batch = texts.slice(0, 5 * K).map((text) => ({ text }));
  t0 = performance.now(); cpu.part(batch); const bc = performance.now() - t0;
  t0 = performance.now(); await gpu.partWith(scorer, batch); const bg = performance.now() - t0;
  console.log(`${batch.length} inputs at once: TypeScript ${bc.toFixed(0)} ms, GPU ${bg.toFixed(0)} ms`);
  await writeBenchReport("page-gpu", {
    benchmark: "page-gpu", explainer: process.argv[2], rows: p.train.y.length, backend: b.provider, scorer: scorer.name,
    first_question_ms: { typescript: Math.round(firstCpu), gpu: Math.round(firstGpu) },
    one_input_median_ms: { typescript: +median(one.cpu).toFixed(1), gpu: +median(one.gpu).toFixed(1), inputs: K },
    same_top_proponents: `${sameTop}/${K}`, largest_score_difference: worst,
    batch: { inputs: batch.length, typescript_ms: Math.round(bc), gpu_ms: Math.round(bg) },
  });
}

runBench(main);
