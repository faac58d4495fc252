import type { Command } from "commander";
import type { Workspace } from "../../cells/store/workspace.ts";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { wholeNumber } from "../numbers.ts";
import { plural } from "../../cells/graph/plural.ts";
import { newestRuns, runLog, runSeconds, type LoggedRun, type PipelineRunLog, type RunLogPage } from "../../cells/graph/history.ts";
import { pipelinesRun } from "../../cells/graph/runs.ts";
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
        // The newest pipeline runs alone are read; with --cell, each holds one run of it (as many as --limit asks).
        const log = limit ? await newestRuns(ws, pipeline, { cell: opts.cell, limit }) : await wholeLog(ws, pipeline, opts.cell);
        const runs = log.runs;
        if (opts.cell !== undefined) {
          const cellRuns = runs.flatMap((r) => [...r.cells].reverse().map((c) => ({ ...c, pipeline_run: r.id, started_by: r.started_by })));
          const shown = limit ? cellRuns.slice(0, limit) : cellRuns;
          if (opts.json) return console.log(toJson({ pipeline, cell: opts.cell, runs: shown }));
          console.log(`${pipeline}.${opts.cell}: ${plural(log.cellRuns, "run")}${more(shown.length, log.cellRuns)}`);
          console.log(table(shown.map((c) => ({ started: when(c.started_at), ...row(c), "started by": c.started_by ?? "" }))));
          return footnote(shown);
        }
        if (opts.json) return console.log(toJson(pipeline === undefined ? { pipeline_runs: runs } : { pipeline, pipeline_runs: runs }));
        const what = pipeline ?? (log.total ? `this workspace (${(await pipelinesRun(ws)).join(", ")})` : "this workspace: no pipeline has run yet");
        console.log(`${what}${log.total ? `: ${plural(log.total, "pipeline run")}, ${plural(log.cellRuns, "cell run")}` : ""}${more(runs.length, log.total)}`);
        for (const r of runs) console.log(`\n${heading(r, pipeline === undefined)}\n${table(r.cells.map((c) => ({ cell: c.cell, ...row(c) })))}`);
        footnote(runs.flatMap((r) => r.cells));
      });
    });
}

/** The whole log (`--limit 0`), counted as a page of it is. */
async function wholeLog(ws: Workspace, pipeline: string | undefined, cell: string | undefined): Promise<RunLogPage> {
  const runs = await runLog(ws, pipeline, { cell });
  return { runs, total: runs.length, cellRuns: runs.reduce((n, r) => n + r.cells.length, 0) };
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
