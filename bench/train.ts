// `npm run bench` (second part): training examples/s per compute backend, on the real corpora.
// Each backend runs in its own process (a process chooses its backend once). Written to
// bench/results/train.json. The pure-JS cpu backend is ~60× slower than wasm, so it trains on
// a smaller sample; examples/s stays comparable.
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runBench, writeBenchReport } from "./report.ts";


interface Measure { backend: string; provider: string; task: string; phase: "base" | "adapter"; examples: number; epochs: number; seconds: number; examples_per_second: number }

async function child(home: string): Promise<Measure[]> {
  const { computeBackend } = await import("../cells/compute/backend.ts");
  const { openWorkspace } = await import("../cells/store/workspace.ts");
  const { featurize, hashedNgrams, rawFeatures } = await import("../cells/factory/featurize.ts");
  const { initAdapter, initBase, toTensors } = await import("../cells/factory/mlp.ts");
  const { train } = await import("../cells/factory/train.ts");
  const b = await computeBackend();
  const ws = await openWorkspace({ home });
  const sample = b.name === "cpu" ? 256 : 100_000;
  const tasks = [
    { task: "mail", datanet: "mail-spam", featurizer: hashedNgrams({ dims: 8192 }), hidden: [128, 64], rank: 8 },
    { task: "digits", datanet: "digits", featurizer: rawFeatures(784), hidden: [256, 128], rank: 32 },
  ];
  const out: Measure[] = [];
  for (const t of tasks) {
    const rows = await ws.rows<{ title: string; text: string; features: number[]; label: string }>(
      "select title, text, features, label from contributions where datanet = ? and split = 'train' order by id limit ?", [t.datanet, sample]);
    const classes = [...new Set(rows.map((r) => r.label))].sort();
    const data = { x: featurize(t.featurizer, rows), y: Int32Array.from(rows, (r) => classes.indexOf(r.label)) };
    const spec = { inputSize: data.x.dims, hidden: t.hidden, classes };
    const config = { epochs: 1, batchSize: 32, optimizer: { name: "adam" as const }, schedule: { kind: "constant" as const, lr: 1e-3 }, checkpoints: 1, seed: 7 };
    const base = await train({ spec, trainable: initBase(spec, 7), train: data, config });
    const lora = { rank: t.rank, alpha: 2 * t.rank, targets: ["dense_1", "dense_2"] };
    const adapter = await train({ spec, trainable: initAdapter(spec, lora, base.weights, 7), frozen: { weights: toTensors(base.weights), lora }, train: data, config });
    for (const [phase, r] of [["base", base], ["adapter", adapter]] as const) {
      out.push({ backend: b.name, provider: b.provider, task: t.task, phase, examples: rows.length, epochs: 1, seconds: +r.seconds.toFixed(3), examples_per_second: Math.round(r.examplesPerSecond) });
    }
  }
  ws.close();
  return out;
}

async function main() {
  const [mode, , childHome] = process.argv.slice(2);
  if (mode === "--child") {
    console.log(JSON.stringify(await child(childHome!)));
    return;
  }
  // One workspace with both corpora, imported once.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-train-"));
  const { openWorkspace } = await import("../cells/store/workspace.ts");
  const { corpora } = await import("../datasets/index.ts");
  const { importCorpus } = await import("../datasets/import.ts");
  const ws = await openWorkspace({ home });
  for (const c of corpora.values()) await importCorpus(ws, c);
  ws.close();
  const results: Measure[] = [];
  const skipped: { backend: string; why: string }[] = [];
  for (const name of ["tensorflow-gpu", "tensorflow", "wasm", "cpu"]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--child", name, home], {
      encoding: "utf8", env: { ...process.env, TRACEBOOK_BACKEND: name }, maxBuffer: 1 << 24,
    });
    const last = r.stdout.trim().split("\n").at(-1) ?? "";
    if (r.status === 0 && last.startsWith("[")) {
      const m = JSON.parse(last) as Measure[];
      results.push(...m);
      for (const x of m) console.log(`${x.backend.padEnd(14)} ${x.task.padEnd(7)} ${x.phase.padEnd(8)} ${String(x.examples_per_second).padStart(7)} examples/s (${x.examples} examples, ${x.seconds} s)`);
    } else {
      const why = (r.stderr.match(/cannot be used: [^\n]*/)?.[0] ?? r.stderr.trim().split("\n").at(-1) ?? `exit ${r.status}`).slice(0, 200);
      skipped.push({ backend: name, why });
      console.log(`${name.padEnd(14)} skipped: ${why}`);
    }
  }
  fs.rmSync(home, { recursive: true, force: true });
  await writeBenchReport("train", {
    benchmark: "training-throughput",
    setup: "1 epoch, batch 32, Adam; mail 8192→128→64→2 (LoRA r8), digits 784→256→128→10 (LoRA r32); cpu on the first 256 training rows",
    results, skipped,
  });
}

runBench(main);
