import type { Command } from "commander";
import { withCtrlC, withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { progressBar } from "../progress.ts";
import { loadPipeline, loadPipelineIn } from "../../cells/graph/loader.ts";
import { runPipeline, type GraphEvent } from "../../cells/graph/scheduler.ts";
import { pipelineStatus, statesInWords, statesOf } from "../../cells/graph/status.ts";
import { watchPipeline } from "../../cells/graph/watch.ts";
import { cellHistories, pipelinesRun } from "../../cells/graph/runs.ts";
import type { Workspace } from "../../cells/store/workspace.ts";
import { quoteIdent } from "../../cells/store/export.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { didYouMean } from "../../cells/graph/nearest.ts";
import { wholeNumber } from "../numbers.ts";
import { plural } from "../../cells/graph/plural.ts";
import { noSuchCell, type Pipeline } from "../../cells/graph/pipeline.ts";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("run what is stale in a pipeline, in dependency order (Ctrl-C cancels cleanly)")
    .argument("<pipeline>", "pipeline name (pipelines/<name>.pipeline.ts) or file")
    .option("--cell <name>", "run only this cell and the stale cells it reads")
    .option("--force", "recompute even when fresh (with --cell: only that cell)")
    .option("--watch", "keep running: recompute when the pipeline file or the workspace changes; one JSON line per event")
    .option("--json", "one JSON line per event")
    .action(async (name: string, opts: { cell?: string; force?: boolean; watch?: boolean; json?: boolean }, command: Command) => {
      await withCtrlC(async (signal) => {
        if (opts.watch) {
          const { workspace } = command.optsWithGlobals<{ workspace?: string }>();
          await watchPipeline({ pipeline: name, home: workspace, signal, onEvent: (e) => console.log(toJson(e, 0)) });
          return;
        }
        const { pipeline, file } = await loadPipeline(name);
        await withWorkspace(command, async (ws) => {
          const printer = opts.json ? (e: GraphEvent) => console.log(toJson(e, 0)) : humanPrinter(pipeline);
          const summary = await runPipeline(ws, pipeline, { cell: opts.cell, force: opts.force, signal, onEvent: printer, file });
          if (!opts.json) {
            const list = (names: string[]) => (names.length ? ` (${names.join(", ")})` : "");
            console.log(
              `Ran ${summary.ran.length} cell${summary.ran.length === 1 ? "" : "s"}${list(summary.ran)}; ` +
              `${summary.fresh.length} fresh${list(summary.fresh)}; ${summary.failed.length} failed${list(summary.failed)}` +
              `${summary.blocked.length ? `; ${summary.blocked.length} blocked${list(summary.blocked)}` : ""}${summary.cancelled ? "; cancelled" : ""}`,
            );
          }
          if (summary.cancelled) process.exitCode = 130;
          else if (summary.failed.length) process.exitCode = 1;
        });
      });
    });

  program
    .command("status")
    .description("print every cell of a pipeline as fresh, stale (why), failed (cause) or blocked; with no pipeline, every pipeline this workspace has run, and its cells that are not fresh")
    .argument("[pipeline]", "pipeline name (pipelines/<name>.pipeline.ts, else the file this workspace last ran it from) or file (default: every pipeline run here)")
    .option("--json", "print JSON")
    .action(async (name: string | undefined, opts: { json?: boolean }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        if (name === undefined) return everyPipeline(ws, opts.json);
        const { pipeline } = await loadPipelineIn(ws, name);
        const rows = await pipelineStatus(ws, pipeline);
        if (opts.json) return console.log(toJson(rows));
        console.log(formatTable(rows.map((r) => ({
          cell: r.cell, kind: r.kind, state: r.state, reason: r.reason ?? "", rows: r.rows,
          "data version": r.dataVersion?.slice(0, 12) ?? "", finished: r.finishedAt?.toISOString().replace("T", " ").slice(0, 19) ?? "",
        })), { maxCell: 90, maxRows: 500 }));
      });
    });

  program
    .command("show")
    .description("print a cell's current output")
    .argument("<pipeline>", "pipeline name (pipelines/<name>.pipeline.ts, else the file this workspace last ran it from) or file")
    .argument("<cell>", "cell name")
    .option("--limit <n>", "rows to print", "20")
    .option("--columns <list>", "comma-separated columns to print")
    .option("--query <id>", "only rows of this query (id or prefix), for tables with a query column")
    .option("--json", "print rows as JSON")
    .action(async (name: string, cell: string, opts: { limit: string; json?: boolean; columns?: string; query?: string }, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const { pipeline } = await loadPipelineIn(ws, name);
        if (!pipeline.cells.has(cell)) throw noSuchCell(pipeline, cell);
        const done = (await cellHistories(ws, pipeline.name)).get(cell)?.lastSucceeded;
        if (!done?.artifact) throw new Error(`cell "${cell}" has no output yet: run \`tracebook run ${name} --cell ${cell}\``);
        const described = await ws.rows<{ column_name: string; column_type: string }>("describe select * from read_parquet(?)", [done.artifact]);
        const available = described.map((c) => c.column_name);
        // DECIMAL (amounts in base units) would come back as doubles: as text they stay exact.
        const decimal = new Set(described.filter((c) => c.column_type.startsWith("DECIMAL")).map((c) => c.column_name));
        const wanted = opts.columns ? opts.columns.split(",").map((c) => c.trim()).filter(Boolean) : available;
        const unknown = wanted.filter((c) => !available.includes(c));
        if (unknown.length) throw new InputError(`${pipeline.name}.${cell} has no column ${unknown.map((c) => `"${c}"`).join(", ")} (${unknown.length === 1 ? didYouMean(unknown[0]!, available) : ""}columns: ${available.join(", ")})`);
        if (opts.query !== undefined && !available.includes("query")) throw new InputError(`${pipeline.name}.${cell} has no query column`);
        const where = opts.query !== undefined ? "where starts_with(query, ?)" : "";
        const limit = wholeNumber(opts.limit, "--limit");
        const params = [done.artifact, ...(opts.query !== undefined ? [opts.query] : []), limit];
        const rows = await ws.rows<Record<string, unknown>>(`select ${wanted.map((c) => (decimal.has(c) ? `${quoteIdent(c)}::varchar as ${quoteIdent(c)}` : quoteIdent(c))).join(", ")} from read_parquet(?) ${where} limit ?`, params);
        if (opts.json) return console.log(toJson(rows));
        const state = (await pipelineStatus(ws, pipeline)).find((s) => s.cell === cell)!;
        console.log(`${pipeline.name}.${cell} (${state.kind}): ${plural(Number(done.rows), "row")}, data version ${done.data_version?.slice(0, 12)}, ${state.state}${state.reason ? ` — ${state.reason}` : ""}`);
        // Content hashes are unreadable at full length in a table: their first 12 characters identify them.
        const short = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "string" && /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 12)}…` : v])));
        console.log(formatTable(short, { maxRows: limit, columns: wanted }));
      });
    });
}

/**
 * One line per cell as it starts and ends; a progress bar for long cells that report progress.
 * Its columns are as wide as the pipeline's longest cell name and kind, so they line up.
 */
export function humanPrinter(pipeline: Pipeline): (e: GraphEvent) => void {
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  const cells = [...pipeline.cells];
  const widest = (words: string[]) => Math.max(14, ...words.map((w) => w.length));
  const cellWidth = widest(cells.map(([name]) => name));
  const kindWidth = widest(cells.map(([, c]) => c.kind));
  const pad = (cell: string, kind: string) => `${cell.padEnd(cellWidth)} ${kind.padEnd(kindWidth)}`;
  return (e) => {
    switch (e.event) {
      case "cell-started": return console.log(`▶ ${pad(e.cell, e.kind)} ${e.reason}`);
      case "cell-log": return console.log(`  ${e.cell}: ${e.message}`);
      case "cell-progress": {
        const bar = bars.get(e.cell) ?? progressBar(`  ${e.cell}${e.label ? ` ${e.label}` : ""}`);
        bars.set(e.cell, bar);
        return bar.update(e.done, e.total);
      }
      case "cell-finished":
        bars.get(e.cell)?.stop();
        return console.log(`✓ ${pad(e.cell, e.kind)} ${e.seconds.toFixed(2)} s, ${plural(e.rows, "row")}, output ${e.changed ? "changed" : "unchanged"}${e.cached ? " (reused a cached artifact)" : ""}`);
      case "cell-fresh": return console.log(`= ${pad(e.cell, e.kind)} fresh`);
      case "cell-failed":
        bars.get(e.cell)?.stop();
        return console.log(`✗ ${pad(e.cell, e.kind)} ${e.error}`);
      case "cell-blocked": return console.log(`⊘ ${pad(e.cell, e.kind)} blocked: input ${e.by} failed`);
      case "cell-cancelled": return console.log(`■ ${pad(e.cell, e.kind)} cancelled`);
      default: return undefined;
    }
  };
}

/**
 * `tracebook status` with no pipeline: each pipeline this workspace has run, its states in a few
 * words and the cells that are not fresh (what a curator's decision or an edit left to run); its
 * cells in JSON as `status <pipeline> --json` gives them. A pipeline whose file cannot be found
 * or loaded says why, and the others are still told.
 */
async function everyPipeline(ws: Workspace, json: boolean | undefined): Promise<void> {
  const told = [];
  for (const p of await pipelinesRun(ws)) told.push(await statesOf(ws, p));
  if (json) return console.log(toJson({ pipelines: told }));
  if (!told.length) return console.log("this workspace: no pipeline has run yet");
  for (const t of told) {
    const waiting = t.cells.filter((c) => c.state !== "fresh");
    console.log(`${t.pipeline}: ${statesInWords(t)}${t.file ? ` (${t.file})` : ""}`);
    if (waiting.length) console.log(formatTable(waiting.map((c) => ({ cell: c.cell, kind: c.kind, state: c.state, reason: c.reason ?? "" })), { maxCell: 90, maxRows: 500 }));
  }
}
