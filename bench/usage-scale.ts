// What settling costs once a pipeline has been paid for many times, on real mail: 20,000 more
// paid inferences (real messages, picked with a seed) recorded in the ledger and settled by one
// run of the pipeline, then one more inference settled as `tracebook infer --settle` does it, and
// the tables the notebooks read served as the notebook server serves them (made, then from disk),
// the Influence explorer and Contributors and rewards opened in Chromium (bench/page.ts), what a watch
// cycle's new outputs then cost the open explorer, and the reviewer's
// report (no PDF) and the penalty sides `tracebook rewards` prints written over it all, and what a whole
// run then recomputes (the influence splits by query, the comparison tracin cells). Written to
// bench/results/usage-scale.json.
//
//   npx tsx bench/usage-scale.ts [--from <workspace dir where the mail pipeline ran>] [--inferences 20000]
import fs from "node:fs";
import { argument, mailWorkspace } from "./mail.ts";
import { runBench, writeBenchReport, secondsSince } from "./report.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { runPipeline, type GraphEvent } from "../cells/graph/scheduler.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer } from "../cells/rewards/ledger.ts";
import { Rng } from "../cells/compute/random.ts";
import { NotebookData } from "../cells/notebooks/data.ts";
import { servedCacheDir } from "../cells/notebooks/served-cache.ts";
import { explorerFollows, pageSeconds, type PageFollow } from "./page.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { cellHistories, type RunRecord } from "../cells/graph/runs.ts";
import { resolveModel } from "../cells/factory/catalog.ts";
import { writeReport } from "../reports/write.ts";
import { pipelineSides } from "../reports/collect/sides.ts";
import { recordedPenalties } from "../cells/rewards/penalties.ts";

const SETTLING = ["usage", "influence", "receipts", "rewards"];
/** Served tables: name in the results, cell, the columns a page asks for (the Influence explorer's of receipts). */
const SERVED: [string, string, string[]?][] = [["influence", "influence"], ["usage", "usage"], ["receipts, the explorer's columns", "receipts", ["query", "receipt_hash", "model_id"]], ["receipts", "receipts"], ["contributor_influence", "contributor_influence"]];

/**
 * One run of the mail pipeline and its cells' times: up to `cell` with the times of `timed` (the
 * settling cells, as `infer --settle` runs them), or the whole pipeline with every cell's.
 */
async function timedRun(ws: Workspace, cell?: string, timed?: readonly string[]): Promise<{ cells: Record<string, number>; seconds: number }> {
  const { pipeline } = await loadPipeline("mail");
  const cells: Record<string, number> = {};
  const t0 = performance.now();
  const run = await runPipeline(ws, pipeline, { cell, onEvent: (e: GraphEvent) => { if (e.event === "cell-finished" && (!timed || timed.includes(e.cell))) cells[e.cell] = +e.seconds.toFixed(2); } });
  if (run.failed.length) throw new Error(`mail pipeline: ${run.failed.join(", ")} failed`);
  return { cells, seconds: secondsSince(t0) };
}
const settle = (ws: Workspace) => timedRun(ws, "rewards", SETTLING);
/** The cells a settling run leaves stale, run as a whole run of the pipeline would. */
const runRest = (ws: Workspace) => timedRun(ws);

/** A mail cell's current output, as the run log names it. */
async function outputOf(ws: Workspace, cell: string): Promise<RunRecord> {
  return (await cellHistories(ws, "mail")).get(cell)!.lastSucceeded!;
}

