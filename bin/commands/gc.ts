import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { collectGarbage, planGc } from "../../cells/graph/gc.ts";

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
        const plan = await planGc(ws);
        const done = opts.dryRun ? null : collectGarbage(plan);
        if (opts.json) return console.log(toJson({ dryRun: !!opts.dryRun, ...plan, ...(done ? { removed: done } : {}) }));
        const byKind = ["artifact", "model", "temp"].map((kind) => {
          const of = plan.garbage.filter((g) => g.kind === kind);
          return { what: kind === "temp" ? "temp files" : `${kind}s`, count: of.length, size: mb(of.reduce((n, g) => n + g.bytes, 0)) };
        });
        console.log(formatTable(byKind).replace(/\n\(\d+ rows\)$/, ""));
        for (const g of plan.garbage.filter((x) => x.kind === "model")) console.log(`  ${path.relative(ws.home, g.path)}: ${g.why}`);
        console.log(`${opts.dryRun ? "Would free" : "Freed"} ${mb(done?.bytes ?? plan.bytes)}; kept ${plan.kept.artifacts} tables (current outputs, evaluations, what-if answers) and ${plan.kept.models} models (${mb(plan.kept.bytes)}).`);
      });
    });
}
