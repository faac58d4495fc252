import type { Workspace } from "./workspace.ts";

/** The column names of a relation (a table, view or quoted cell input), in order. */
export async function columnsOf(ws: Workspace, relation: string): Promise<string[]> {
  return (await ws.rows<{ column_name: string }>(`describe ${relation}`)).map((c) => c.column_name);
}

/** `column`, or `null as column` when the relation lacks it: for optional payload fields. */
export function columnOrNull(columns: readonly string[], column: string): string {
  return columns.includes(column) ? column : `null as ${column}`;
}
