// `npm run bench`: measured figures, written as JSON under bench/results/. Never asserted in tests.
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { openWorkspace } from "../cells/store/workspace.ts";
import { runBench, writeBenchReport } from "./report.ts";
import { corpora } from "../datasets/index.ts";
import { importCorpus } from "../datasets/import.ts";

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
  await writeBenchReport("import", { benchmark: "corpus-import", results: await benchImports() });
}

runBench(main);
