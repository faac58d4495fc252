import type { DuckDBConnection } from "@duckdb/node-api";
import { quoteIdent as q } from "./export.ts";
import { typedColumns, type TypedColumn } from "./typed-columns.ts";

/** A table's columns as `dictionaryCodes` reads them, in the table's rowid order. */
export interface DictionaryCodes {
  /** Per string column, its distinct values in sorted order: code k is values[k]. */
  dictionaries: string[][];
  /** Per string column, a code per row (null where the value is null). */
  codes: TypedColumn[];
  /** The INTEGER and DOUBLE columns asked for, as they are. */
  numeric: TypedColumn[];
  rows: number;
}

/**
 * A table's string columns as dictionaries and 32-bit codes DuckDB assigns, beside its INTEGER
 * and DOUBLE columns, all read in one pass in rowid order (a table made from an ordered query
 * keeps that order): JS decodes each distinct string once and makes no value per row. What the
 * notebook server serves (served-arrow.ts) and what large reads into JS (repeated-rows.ts) are
 * made from.
 */
export async function dictionaryCodes(connection: DuckDBConnection, table: string, strings: readonly string[], numbers: readonly string[] = []): Promise<DictionaryCodes> {
  if (!strings.length && !numbers.length) throw new Error("dictionaryCodes: no column asked for");
  const dicts = strings.map((_, k) => `${table}_dict${k}`);
  try {
    const dictionaries: string[][] = [];
    for (const [k, column] of strings.entries()) {
      await connection.run(`create or replace temp table ${dicts[k]} as select v, (row_number() over (order by v) - 1)::integer as code from (select distinct ${q(column)}::varchar as v from ${table} where ${q(column)} is not null)`);
      dictionaries.push(((await connection.runAndReadAll(`select v from ${dicts[k]} order by code`)).getColumnsJS()[0] ?? []) as string[]);
    }
    const select = [...strings.map((_, k) => `d${k}.code`), ...numbers.map((c) => `${table}.${q(c)}`)].join(", ");
    const joins = strings.map((c, k) => `left join ${dicts[k]} d${k} on d${k}.v = ${table}.${q(c)}::varchar`).join(" ");
    const { columns, rows } = await typedColumns(connection, `select ${select} from ${table} ${joins} order by ${table}.rowid`);
    return { dictionaries, codes: columns.slice(0, strings.length), numeric: columns.slice(strings.length), rows };
  } finally {
    for (const d of dicts) await connection.run(`drop table if exists ${d}`);
  }
}
