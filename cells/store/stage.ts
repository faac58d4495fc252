import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Workspace } from "./workspace.ts";
import { quoteLiteral } from "./export.ts";

/**
 * Load rows computed in JS into a temp table, fast: through a newline-delimited JSON file
 * read by DuckDB in one statement (binding one parameter per value, or appending value by
 * value, is an order of magnitude slower for tables of 10⁵ rows). Column order is kept.
 */
export async function stageRows(ws: Workspace, table: string, columns: readonly [string, string][], rows: readonly unknown[][]): Promise<void> {
  const file = path.join(ws.scratchDir(), `stage-${randomUUID()}.ndjson`);
  try {
    const names = columns.map(([c]) => c);
    fs.writeFileSync(file, rows.map((r) => JSON.stringify(Object.fromEntries(names.map((c, i) => [c, r[i] ?? null])))).join("\n") + "\n");
    const spec = `{${columns.map(([c, t]) => `${quoteLiteral(c)}: ${quoteLiteral(t)}`).join(", ")}}`;
    await ws.run(`create or replace temp table ${table} as select ${names.map((c) => `"${c}"`).join(", ")} from read_json(${quoteLiteral(file)}, format = 'newline_delimited', columns = ${spec})`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}
