import path from "node:path";
import Table from "cli-table3";

/** A path relative to the working directory when it is inside it (shorter to read and to paste), else absolute. */
export function shortPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

/** JSON with bigints as numbers when exact, else as strings; typed arrays as lists. */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_k, v) => {
    if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    return v;
  }, indent);
}

/** A readable table of rows; long cells are cut so one e-mail body cannot flood the terminal. */
export function formatTable(rows: Record<string, unknown>[], options: { maxRows?: number; maxCell?: number; columns?: string[] } = {}): string {
  const maxRows = options.maxRows ?? 50;
  const maxCell = options.maxCell ?? 60;
  const columns = options.columns ?? (rows[0] ? Object.keys(rows[0]) : []);
  if (!columns.length) return "(no columns)";
  const table = new Table({ head: columns, style: { head: [], border: [], compact: true }, wordWrap: false });
  for (const row of rows.slice(0, maxRows)) table.push(columns.map((c) => cell(row[c], maxCell)));
  const more = rows.length > maxRows ? `\n… ${rows.length - maxRows} more rows (use --max-rows or --json)` : "";
  return `${table.toString()}\n(${rows.length} row${rows.length === 1 ? "" : "s"})${more}`;
}

function cell(value: unknown, max: number): string {
  let s: string;
  if (value === null || value === undefined) s = "NULL";
  else if (value instanceof Date) s = value.toISOString();
  else if (typeof value === "object") {
    const list = Array.isArray(value) ? value : ArrayBuffer.isView(value) ? Array.from(value as unknown as ArrayLike<number>) : null;
    s = list && list.length > 8 ? `[${list.slice(0, 6).map(String).join(", ")}, … ${list.length} items]` : toJson(value, 0);
  } else s = String(value);
  // Control characters in contributed text would corrupt the terminal.
  s = s.replace(/[\u0000-\u0008\u000b-\u001f\u007f\u009b]/g, "�").replace(/\s+/g, " ");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}
