// What it costs to say what a retrain changed, on real mail: a curator rejects one training
// message, the pipeline retrains (base and adapter, then everything after them), and then
// `tracebook model diff mail.model` is asked: the lineages compared, both models run over the
// 1,200 held-out messages. The `last_retrain` cell's own time comes from the run. Written to
// bench/results/history.json.
//
//   npx tsx bench/history.ts [--from <workspace dir where the mail pipeline ran>]
import fs from "node:fs";
import { runBench, writeBenchReport, secondsSince } from "./report.ts";
import { mailWorkspace } from "./mail.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { runPipeline, type GraphEvent } from "../cells/graph/scheduler.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { cellModels, heldOutOf, resolveModel } from "../cells/factory/catalog.ts";
import { diffLineage } from "../cells/factory/diff.ts";
import { compareBehaviour } from "../cells/quality/behaviour.ts";

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-history-");
  try {
    const [row] = await ws.rows<{ id: string }>("select id from contributions where datanet = 'mail-spam' and split = 'train' and status = 'approved' order by id limit 1");
    await decide(ws, { ids: [row!.id], verdict: "rejected", validator: "bench:history", reason: "bench: one rejected training message" });
    const { pipeline } = await loadPipeline("mail");
    const cells: Record<string, number> = {};
    const t0 = performance.now();
    const logs: string[] = [];
    const run = await runPipeline(ws, pipeline, {
      onEvent: (e: GraphEvent) => {
        if (e.event === "cell-finished") cells[e.cell] = +e.seconds.toFixed(2);
        if (e.event === "cell-log" && ["usage", "influence"].includes(e.cell)) logs.push(e.message);
      },
    });
    if (run.failed.length) throw new Error(`mail pipeline: ${run.failed.join(", ")} failed`);
    const retrainSeconds = secondsSince(t0);

    const t1 = performance.now();
    const [a, b] = [await resolveModel(ws, "mail.model~1"), await resolveModel(ws, "mail.model")];
    const lineage = await diffLineage(ws, a, b);
    const lineageSeconds = secondsSince(t1);
    const t2 = performance.now();
    const rows = (await heldOutOf(ws, b))!;
    const outputs = await compareBehaviour(ws, a, b, rows.relation, rows.name);
    const outputsSeconds = secondsSince(t2);
    await writeBenchReport("history", {
      what: "one training message of real mail rejected, the pipeline rerun (it retrains), then the last retrain compared as `tracebook model diff mail.model` does it",
      retrain: { seconds_whole_run: retrainSeconds, base: cells.base ?? null, model: cells.model ?? null, last_retrain: cells.last_retrain ?? null },
      // The superseded model's settled inferences stay in the usage table: their rows are kept, the replay on the new model is traced.
      settling: {
        usage: cells.usage ?? null, influence: cells.influence ?? null, receipts: cells.receipts ?? null, rewards: cells.rewards ?? null,
        settled_earlier: Number(/^(\d+) more by models since retrained/m.exec(logs.join("\n"))?.[1] ?? 0),
        queries_kept: Number(/^(\d+) queries keep the rows/m.exec(logs.join("\n"))?.[1] ?? 0),
        queries_traced: Number(/; (\d+) to trace$/m.exec(logs.join("\n"))?.[1] ?? 0),
      },
      diff: {
        models: (await cellModels(ws, "mail", "model")).length,
        rows: { before: lineage.rows.a, after: lineage.rows.b, left: lineage.rows.removed.length, entered: lineage.rows.added.length, base_retrained: lineage.base !== null },
        lineage_seconds: lineageSeconds,
        outputs: { on: outputs.on, rows: outputs.rows, accuracy_before: outputs.a?.accuracy ?? null, accuracy_after: outputs.b?.accuracy ?? null, changed: outputs.changed.length, seconds: outputsSeconds },
      },
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    });
  } finally {
    ws.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
