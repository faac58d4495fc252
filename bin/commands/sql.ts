import type { Command } from "commander";
import { withWorkspace } from "../cli.ts";
import { formatTable, toJson } from "../output.ts";
import { exportQuery } from "../../cells/store/export.ts";
import { checkReadOnly, readOnlyRows } from "../../cells/store/readonly.ts";
import type { Workspace } from "../../cells/store/workspace.ts";
import { wholeNumber } from "../numbers.ts";
import { plural } from "../../cells/graph/plural.ts";
import { staleNote, withCellTables } from "../../cells/graph/cell-tables.ts";

export function registerSql(program: Command): void {
  program
    .command("sql")
    .description("run a SQL query on the workspace and print a readable table (read only: one SELECT or EXPLAIN); a cell's current output is the table <pipeline>.<cell>, as mail.influence")
    .argument("<query>", "SQL (DuckDB dialect)")
    .option("--json", "print rows as JSON")
    .option("--max-rows <n>", "rows to print", "50")
    .option("--out <file>", "write the full result to .parquet, .arrow, .csv or .jsonl instead of printing it")
    .action(async (query: string, opts: { json?: boolean; maxRows: string; out?: string }, command: Command) => {
      await withWorkspace(command, async (ws) => withCellTables(ws, query, async (tables) => {
        // On standard error, so that --json stays parseable: what was queried is not up to date.
        for (const s of tables.stale) console.error(staleNote(s));
        if (opts.out) {
          await checkReadOnly(ws, query);
          const result = await exportQuery(ws, query, opts.out);
          console.log(opts.json ? toJson(result) : `Wrote ${plural(result.rows, "row")} to ${result.file} (${result.format})`);
          return;
        }
        const rows = await readOnlyRows<Record<string, unknown>>(ws, query);
        // No rows still has columns: the header and "(0 rows)" say the query ran and matched nothing.
        const columns = rows.length || opts.json ? undefined : await columnsOf(ws, query);
        console.log(opts.json ? toJson(rows) : formatTable(rows, { maxRows: wholeNumber(opts.maxRows, "--max-rows"), columns }));
      }));
    });
}

/** The columns a checked, read-only query returns (DuckDB's DESCRIBE of it); none when it cannot say. */
async function columnsOf(ws: Workspace, query: string): Promise<string[] | undefined> {
  try {
    return (await readOnlyRows<{ column_name: string }>(ws, `describe ${query.trim().replace(/;\s*$/, "")}`)).map((r) => r.column_name);
  } catch {
    return undefined; // EXPLAIN and the like: no description, printed as before
  }
}
