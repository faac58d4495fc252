import path from "node:path";
import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { shortPath, toJson } from "../output.ts";
import { isPipelinePath, loadPipeline } from "../../cells/graph/loader.ts";
import type { WrittenReport } from "../../reports/write.ts";
import { DEFAULT_OUT } from "../../reports/facts.ts";
import { wholeNumber } from "../numbers.ts";

interface ReportOpts { epoch?: string; cell?: string; out?: string; pdf: boolean }

/** `tracebook report <pipeline>` (write a reviewer's report) and `tracebook report verify <dir>` (check one). */
export function registerReport(program: Command): void {
  const report = program
    .command("report")
    .description("write the attribution report of a pipeline for reviewers: index.html, report.json and report.pdf under reports/out/<pipeline>/<run id>/")
    .argument("<pipeline>", "pipeline name or file (its settled rewardSplit cell is reported)")
    .option("--epoch <epoch>", "one settlement epoch (default: every settled epoch)")
    .option("--cell <name>", "the rewardSplit cell, when the pipeline has several")
    .option("--out <dir>", "where report folders go", DEFAULT_OUT)
    .option("--no-pdf", "skip report.pdf even when Chromium is present")
    // No --json here: the root program hands unknown options down, and `report` would take
    // `report verify <dir> --json` for itself before `verify` saw it.
    .action(async (name: string, opts: ReportOpts, command: Command) => {
      const pipeline = isPipelinePath(name) ? (await loadPipeline(name)).pipeline.name : name;
      await withWorkspace(command, async (ws) => {
        const started = performance.now();
        // Collecting and rendering (Plot, linkedom, Chromium) load here, not with the module: `tracebook --help` loads every command's module.
        const { writeReport } = await import("../../reports/write.ts");
        const written = await writeReport(ws, pipeline, { epoch: opts.epoch, cell: opts.cell, out: opts.out, pdf: opts.pdf ? "auto" : false });
        const seconds = (performance.now() - started) / 1000;
        printWritten(written, seconds);
      });
    });

  report
    .command("verify")
    .description("recompute a report's hashes, reward totals and sampled receipts (TracIn from the checkpoints) from the workspace; exit 1 when the report no longer matches")
    .argument("<dir>", "a report folder (the one holding report.json)")
    .option("--recompute <n>", "also recompute n receipts of your own sample with TracIn from the model's checkpoints and training rows (the report's own sample of 20, seed 0, is recomputed in any case)", "0")
    .option("--seed <seed>", "your sample's seed (the author cannot know which receipts you will recompute)", "1")
    .option("--json", "print the checks as JSON")
    .action(async (dir: string, opts: { recompute: string; seed: string; json?: boolean }, command: Command) => {
      const sample = wholeNumber(opts.recompute, "--recompute", { what: "a count of receipts, 0 or more" });
      const seed = wholeNumber(opts.seed, "--seed", { what: "a seed, a whole number 0 or more" }); // as every seed elsewhere
      await withWorkspace(command, async (ws) => {
        const { verifyReport } = await import("../../reports/verify.ts");
        const v = await verifyReport(ws, path.resolve(dir), { recompute: { sample, seed } });
        if (opts.json) console.log(toJson(v));
        else {
          for (const c of v.checks) console.log(`${c.ok ? "✓" : "✗"} ${c.name}: ${c.detail}`);
          const failed = v.checks.filter((c) => !c.ok).length;
          console.log(failed
            ? `\nReport ${shortPath(v.dir)} does NOT match: ${failed} of ${v.checks.length} checks failed`
            : `\nReport ${shortPath(v.dir)} matches the workspace: ${v.checks.length} checks pass`);
        }
        if (!v.ok) process.exitCode = 1;
      });
    });
}

function printWritten(w: WrittenReport, seconds: number): void {
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(`Report written: ${shortPath(path.join(w.dir, "index.html"))}`);
  console.log(`  ${Object.entries(w.files).map(([f, n]) => `${f} ${kb(n)}`).join(", ")}${w.pdfSkipped ? ` (no report.pdf: ${w.pdfSkipped})` : ""}; ${seconds.toFixed(1)} s`);
  for (const e of w.facts.statement) {
    console.log(`  epoch ${e.epoch}: ${e.inferences.toLocaleString("en-US")} inference${e.inferences === 1 ? "" : "s"}, fees ${e.fees.tokens}, paid out ${e.paid.tokens} ${e.reconciles ? "(reconciles to the base unit)" : "(DOES NOT reconcile)"}`);
  }
  const failed = w.facts.checks.filter((c) => !c.ok);
  console.log(`  integrity checks: ${w.facts.checks.length - failed.length} of ${w.facts.checks.length} pass${failed.length ? `; FAILED: ${failed.map((c) => c.name).join(", ")}` : ""}`);
  console.log(`Verify later: npx tracebook report verify ${shortPath(w.dir)}`);
}
