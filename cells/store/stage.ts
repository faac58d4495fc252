import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Workspace } from "./workspace.ts";
import { quoteLiteral } from "./export.ts";

/**
 * Characters written to the staging file per write: one string for every row would pass V8's
 * limit (2²⁹ characters) at about a million rows of text, as 20,000 paid inferences traced at
 * once give.
 */
const CHUNK_CHARS = 1 << 23;

/**
 * Load rows computed in JS into a temp table, fast: through a newline-delimited JSON file
 * read by DuckDB in one statement (binding one parameter per value, or appending value by
 * value, is an order of magnitude slower for tables of 10⁵ rows). Column order is kept. The
 * file is written in chunks, so the number of rows is bounded by the disk, not by a string.
 */
export async function stageRows(ws: Workspace, table: string, columns: readonly [string, string][], rows: readonly unknown[][]): Promise<void> {
  const file = path.join(ws.scratchDir(), `stage-${randomUUID()}.ndjson`);
  try {
    const names = columns.map(([c]) => c);
    const fd = fs.openSync(file, "w");
    try {
      let chunk: string[] = [], size = 0;
      const flush = () => {
        const bytes = Buffer.from(chunk.join(""), "utf8");
        for (let at = 0; at < bytes.length;) at += fs.writeSync(fd, bytes, at);
        chunk = [];
        size = 0;
      };
      const lineOf = jsonLine(names);
      for (const r of rows) {
        const line = lineOf(r);
        if (size + line.length > CHUNK_CHARS && chunk.length) flush();
        chunk.push(line);
        size += line.length;
      }
      if (!rows.length) chunk.push("\n");
      flush();
    } finally {
      fs.closeSync(fd);
    }
    const spec = `{${columns.map(([c, t]) => `${quoteLiteral(c)}: ${quoteLiteral(t)}`).join(", ")}}`;
    await ws.run(`create or replace temp table ${table} as select ${names.map((c) => `"${c}"`).join(", ")} from read_json(${quoteLiteral(file)}, format = 'newline_delimited', columns = ${spec})`);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * A row as the line `JSON.stringify({column: value, …})` writes (a missing value as null), made
 * value by value: no object per row, which staged 1.46 million rows of influence at half the
 * speed and with much more garbage to collect.
 */
export function jsonLine(names: readonly string[]): (row: readonly unknown[]) => string {
  if (!names.length) return () => "{}\n";
  const keys = names.map((c, i) => `${i ? "," : "{"}${JSON.stringify(c)}:`);
  return (row) => {
    let line = "";
    for (let i = 0; i < keys.length; i++) line += keys[i]! + JSON.stringify(row[i] ?? null);
    return `${line}}\n`;
  };
}
