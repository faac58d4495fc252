// `npm run bench`: measured figures, written as JSON under bench/results/. Never asserted in tests.
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { openWorkspace } from "../cells/store/workspace.ts";
import { runBench, writeBenchReport } from "./report.ts";
import { corpora } from "../datasets/index.ts";
import { importCorpus } from "../datasets/import.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { featurize, hashedNgrams } from "../cells/factory/featurize.ts";

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

/** Bulk curators' decisions: every digit quarantined in one decide(), then all of them kept. */
async function benchDecisions() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-"));
  const results = [];
  try {
    const ws = await openWorkspace({ home });
    await importCorpus(ws, corpora.get("digits")!);
    const ids = (await ws.rows<{ id: string }>("select id from contributions where datanet = 'digits' order by id")).map((r) => r.id);
    for (const verdict of ["quarantined", "keep", "approved"] as const) {
      const t0 = performance.now();
      const done = await decide(ws, { ids, datanet: "digits", verdict, validator: "bench", reason: "bench" });
      const seconds = (performance.now() - t0) / 1000;
      results.push({ verdict, contributions: done.length, seconds: +seconds.toFixed(3), per_second: Math.round(done.length / seconds) });
      console.log(`decide ${verdict}: ${done.length} contributions in ${seconds.toFixed(2)} s`);
    }
    ws.close();
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  return results;
}

/** The mail featurizer, cold (each repeat under another seed, so the process's row cache never answers). */
async function benchFeaturize() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-"));
  try {
    const ws = await openWorkspace({ home });
    await importCorpus(ws, corpora.get("mail-spam")!);
    const rows = await ws.rows<{ title: string | null; text: string | null }>("select title, text from contributions order by id");
    ws.close();
    const times: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const t0 = performance.now();
      featurize(hashedNgrams({ dims: 8192, ngrams: 2, seed: 1000 + i }), rows);
      times.push((performance.now() - t0) / 1000);
    }
    const t0 = performance.now();
    featurize(hashedNgrams({ dims: 8192, ngrams: 2, seed: 1000 }), rows);
    const cached = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    console.log(`featurize mail: ${rows.length} rows in ${median.toFixed(2)} s cold (median of ${REPEATS}), ${cached.toFixed(3)} s from the row cache`);
    return [{ featurizer: "hashed-ngrams 8192, bigrams", rows: rows.length, seconds_median: +median.toFixed(3), seconds_all: times.map((t) => +t.toFixed(3)), rows_per_second: Math.round(rows.length / median), seconds_cached: +cached.toFixed(3) }];
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

async function main() {
  await writeBenchReport("import", { benchmark: "corpus-import", results: await benchImports() });
  await writeBenchReport("decisions", { benchmark: "bulk-decisions", results: await benchDecisions() });
  await writeBenchReport("featurize", { benchmark: "featurize-mail", results: await benchFeaturize() });
}

runBench(main);
