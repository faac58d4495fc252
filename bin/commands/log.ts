import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { wholeNumber } from "../numbers.ts";
import { plural } from "../../cells/graph/plural.ts";
import { runLog, runSeconds, type LoggedRun, type PipelineRunLog } from "../../cells/graph/history.ts";
import { runOutcome, took } from "../../cells/graph/outcome.ts";
import { InputError } from "../../cells/datanet/errors.ts";

/** `tracebook log`: what ran in a pipeline, when, what it made of each output, and why it ran. */
export function registerLog(program: Command): void {
  program
    .command("log")
    .description("the run log of a pipeline: each pipeline run (newest first) with what started it, every cell it ran, how long it took, whether its output changed, and why it ran")
    .argument("[pipeline]", "pipeline name, as it has run in this workspace (default: every pipeline's runs, in one log)")
    .option("--cell <name>", "one cell's runs alone (of the pipeline named): when its output changed, and why")
    .option("--limit <n>", "pipeline runs to print (with --cell: that cell's runs); 0 prints all", "10")
    .option("--json", "print the log as JSON")
    .action(async (pipeline: string | undefined, opts: { cell?: string; limit: string; json?: boolean }, command: Command) => {
      const limit = wholeNumber(opts.limit, "--limit");
      if (opts.cell !== undefined && pipeline === undefined) throw new InputError("--cell goes with a pipeline: tracebook log <pipeline> --cell <name>");
      await withWorkspace(command, async (ws) => {
        const runs = await runLog(ws, pipeline, { cell: opts.cell });
        if (opts.cell !== undefined) {
          const cellRuns = runs.flatMap((r) => [...r.cells].reverse().map((c) => ({ ...c, pipeline_run: r.id, started_by: r.started_by })));
          const shown = limit ? cellRuns.slice(0, limit) : cellRuns;
          if (opts.json) return console.log(toJson({ pipeline, cell: opts.cell, runs: shown }));
          console.log(`${pipeline}.${opts.cell}: ${plural(cellRuns.length, "run")}${more(shown.length, cellRuns.length)}`);
          console.log(table(shown.map((c) => ({ started: when(c.started_at), ...row(c), "started by": c.started_by ?? "" }))));
          return footnote(shown);
        }
        const shown = limit ? runs.slice(0, limit) : runs;
        if (opts.json) return console.log(toJson(pipeline === undefined ? { pipeline_runs: shown } : { pipeline, pipeline_runs: shown }));
        const cellRuns = runs.reduce((n, r) => n + r.cells.length, 0);
        const pipelines = new Set(runs.map((r) => r.pipeline));
        const what = pipeline ?? (runs.length ? `this workspace (${[...pipelines].sort().join(", ")})` : "this workspace: no pipeline has run yet");
        console.log(`${what}${runs.length ? `: ${plural(runs.length, "pipeline run")}, ${plural(cellRuns, "cell run")}` : ""}${more(shown.length, runs.length)}`);
        for (const r of shown) console.log(`\n${heading(r, pipeline === undefined)}\n${table(r.cells.map((c) => ({ cell: c.cell, ...row(c) })))}`);
        footnote(shown.flatMap((r) => r.cells));
      });
    });
}

const more = (shown: number, all: number) => (shown < all ? `; the newest ${shown} (--limit 0 prints all)` : "");

const when = (d: Date) => d.toISOString().replace("T", " ").slice(0, 19);

/** What one cell run did, read across: its status, time, rows, its output against the one before, and why. */
function row(c: LoggedRun): Record<string, unknown> {
  const version = c.data_version?.slice(0, 12) ?? "";
  const output = c.output === null ? (c.error ?? "") : c.output === "unchanged" ? "unchanged" : `${c.output} ${version}`;
  return {
    status: c.cached ? "reused" : c.status === "succeeded" ? "ran" : c.status, took: took(c.seconds), rows: c.rows === null ? "" : c.rows.toLocaleString("en-US"),
    output, "why it ran": `${c.why}${c.why_recorded ? "" : " *"}`,
  };
}

/** A pipeline run's line: when, what started it, and what came of it. */
function heading(r: PipelineRunLog, named: boolean): string {
  const seconds = runSeconds(r);
  return `${when(r.started_at)} UTC · ${named ? `${r.pipeline} · ` : ""}${r.started_by ?? "started by: not recorded"} · ${runOutcome(r)}${seconds === null ? "" : ` · ${took(seconds)}`}`;
}

const table = (rows: Record<string, unknown>[]) => formatTable(rows, { maxCell: 110, maxRows: 100_000 }).replace(/\n\(\d+ rows?\)$/, "");

/** Under a log with reasons worked out rather than recorded, what the asterisk means. */
function footnote(cells: LoggedRun[]): void {
  if (cells.some((c) => !c.why_recorded)) console.log("\n* ran before this tracebook recorded why: worked out from the conditions of the cell's output before it");
}
