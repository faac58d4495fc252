import { DuckDBTypeId } from "@duckdb/node-api";
import type { Params, Workspace } from "./workspace.ts";
import { quoteIdent as q } from "./export.ts";

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
  const dicts: string[] = [];
  try {
    const head = await ws.connection.runAndReadAll(`select * from ${t} limit 0`);
    const names = head.columnNames(), types = head.columnTypes();
    const wrong = repeated.filter((c) => types[names.indexOf(c)]?.typeId !== DuckDBTypeId.VARCHAR);
    if (wrong.length) throw new Error(`repeatedRows: ${wrong.join(", ")} is not a VARCHAR column of the query (${names.join(", ")})`);
    const coded = names.filter((n) => repeated.includes(n));
    const values: (string | null)[][] = [];
    for (const [i, c] of coded.entries()) {
      const d = `${t}_d${i}`;
      dicts.push(d);
      await ws.run(`create temp table ${d} as select v, (row_number() over (order by v) - 1)::integer as code from (select distinct ${q(c)}::varchar as v from ${t} where ${q(c)} is not null)`);
      values.push(((await ws.connection.runAndReadAll(`select v from ${d} order by code`)).getColumnsJS()[0] ?? []) as string[]);
    }
    const select = names.map((n) => (coded.includes(n) ? `d${coded.indexOf(n)}.code as ${q(n)}` : `${t}.${q(n)}`)).join(", ");
    const joins = coded.map((c, i) => `left join ${dicts[i]} d${i} on d${i}.v = ${t}.${q(c)}::varchar`).join(" ");
    const columns = (await ws.connection.runAndReadAll(`select ${select} from ${t} ${joins} order by ${t}.rowid`)).getColumnsJS();
    const n = columns[0]?.length ?? 0;
    const dictionaryOf = names.map((name) => (coded.includes(name) ? values[coded.indexOf(name)]! : null));
    const out = new Array<T>(n);
    for (let r = 0; r < n; r++) {
      const row: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) {
        const v = columns[i]![r], dictionary = dictionaryOf[i];
        row[names[i]!] = dictionary && v !== null ? dictionary[v as number] : v;
      }
      out[r] = row as T;
    }
    return out;
  } finally {
    for (const d of dicts) await ws.run(`drop table if exists ${d}`);
    await ws.run(`drop table if exists ${t}`);
  }
}
