// `npm run bench`: measured figures, written as JSON under bench/results/. Never asserted in tests.
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { openWorkspace } from "../cells/store/workspace.ts";
import { writeFileAtomic } from "../cells/store/atomic.ts";
import { corpora } from "../datasets/index.ts";
import { importCorpus } from "../datasets/import.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);

async function benchImports() {
  const results = [];
  for (const corpus of corpora.values()) {
    const times: number[] = [];
    let summary;
    for (let i = 0; i < REPEATS; i++) {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-"));
      const ws = await openWorkspace({ home });
      const t0 = performance.now();
      summary = await importCorpus(ws, corpus);
      times.push((performance.now() - t0) / 1000);
      ws.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    results.push({
      datanet: corpus.name, rows: summary!.rowsRead, contributions: summary!.contributionsAdded,
      seconds_median: +median.toFixed(3), seconds_all: times.map((t) => +t.toFixed(3)),
      rows_per_second: Math.round(summary!.rowsRead / median),
    });
    console.log(`${corpus.name}: ${summary!.rowsRead} rows in ${median.toFixed(2)} s (median of ${REPEATS})`);
  }
  return results;
}

async function main() {
  const report = {
    benchmark: "corpus-import",
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memory_gib: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version },
    results: await benchImports(),
  };
  const out = path.join(here, "results", "import.json");
  await writeFileAtomic(out, JSON.stringify(report, null, 2) + "\n");
  console.log(`wrote ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
