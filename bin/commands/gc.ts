import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { collectGarbage, planGc } from "../../cells/graph/gc.ts";
import { catchUpReceipts } from "../../cells/rewards/archive.ts";
import { nowUtc, ReadOnlyWorkspaceError } from "../../cells/store/workspace.ts";
import { pipelineFiles } from "../../cells/graph/runs.ts";
import { loadPipeline } from "../../cells/graph/loader.ts";

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `tracebook gc`: free the space superseded runs hold (old artifacts, models nothing uses, temp files). */
export function registerGc(program: Command): void {
  program
    .command("gc")
    .description("remove artifacts no cell currently outputs, trained models that no current output and no executed inference names, and temp files left behind; a rerun rebuilds anything removed")
    .option("--dry-run", "list what would be removed, remove nothing")
    .option("--json", "print the plan (and what was removed) as JSON")
    .action(async (opts: { dryRun?: boolean; json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        // Its files go without a write to the database, which DuckDB would refuse: refuse here.
        if (ws.readOnly && !opts.dryRun) throw new ReadOnlyWorkspaceError(`workspace ${ws.dbPath} is open read-only (${ws.readOnly}): gc would remove its files (--dry-run lists them)`);
        // Each pipeline's cells as its file declares them now, where the file still loads.
        const declared = new Map<string, Set<string>>();
        const unread: { pipeline: string; why: string }[] = [];
        for (const [name, file] of await pipelineFiles(ws)) {
          try {
            declared.set(name, new Set((await loadPipeline(file)).pipeline.cells.keys()));
          } catch (err) {
            unread.push({ pipeline: name, why: (err as Error).message.split("\n")[0]! });
          }
        }
        // Receipts that paid lines cite are archived before the files holding them can go.
        const receipts = opts.dryRun ? null : await catchUpReceipts(ws, nowUtc());
        const plan = await planGc(ws, { declared });
        const done = opts.dryRun ? null : collectGarbage(plan);
        if (opts.json) return console.log(toJson({ dryRun: !!opts.dryRun, ...plan, unread, ...(done ? { removed: done } : {}), ...(receipts ? { receipts } : {}) }));
        if (receipts?.added) console.log(`Archived ${receipts.added} receipts cited by reward lines before their files could go.`);
        if (receipts?.lost) console.log(`  ${receipts.lost} receipts cited by reward lines were already gone (settled before the archive existed, files collected).`);
        const byKind = ["artifact", "model", "temp", "cache"].map((kind) => {
          const of = plan.garbage.filter((g) => g.kind === kind);
          return { what: kind === "temp" ? "temp files" : kind === "cache" ? "cached features" : `${kind}s`, count: of.length, size: mb(of.reduce((n, g) => n + g.bytes, 0)) };
        });
        console.log(formatTable(byKind).replace(/\n\(\d+ rows\)$/, ""));
        for (const g of plan.garbage.filter((x) => x.kind === "model" || /no longer in pipeline/.test(x.why))) console.log(`  ${path.relative(ws.home, g.path)}: ${g.why}`);
        for (const u of unread) console.log(`  kept every output of pipeline ${u.pipeline}: its file did not load (${u.why})`);
        console.log(`${opts.dryRun ? "Would free" : "Freed"} ${mb(done?.bytes ?? plan.bytes)}; kept ${plan.kept.artifacts} tables (current outputs, evaluations, what-if answers) and ${plan.kept.models} models (${mb(plan.kept.bytes)}).`);
      });
    });
}
