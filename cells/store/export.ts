import fs from "node:fs";
import path from "node:path";
import type { Params, Workspace } from "./workspace.ts";
import { writeAtomically } from "./atomic.ts";
import { quoteLiteral } from "./sql-quote.ts";
import { InputError } from "../datanet/errors.ts";

export { quoteIdent, quoteLiteral } from "./sql-quote.ts";

export type ExportFormat = "parquet" | "arrow" | "csv" | "jsonl";

/**
 * `.parquet` → Parquet; `.arrow`, `.feather`, `.ipc` → Arrow IPC file format; `.csv` → CSV with
 * a header (what a reviewer opens in a spreadsheet); `.jsonl`, `.ndjson` → one JSON object a line.
 */
export function exportFormatOf(file: string): ExportFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".parquet") return "parquet";
  if (ext === ".arrow" || ext === ".feather" || ext === ".ipc") return "arrow";
  if (ext === ".csv") return "csv";
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  throw new InputError(`${file}: cannot tell the export format from "${ext || "(no extension)"}"; use .parquet, .arrow, .csv or .jsonl`);
}

/**
 * COPY's options per format. Amounts are DECIMAL(38, 18) or HUGEINT base units: CSV and JSON
 * write them as their exact digits (a JSON number of 20 digits, which a reader that parses
 * numbers as doubles rounds; `::varchar` in the query keeps them text).
 */
const COPY_OPTIONS: Record<Exclude<ExportFormat, "arrow">, string> = {
  parquet: "format parquet, compression zstd",
  csv: "format csv, header true",
  jsonl: "format json",
};

export interface ExportResult {
  file: string;
  format: ExportFormat;
  rows: number;
}

/** Write a query's result to Parquet, Arrow IPC, CSV or JSON Lines: temp file, then rename. */
export async function exportQuery(
  ws: Workspace,
  sql: string,
  file: string,
  options: { format?: ExportFormat; params?: Params } = {},
): Promise<ExportResult> {
  const format = options.format ?? exportFormatOf(file);
  const target = path.resolve(file);
  const rows = await writeAtomically(target, async (tmp) => {
    if (format === "arrow") {
      // Arrow loads here, not with this module: quoteLiteral below is imported by nearly every command.
      const { tableToIPC } = await import("apache-arrow");
      const table = await ws.table(sql, options.params);
      fs.writeFileSync(tmp, tableToIPC(table, "file"));
      return table.numRows;
    }
    // COPY takes no bound parameters, so a parameterised query is materialised first.
    let source = `(${sql})`;
    if (options.params) {
      await ws.run(`create or replace temp table __tracebook_export as ${sql}`, options.params);
      source = "__tracebook_export";
    }
    try {
      const [row] = await ws.rows<{ Count: bigint }>(
        `copy ${source} to ${quoteLiteral(tmp)} (${COPY_OPTIONS[format]})`,
      );
      return Number(row?.Count ?? 0);
    } finally {
      if (options.params) await ws.run("drop table if exists __tracebook_export");
    }
  });
  return { file: target, format, rows };
}

