import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable } from "../output.ts";
import { progressBar } from "../progress.ts";
import { corpora } from "../../datasets/index.ts";
import { importCorpus } from "../../datasets/import.ts";
import { listDatanets } from "../../cells/datanet/catalog.ts";
import { loadPipeline } from "../../cells/graph/loader.ts";
import { runPipeline } from "../../cells/graph/scheduler.ts";
import { humanPrinter } from "./run.ts";
import path from "node:path";
import { resolveModel } from "../../cells/factory/catalog.ts";
import { infer } from "../../cells/rewards/ledger.ts";
import { parseAmount } from "../../cells/rewards/amounts.ts";
import { settledLine } from "../settled.ts";
import type { Workspace } from "../../cells/store/workspace.ts";

/** The demo's pipelines, in the order they run. */
const DEMO_PIPELINES = ["mail", "digits"];
const DEMO_MESSAGE = "Congratulations! You have won a free cruise. Click here to claim your prize";
/** The demo's paid call: the workload's fee, in the epoch `tracebook infer` would give it (the UTC month). */
const DEMO_FEE = "0.002";

/** `npm start`: the demo on real data. Imports the corpora that are missing, lists the Datanets and brings the demo pipelines up to date. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("run the demo on the real corpora (imports them on first use)")
    .action(async (_opts: unknown, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const present = new Set((await listDatanets(ws)).map((d) => d.name));
        for (const corpus of corpora.values()) {
          if (present.has(corpus.name)) continue;
          const bar = progressBar(`importing ${corpus.name}`);
          try {
            const s = await importCorpus(ws, corpus, { onProgress: (_phase, done, total) => bar.update(done, total) });
            bar.stop();
            console.log(`Imported ${s.datanet}: ${s.rowsRead} rows, ${s.contributionsAdded} contributions, ${s.duplicates} duplicates recorded`);
          } finally {
            bar.stop();
          }
        }
        console.log(formatTable((await listDatanets(ws)).map(({ created_at: _c, ...r }) => r)));
        for (const name of DEMO_PIPELINES) {
          console.log(`\nPipeline ${name}:`);
          const { pipeline } = await loadPipeline(name);
          const summary = await runPipeline(ws, pipeline, { onEvent: humanPrinter(pipeline) });
          if (summary.failed.length) throw new Error(`pipeline ${name}: ${summary.failed.join(", ")} failed (see above)`);
        }
        // A data scientist's first question, on a message of their own: explained, not executed.
        // (The explainer, the model server and the report load where they are used, not with the
        // module: `tracebook --help` loads every command's module.)
        const [{ Explainer }, { explainSource }] = await Promise.all([import("../../cells/attribution/explain.ts"), import("../../cells/attribution/source.ts")]);
        const explainer = await Explainer.load(ws, await explainSource(ws, "mail", (await loadPipeline("mail")).pipeline.cells));
        const [e] = (await explainer.explain([{ text: DEMO_MESSAGE }], { top: 3 })).explanations;
        const leans = e!.contributors.filter((c) => (c.share ?? 0) > 0).slice(0, 3).map((c) => `${c.name} ${(100 * c.share!).toFixed(1)}%`).join(", ");
        console.log(`\nExplained, not executed (nothing recorded or paid): "${DEMO_MESSAGE}" → ${e!.prediction}, leaning on ${leans}` +
          `\n  your own: npx tracebook explain mail "…" · a curator's: npx tracebook explain mail --contribution <id>`);
        await payForIt(ws);
        const report = await (await import("../../reports/write.ts")).writeReport(ws, "mail");
        const dir = path.relative(process.cwd(), report.dir);
        console.log(`\nReport: ${path.join(dir, "index.html")} (check it: npx tracebook report verify ${dir})`);
        console.log(`\nWorkspace: ${ws.dbPath}\nExplore: npx tracebook status mail · npx tracebook rewards mail · npx tracebook explain mail "…" · npx tracebook show mail influence_topk --columns query,rank,score,contributor,text · npx tracebook model list`);
      }, { creates: true });
    });
}

/**
 * What moves value: the same message executed and paid for, as an agent would through
 * `tracebook infer` (one id per model, so a second demo pays nothing twice), then traced and
 * split by the pipeline's next run: its usage ledger reads it, only its TracIn is new.
 */
async function payForIt(ws: Workspace): Promise<void> {
  const m = await resolveModel(ws, "mail.model");
  const { ModelServer } = await import("../../cells/factory/serve.ts");
  const server = new ModelServer(ws.home);
  const id = `demo:${m.id.slice(0, 16)}`;
  try {
    await infer(ws, server, m.id, [{ text: DEMO_MESSAGE }], { fee: parseAmount(DEMO_FEE, "fee"), caller: "demo:agent", pipeline: "mail", source: "demo", ids: [id] });
  } finally {
    server.dispose();
  }
  const run = await runPipeline(ws, (await loadPipeline("mail")).pipeline);
  if (run.failed.length) throw new Error(`pipeline mail: ${run.failed.join(", ")} failed`);
  console.log(`Executed and paid ${DEMO_FEE}, settled by the run after it: ${await settledLine(ws, id)}` +
    `\n  pay for your own: npx tracebook infer mail --model model "…" --settle (or keep npm start's server running: it settles at once)`);
}
