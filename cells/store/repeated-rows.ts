import { DuckDBTypeId } from "@duckdb/node-api";
import type { Params, Workspace } from "./workspace.ts";
import { quoteIdent as q } from "./export.ts";
import { dictionaryCodes } from "./dictionary-codes.ts";

/**
 * The rows of a query exactly as `ws.rows` gives them (the same order, values and JS types), for
 * large results whose `repeated` string columns hold few distinct values: each distinct string is
 * decoded into JS once, and every row gets it by a 32-bit code DuckDB assigns. Decoding strings
 * one value at a time is most of what reading rows costs: on real mail with 21,201 paid
 * inferences, the report's 848,040 contribution rows (query, key, contributor and Datanet on
 * every row) took 6.6 s to decode against 1.9 s to query. Sums over the rows stay in JS, in the
 * order the query gives, so figures do not depend on DuckDB's parallel aggregation. The query's
 * columns must have distinct names.
 */
export async function repeatedRows<T>(ws: Workspace, sql: string, params: Params | undefined, repeated: readonly string[]): Promise<T[]> {
  const t = `__tb_repeated_${Math.random().toString(36).slice(2, 10)}`;
  // A table made from an ordered query keeps that order in its rowid.
  await ws.run(`create temp table ${t} as ${sql}`, params);
  try {
    const head = await ws.connection.runAndReadAll(`select * from ${t} limit 0`);
    const names = head.columnNames(), types = head.columnTypes();
    const wrong = repeated.filter((c) => types[names.indexOf(c)]?.typeId !== DuckDBTypeId.VARCHAR);
    if (wrong.length) throw new Error(`repeatedRows: ${wrong.join(", ")} is not a VARCHAR column of the query (${names.join(", ")})`);
    const coded = names.filter((n) => repeated.includes(n));
    if (!coded.length) return (await ws.connection.runAndReadAll(`select * from ${t} order by rowid`)).getRowObjectsJS() as T[];
    // The codes as typed arrays (no JS value per row), the other columns as ws.rows converts them.
    const { dictionaries, codes, rows: n } = await dictionaryCodes(ws.connection, t, coded);
    const others = names.filter((name) => !coded.includes(name));
    const plain = others.length ? (await ws.connection.runAndReadAll(`select ${others.map((o) => q(o)).join(", ")} from ${t} order by rowid`)).getColumnsJS() : [];
    const read = names.map((name): ((r: number) => unknown) => {
      const k = coded.indexOf(name);
      if (k < 0) {
        const column = plain[others.indexOf(name)]!;
        return (r) => column[r];
      }
      const { values: code, valid } = codes[k]!, dictionary = dictionaries[k]!;
      return valid ? (r) => (valid[r >> 3]! & (1 << (r & 7)) ? dictionary[code[r]!] : null) : (r) => dictionary[code[r]!];
    });
    const out = new Array<T>(n);
    for (let r = 0; r < n; r++) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) row[names[i]!] = read[i]!(r);
      out[r] = row as T;
    }
    return out;
  } finally {
    await ws.run(`drop table if exists ${t}`);
  }
}
