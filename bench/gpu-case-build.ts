// Build the GPU benchmark's case file (gpu-case.ts) on this machine's CPU backend: the TracIn
// benchmark's rows and its two models' checkpoints. Kept when it exists (--force rebuilds).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { computeBackend, describeBackend } from "../cells/compute/backend.ts";
import { writeFileAtomic } from "../cells/store/atomic.ts";
import { makeDir } from "../cells/store/make-dir.ts";
import { asTracin, SEED, trainModel } from "./tracin-case.ts";
import { load } from "./tracin-data.ts";
import { encodeGpuCase, gpuCaseFile, type GpuCaseModel } from "./gpu-case.ts";
import { runBench } from "./report.ts";

const GPU_CASE_HIDDEN = [32, 256];

async function main() {
  const file = gpuCaseFile();
  if (fs.existsSync(file) && !process.argv.includes("--force")) {
    console.log(`gpu case: ${file} (kept; --force rebuilds)`);
    return;
  }
  const backend = await computeBackend();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "tb-gpu-case-"));
  try {
    const { classes, tr, te } = await load(home);
    const models: GpuCaseModel[] = [];
    for (const hidden of GPU_CASE_HIDDEN) {
      const trained = await trainModel({ inputSize: tr.x.dims, hidden: [hidden], classes }, tr);
      models.push({ hidden, trainAccuracy: trained.metrics.at(-1)!.accuracy, checkpoints: asTracin(trained) });
    }
    makeDir(path.dirname(file));
    await writeFileAtomic(file, encodeGpuCase({ classes, tr, te, models, trainedOn: `${describeBackend(backend)}; seed ${SEED}; 5 epochs, batch 32, sgd lr 0.1` }));
    console.log(`gpu case: wrote ${file} (${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB; trained on ${backend.name})`);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

runBench(main);
