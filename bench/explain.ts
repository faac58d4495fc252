// What explaining an input costs on real mail, and whether it says what the pipeline says: the
// mail pipeline's influence cell mirrored for inputs nobody paid for. Measured in one process, as
// the notebook server holds an explainer: loading it (the model, its checkpoints, the training
// rows featurized), then 20 held-out messages explained one at a time (the latency a page sees),
// then all 1,200 executed inferences' texts in one call, each compared with the influence cell's
// rows for it (the same top-20 proponents, in order), and each of them again alone (as a page asks,
// against the training side the explainer keeps). Then the same for the portable explainer a
// static build ships (the page's engine, run here in Node). Then `tracebook explain` once,
// start-up included. Written to bench/results/explain.json.
//
//   npx tsx bench/explain.ts [--from <workspace dir where the mail pipeline ran>]
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { median, runBench, writeBenchReport } from "./report.ts";
import { mailWorkspace } from "./mail.ts";
import { computeBackend } from "../cells/compute/backend.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { cellHistories } from "../cells/graph/runs.ts";
import { Explainer } from "../cells/attribution/explain.ts";
import { explainSource } from "../cells/attribution/source.ts";
import { PortableExplainerEngine } from "../cells/attribution/portable.ts";
import { decodePortable, encodePortable } from "../cells/attribution/portable-file.ts";

const BIN = path.resolve("bin/tracebook.js");
const ONE_BY_ONE = 20;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-explain-");
  try {
    const backend = await computeBackend();
    const { pipeline } = await loadPipeline("mail");
    const history = await cellHistories(ws, "mail");
    const out = (cell: string) => history.get(cell)!.lastSucceeded!.artifact!;
    const usage = await ws.rows<{ id: string; title: string | null; text: string }>("select id, title, text from read_parquet(?) order by id", [out("usage")]);
    const cell = await ws.rows<{ query: string; key: string; score: number }>(
      "select query, key, score from read_parquet(?) where level = 'contribution' and rank > 0 order by query, rank", [out("influence")]);
    // Per query, the cell's proponents in rank order, and their scores.
    const cellTop = new Map<string, { keys: string[]; scores: number[] }>();
    for (const r of cell) {
      const top = cellTop.get(r.query) ?? { keys: [], scores: [] };
      cellTop.set(r.query, top);
      top.keys.push(r.key);
      top.scores.push(r.score);
    }
    // Whether an explanation lists the cell's proponents for that query, in order.
    const sameTop = (e: { proponents: { contribution: string }[] }, query: string) =>
      JSON.stringify(e.proponents.map((c) => c.contribution)) === JSON.stringify(cellTop.get(query)?.keys);

    let t0 = performance.now();
    const explainer = await Explainer.load(ws, await explainSource(ws, "mail", pipeline.cells), { keep: true });
    const loadSeconds = (performance.now() - t0) / 1000;

    const latencies: number[] = [];
    for (const u of usage.slice(0, ONE_BY_ONE)) {
      t0 = performance.now();
      await explainer.explain([{ title: u.title, text: u.text }]);
      latencies.push(performance.now() - t0);
    }

    // Every executed inference asked alone, as a page asks (the kept training side): the same
    // top-20 as the cell, and how far its scores are from the cell's (relative to the largest).
    t0 = performance.now();
    let aloneSame = 0, aloneWorst = 0;
    for (const u of usage) {
      const [e] = (await explainer.explain([{ title: u.title, text: u.text }])).explanations;
      if (sameTop(e!, u.id)) aloneSame++;
      const want = cellTop.get(u.id)!.scores, largest = Math.max(...want.map(Math.abs));
      e!.proponents.forEach((c, i) => (aloneWorst = Math.max(aloneWorst, Math.abs(c.score - want[i]!) / largest)));
    }
    const aloneSeconds = (performance.now() - t0) / 1000;

    t0 = performance.now();
    const all = await explainer.explain(usage.map((u) => ({ title: u.title, text: u.text })));
    const batchSeconds = (performance.now() - t0) / 1000;
    const same = all.explanations.filter((e, j) => sameTop(e, usage[j]!.id)).length;
    ws.close();

    // The portable explainer a static build ships (cells/attribution/portable.ts), in this process:
    // its file, the first question (which computes the training side), one input at a time, all
    // the executed inferences compared with the influence cell, and the training side per shard
    // of four (what four workers of a page compute side by side).
    t0 = performance.now();
    const file = encodePortable(explainer.portable());
    const fileSeconds = (performance.now() - t0) / 1000;
    const portable = new PortableExplainerEngine(decodePortable(file, "mail.bin"));
    t0 = performance.now();
    portable.explain([{ title: usage[0]!.title, text: usage[0]!.text }]);
    const portableFirst = (performance.now() - t0) / 1000;
    const portableLatencies: number[] = [];
    for (const u of usage.slice(0, ONE_BY_ONE)) {
      t0 = performance.now();
      portable.explain([{ title: u.title, text: u.text }]);
      portableLatencies.push(performance.now() - t0);
    }
    t0 = performance.now();
    const portableAll = portable.explain(usage.map((u) => ({ title: u.title, text: u.text })));
    const portableBatch = (performance.now() - t0) / 1000;
    const portableSame = portableAll.explanations.filter((e, j) => sameTop(e, usage[j]!.id)).length;
    const N = all.train_rows, shards = 4;
    const shardFirst = Array.from({ length: shards }, (_, k) => {
      const shard = new PortableExplainerEngine(portable.p, { from: Math.floor((k * N) / shards), to: Math.floor(((k + 1) * N) / shards) });
      const t = performance.now();
      shard.part([{ title: usage[0]!.title, text: usage[0]!.text }]);
      return +((performance.now() - t) / 1000).toFixed(2);
    });

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
      one_at_a_time: {
        inputs: usage.length, seconds: +aloneSeconds.toFixed(2), same_top20_as_influence_cell: `${aloneSame} of ${usage.length}`,
        largest_score_difference: +aloneWorst.toExponential(2), kept_training_side_mib: +((await explainer.keptBytes()) / 2 ** 20).toFixed(1),
      },
      cli_seconds: +cliSeconds.toFixed(2),
      portable: {
        file_mib: +(file.length / 2 ** 20).toFixed(1), write_seconds: +fileSeconds.toFixed(2), engine: portableAll.engine,
        first_question_seconds: +portableFirst.toFixed(2),
        one_input_ms: { median: +median(portableLatencies).toFixed(1), p90: +quantile(portableLatencies, 0.9).toFixed(1), inputs: portableLatencies.length },
        batch: { inputs: usage.length, seconds: +portableBatch.toFixed(2) },
        same_top20_as_influence_cell: `${portableSame} of ${usage.length}`,
        first_question_seconds_per_shard_of_4: shardFirst,
      },
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