runBench(async () => {
  const n = Number(argument("--inferences") ?? 20_000);
  const opened = await mailWorkspace("tb-bench-usage-scale-");
  let ws = opened.ws;
  const home = opened.home;
  const server = new ModelServer(ws.home);
  try {
    const model = (await resolveModel(ws, "mail.model")).id;
    const messages = await ws.rows<{ title: string; text: string }>(
      "select coalesce(title, '') as title, coalesce(text, '') as text from contributions where datanet = 'mail-spam' order by id");
    const rng = Rng.derive(11, "usage-scale");
    let t0 = performance.now();
    for (let done = 0; done < n; done += 1000) {
      const batch = Array.from({ length: Math.min(1000, n - done) }, () => messages[rng.int(0, messages.length - 1)]!);
      await infer(ws, server, model, batch, { fee: 1000n, caller: `agent:bench-${done % 7}`, pipeline: "mail", source: "api", epoch: "bench-scale" });
    }
    const recordSeconds = secondsSince(t0);
    const bulk = await settle(ws);
    const [rows, usage] = [(await outputOf(ws, "influence")).rows, (await outputOf(ws, "usage")).rows];
    // The rest of the pipeline over them (the influence splits, the comparison tracin cells), so
    // the next run finds every cell's output to take groups over from.
    const bulkRest = await runRest(ws);

    t0 = performance.now();
    await infer(ws, server, model, [{ text: "Cheap meds, click now for a discount" }], { fee: 1000n, caller: "cli:bench", pipeline: "mail", source: "cli", epoch: "bench-scale" });
    const inferSeconds = secondsSince(t0);
    const one = await settle(ws);
    const oneRest = await runRest(ws);

    // The tables as the notebook server sends them: made from the artifact by one server (and kept
    // on disk), then sent by the next server from what the first kept. The server opens the
    // workspace itself: this process lets it go meanwhile.
    ws.close();
    const served: Record<string, { made_seconds: number; from_disk_seconds: number; mb: number }> = {};
    let explorer: number[] | null = null;
    let contributors: number[] | null = null;
    let follows: PageFollow[] | null = null;
    const [first, next] = [new NotebookData({ home }), new NotebookData({ home })];
    try {
      for (const [name, cell, columns] of SERVED) {
        t0 = performance.now();
        const { bytes } = await first.arrow("mail", cell, columns);
        const made = secondsSince(t0);
        t0 = performance.now();
        await next.arrow("mail", cell, columns);
        served[name] = { made_seconds: made, from_disk_seconds: secondsSince(t0), mb: +(bytes.byteLength / 1e6).toFixed(1) };
      }
      // The Influence explorer, to its first chart: on a new server that makes what the page asks
      // for (its queries run on the server: their results, no table), then on one that finds the
      // fixed queries' results kept on disk.
      explorer = await pageSeconds(home, "influence-explorer", "figure svg, svg[role=img]", [
        { before: () => fs.rmSync(servedCacheDir(home), { recursive: true, force: true }) }, {}, {},
      ]);
      // Contributors and rewards, to its penalty sides: its queries run on the server too.
      contributors = await pageSeconds(home, "contributors-and-rewards", "#sides", [{}, {}]);
      // The explorer open with a search typed while a watch cycle's new outputs reach it.
      follows = await explorerFollows(home, "mail", ["usage", "influence", "receipts", "rewards", "influence_last_layer"]);
    } finally {
      first.close();
      next.close();
      ws = await openWorkspace({ home });
    }
    t0 = performance.now();
    const penalties = (await recordedPenalties(ws, "mail")).flatMap((s) => s.penalised.map((p) => ({ epoch: s.epoch, model_id: s.model_id, contributor: p.contributor })));
    await pipelineSides(ws, "mail", penalties);
    const sidesSeconds = secondsSince(t0);
    t0 = performance.now();
    await writeReport(ws, "mail", { out: fs.mkdtempSync(`${home}/report-`), pdf: false });
    const reportSeconds = secondsSince(t0);
    await writeBenchReport("usage-scale", {
      what: `${n} more paid inferences of real mail settled by one run, then one more settled, then the notebooks' tables served`,
      usage_rows: Number(usage),
      influence_rows: Number(rows),
      record_seconds: recordSeconds,
      settle_bulk: bulk,
      settle_one: { infer_seconds: inferSeconds, ...one },
      // What `tracebook dev` or `run --watch` then recomputes: the splits by query and the other tracin cells.
      rest_bulk: bulkRest,
      rest_one: oneRest,
      served,
      explorer_first_chart_seconds: explorer && { tables_made: explorer[0], tables_kept_on_disk: explorer.slice(1) },
      contributors_sides_seconds: contributors,
      explorer_follows: follows,
      rewards_sides_seconds: sidesSeconds,
      report_seconds: reportSeconds,
      peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
    });
  } finally {
    server.dispose();
    ws.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
