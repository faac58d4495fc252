// What it costs to settle one paid inference on real mail: a message paid for through the
// ledger (as `tracebook infer` records it), then the pipeline's run: the usage ledger reads it,
// TracIn traces it (the 1,200 earlier inferences keep their rows), receipts and the split
// settle it. Then the influence cell forced from nothing, for the cost without the reuse and to
// check that every inference has the same top 20 proponents either way. Between the two, the
// workload's epoch is closed and one more paid inference settled: what the split costs once a
// month's inferences are final. Written to bench/results/settle.json.
//
//   npx tsx bench/settle.ts [--from <workspace dir where the mail pipeline ran>]
import fs from "node:fs";
import { runBench, writeBenchReport } from "./report.ts";
import { mailWorkspace } from "./mail.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { runPipeline, type GraphEvent } from "../cells/graph/scheduler.ts";
import { cellHistories } from "../cells/graph/runs.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer } from "../cells/rewards/ledger.ts";
import { closeEpoch } from "../cells/rewards/closures.ts";
import type { Workspace } from "../cells/store/workspace.ts";

const SETTLING = ["usage", "influence", "receipts", "rewards"];

/** Run the pipeline (or one forced cell), timing each cell that ran. */
async function timed(ws: Workspace, options: { force?: boolean; cell?: string } = {}) {
  const { pipeline } = await loadPipeline("mail");
  const seconds: Record<string, number> = {};
  const t0 = performance.now();
  let settledAt = 0;
  const run = await runPipeline(ws, pipeline, {
    ...options,
    onEvent: (e: GraphEvent) => {
      if (e.event !== "cell-finished") return;
      seconds[e.cell] = +e.seconds.toFixed(2);
      if (e.cell === "rewards") settledAt = (performance.now() - t0) / 1000;
    },
  });
  if (run.failed.length) throw new Error(`mail pipeline: ${run.failed.join(", ")} failed`);
  return { seconds, settled: +settledAt.toFixed(2), total: +((performance.now() - t0) / 1000).toFixed(2) };
}

async function topOf(ws: Workspace): Promise<Map<string, string>> {
  const out = (await cellHistories(ws, "mail")).get("influence")!.lastSucceeded!.artifact!;
  const rows = await ws.rows<{ query: string; keys: string }>(
    "select query, string_agg(key, ',' order by rank) as keys from read_parquet(?) where level = 'contribution' and rank > 0 group by query", [out]);
  return new Map(rows.map((r) => [r.query, r.keys]));
}

runBench(async () => {
  const { ws, home } = await mailWorkspace("tb-bench-settle-");
  try {
    const [{ model_id: model }] = (await ws.rows<{ model_id: string }>(
      "select distinct model_id from read_parquet(?)", [(await cellHistories(ws, "mail")).get("model")!.lastSucceeded!.artifact!])) as [{ model_id: string }];
    const server = new ModelServer(ws.home);
    const [paid] = await infer(ws, server, model, [{ title: "Cheap meds", text: "Get cheap meds now, limited offer, click here" }],
      { fee: 2_000_000_000_000_000n, caller: "bench:settle", pipeline: "mail", source: "cli", epoch: "bench" });
    server.dispose();
    const incremental = await timed(ws);
    const queries = Number((await ws.rows<{ n: bigint }>("select count(*) as n from read_parquet(?)", [(await cellHistories(ws, "mail")).get("usage")!.lastSucceeded!.artifact!]))[0]!.n);
    const [lines] = await ws.rows<{ n: bigint; paid: string }>("select count(*) as n, sum(amount)::varchar as paid from rewards where inference_id = ?", [paid!.id]);
    const kept = await topOf(ws);
    // The workload's epoch closed (final): the next paid inference's split leaves its 1,200 alone.
    const [{ epoch: workloadEpoch }] = (await ws.rows<{ epoch: string }>("select any_value(epoch) as epoch from inferences where source like 'workload:%' and pipeline = 'mail'")) as [{ epoch: string }];
    const c0 = performance.now();
    const closure = await closeEpoch(ws, "mail", workloadEpoch, { by: "bench:settle", at: new Date().toISOString().replace("T", " ").replace("Z", "") });
    const closeSeconds = +((performance.now() - c0) / 1000).toFixed(2);
    const server2 = new ModelServer(ws.home);
    await infer(ws, server2, model, [{ title: "Lunch", text: "Are we still on for lunch on Thursday?" }],
      { fee: 2_000_000_000_000_000n, caller: "bench:settle", pipeline: "mail", source: "cli", epoch: "bench" });
    server2.dispose();
    const afterClose = await timed(ws);
    const scratch = await timed(ws, { force: true, cell: "influence" });
    const again = await topOf(ws);
    const same = [...kept].filter(([q, keys]) => again.get(q) === keys).length;
    await writeBenchReport("settle", {
      what: "one paid inference settled on real mail: the pipeline's run after it is recorded (the earlier inferences' TracIn rows reused), then the influence cell forced from nothing",
      queries,
      settled: { lines: Number(lines!.n), paid_units: lines!.paid, fee_units: "2000000000000000" },
      incremental: { cells: Object.fromEntries(SETTLING.map((c) => [c, incremental.seconds[c] ?? null])), seconds_to_settled: incremental.settled, seconds_whole_run: incremental.total },
      from_nothing: { influence_seconds: scratch.seconds.influence ?? null },
      closed: {
        what: `the workload's epoch ${workloadEpoch} closed (${closure.inferences} inferences, ${closure.lines} reward lines), then one more paid inference settled`,
        close_seconds: closeSeconds,
        cells: Object.fromEntries(SETTLING.map((c) => [c, afterClose.seconds[c] ?? null])), seconds_to_settled: afterClose.settled,
      },
      same_top20_either_way: `${same} of ${kept.size}`,
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    });
  } finally {
    ws.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
