import path from "node:path";
import Table from "cli-table3";
import { plural } from "../cells/graph/plural.ts";

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
  const body = rows.slice(0, maxRows).map((row) => columns.map((c) => cell(row[c], maxCell)));
  const more = rows.length > maxRows ? `\n… ${rows.length - maxRows} more rows (use --max-rows or --json)` : "";
  return `${boxed(columns, body)}\n(${plural(rows.length, "row")})${more}`;
}

/**
 * cli-table3 lays a table out with one `push.apply` of all its rows, which overflows the stack
 * past about 100,000 (`sql --max-rows 200000`). A longer table is drawn in parts of CHUNK rows:
 * each part measured alone, then all drawn at the widest width of each column, and joined where
 * one part's bottom border meets the next one's top.
 */
const CHUNK = 2_000;
function boxed(head: string[], body: string[][]): string {
  const draw = (rows: string[][], withHead: boolean, colWidths?: number[]) => {
    const table = new Table({ ...(withHead ? { head } : {}), ...(colWidths ? { colWidths } : {}), style: { head: [], border: [], compact: true }, wordWrap: false });
    table.push(...rows);
    return table.toString();
  };
  if (body.length <= CHUNK) return draw(body, true);
  const parts = Array.from({ length: Math.ceil(body.length / CHUNK) }, (_, i) => body.slice(i * CHUNK, (i + 1) * CHUNK));
  // The top border's segments are the columns' widths, padding included (what colWidths takes).
  const measured = parts.map((part, i) => draw(part, i === 0).split("\n")[0]!.slice(1, -1).split("┬").map((seg) => seg.length));
  const colWidths = head.map((_, c) => Math.max(...measured.map((w) => w[c]!)));
  return parts.map((part, i) => {
    const lines = draw(part, i === 0, colWidths).split("\n");
    return lines.slice(i === 0 ? 0 : 1, i === parts.length - 1 ? lines.length : -1).join("\n");
  }).join("\n");
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
