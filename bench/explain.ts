// What explaining an input costs on real mail, and whether it says what the pipeline says: the
// mail pipeline's influence cell mirrored for inputs nobody paid for. Measured in one process, as
// the notebook server holds an explainer: loading it (the model, its checkpoints, the training
// rows featurized), then 20 held-out messages explained one at a time (the latency a page sees),
// then all 1,200 executed inferences' texts in one call, each compared with the influence cell's
// rows for it (the same top-20 proponents, in order). Then `tracebook explain` once, start-up
// included. Written to bench/results/explain.json.
//
//   npx tsx bench/explain.ts [--from <workspace dir where the mail pipeline ran>]
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { runBench, writeBenchReport } from "./report.ts";
import { mailWorkspace } from "./mail.ts";
import { computeBackend } from "../cells/compute/backend.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { cellHistories } from "../cells/graph/runs.ts";
import { Explainer } from "../cells/attribution/explain.ts";
import { explainSource } from "../cells/attribution/source.ts";

const BIN = path.resolve("bin/tracebook.js");
const ONE_BY_ONE = 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-explain-");
  try {
    const backend = await computeBackend();
    const { pipeline } = await loadPipeline("mail");
    const history = await cellHistories(ws, "mail");
    const out = (cell: string) => history.get(cell)!.lastSucceeded!.artifact!;
    const usage = await ws.rows<{ id: string; title: string | null; text: string }>("select id, title, text from read_parquet(?) order by id", [out("usage")]);
    const cell = await ws.rows<{ query: string; key: string }>(
      "select query, key from read_parquet(?) where level = 'contribution' and rank > 0 order by query, rank", [out("influence")]);
    const cellTop = new Map<string, string[]>();
    for (const r of cell) cellTop.set(r.query, [...(cellTop.get(r.query) ?? []), r.key]);

    let t0 = performance.now();
    const explainer = await Explainer.load(ws, await explainSource(ws, "mail", pipeline.cells));
    const loadSeconds = (performance.now() - t0) / 1000;

    const latencies: number[] = [];
    for (const u of usage.slice(0, ONE_BY_ONE)) {
      t0 = performance.now();
      await explainer.explain([{ title: u.title, text: u.text }]);
      latencies.push(performance.now() - t0);
    }

    t0 = performance.now();
    const all = await explainer.explain(usage.map((u) => ({ title: u.title, text: u.text })));
    const batchSeconds = (performance.now() - t0) / 1000;
    const same = all.explanations.filter((e, j) => JSON.stringify(e.proponents.map((c) => c.contribution)) === JSON.stringify(cellTop.get(usage[j]!.id))).length;
    ws.close();

    // The command, start-up included: the workspace is up to date, so nothing runs first.
    t0 = performance.now();
    const r = spawnSync(process.execPath, [BIN, "--workspace", home, "explain", "mail", usage[0]!.text, "--json"], { encoding: "utf8", maxBuffer: 1 << 26 });
    const cliSeconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`tracebook explain failed: ${r.stderr}`);

    const results = {
      training_rows: all.train_rows, checkpoints: all.checkpoints.length, engine: all.engine,
      load_seconds: +loadSeconds.toFixed(2),
      one_input_ms: { median: +median(latencies).toFixed(1), p90: +quantile(latencies, 0.9).toFixed(1), first: +latencies[0]!.toFixed(1), inputs: latencies.length },
      batch: { inputs: usage.length, seconds: +batchSeconds.toFixed(2), tracin_seconds: +all.seconds.toFixed(2) },
      same_top20_as_influence_cell: `${same} of ${usage.length}`,
      cli_seconds: +cliSeconds.toFixed(2),
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    };
    console.log(JSON.stringify(results, null, 2));
    await writeBenchReport("explain", {
      benchmark: "explain",
      setup: `the mail pipeline's influence cell (TracIn exact, ${all.checkpoints.length} checkpoints, ${all.train_rows} training rows) mirrored for inputs; one process holds the explainer as the notebook server does`,
      backend,
      results,
    });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
