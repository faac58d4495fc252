import { Dictionary, Float64, Int32, Table, Utf8, makeData, makeVector, vectorFromArray, type Vector } from "apache-arrow";
import { DuckDBTypeId, type DuckDBConnection } from "@duckdb/node-api";
import { readerToArrow, uniqueName } from "./arrow.ts";
import { quoteIdent as q } from "./export.ts";
import { typedColumns, type TypedColumn } from "./typed-columns.ts";

/** Below this many rows a table is sent as it is (dictionaryEncodeStrings's rule). */
const MIN_ROWS = 64;
/** Columns copied as typed arrays: readerToArrow gives them as Int32 and Float64. */
const NUMERIC = new Set([DuckDBTypeId.INTEGER, DuckDBTypeId.DOUBLE]);
/** Columns served as text whose text DuckDB's cast to VARCHAR gives exactly (readerToArrow: String(value)). */
const TEXT = new Set([DuckDBTypeId.VARCHAR, DuckDBTypeId.DECIMAL, DuckDBTypeId.HUGEINT]);

/**
 * A Parquet artifact as the notebooks receive it: the table `dictionaryEncodeStrings(readerToArrow(…))`
 * gives (the same columns, types and values; each string column whose values repeat, at most one
 * distinct value per two rows, dictionary-encoded), with the repeated strings encoded by DuckDB.
 * Reading every string of a tracin table into JS and encoding it there took 57 s for 1.5 million
 * rows (22,401 paid inferences × top 20 and the groups): here JS sees each distinct string once
 * and the rest as 32-bit codes.
 */
export async function parquetAsArrow(connection: DuckDBConnection, file: string): Promise<Table> {
  const t = `__tb_served_${Math.random().toString(36).slice(2, 10)}`;
  await connection.run(`create temp table ${t} as select * from read_parquet(?)`, [file]);
  try {
    const head = await connection.runAndReadAll(`select * from ${t} limit 0`);
    const names = head.columnNames(), types = head.columnTypes();
    const [count] = (await connection.runAndReadAll(`select count(*)::integer as n from ${t}`)).getRowObjectsJS() as { n: number }[];
    const n = count!.n;
    // Which text columns repeat enough to send as a dictionary (distinct values, null counted as
    // one): strings, and the exact integers readerToArrow writes as their text (amounts in base units).
    const strings = names.map((_, i) => i).filter((i) => TEXT.has(types[i]!.typeId));
    const encoded = new Set<number>();
    if (n >= MIN_ROWS && strings.length) {
      const distinct = (await connection.runAndReadAll(`select ${strings.map((i) => `(count(distinct ${q(names[i]!)}) + max(case when ${q(names[i]!)} is null then 1 else 0 end))::integer`).join(", ")} from ${t}`)).getRowsJS()[0]!;
      strings.forEach((i, k) => { if (Number(distinct[k]) <= n / 2) encoded.add(i); });
    }
    const plain = names.map((_, i) => i).filter((i) => !encoded.has(i));
    // The dictionary codes and the INTEGER and DOUBLE columns (scores, shares, ranks) in one
    // ordered read, as typed arrays: millions of values, no JS value made for any.
    const dictionaries = [...encoded];
    const numeric = plain.filter((i) => NUMERIC.has(types[i]!.typeId));
    const typed = await dictionaryCodesAnd(connection, t, dictionaries.map((i) => names[i]!), numeric.map((i) => names[i]!));
    // The other columns exactly as readerToArrow gives them (DECIMAL as exact text, and so on).
    const other = plain.filter((i) => !NUMERIC.has(types[i]!.typeId));
    const rest = other.length ? readerToArrow(await connection.runAndReadAll(`select ${other.map((i) => q(names[i]!)).join(", ")} from ${t} order by rowid`)) : null;
    const vectors: Record<string, Vector> = {};
    for (let i = 0; i < names.length; i++) {
      const name = uniqueName(names[i]!, vectors);
      vectors[name] = encoded.has(i) ? typed.dictionaries[dictionaries.indexOf(i)]!
        : numeric.includes(i) ? numericVector(typed.numeric[numeric.indexOf(i)]!, n)
        : rest!.getChildAt(other.indexOf(i))!;
    }
    return new Table(vectors);
  } finally {
    await connection.run(`drop table if exists ${t}`);
  }
}

/**
 * String columns as dictionary vectors (the distinct values once, then a code per row; null stays
 * null), and INTEGER and DOUBLE columns as typed arrays, read in one pass in row order.
 */
async function dictionaryCodesAnd(connection: DuckDBConnection, t: string, strings: string[], numbers: string[]): Promise<{ dictionaries: Vector[]; numeric: TypedColumn[] }> {
  if (!strings.length && !numbers.length) return { dictionaries: [], numeric: [] };
  const dicts = strings.map((_, k) => `${t}_dict${k}`);
  try {
    const values: string[][] = [];
    for (const [k, column] of strings.entries()) {
      await connection.run(`create or replace temp table ${dicts[k]} as select v, (row_number() over (order by v) - 1)::integer as code from (select distinct ${q(column)}::varchar as v from ${t} where ${q(column)} is not null)`);
      values.push(((await connection.runAndReadAll(`select v from ${dicts[k]} order by code`)).getColumnsJS()[0] ?? []) as string[]);
    }
    const select = [...strings.map((_, k) => `d${k}.code`), ...numbers.map((c) => `${t}.${q(c)}`)].join(", ");
    const joins = strings.map((c, k) => `left join ${dicts[k]} d${k} on d${k}.v = ${t}.${q(c)}::varchar`).join(" ");
    const { columns, rows } = await typedColumns(connection, `select ${select} from ${t} ${joins} order by ${t}.rowid`);
    return {
      dictionaries: strings.map((_, k) => {
        const codes = columns[k]!;
        // A Dictionary type apiece: the type carries the dictionary's id in the IPC stream.
        return makeVector(makeData({ type: new Dictionary(new Utf8(), new Int32()), length: rows, nullCount: codes.nulls, nullBitmap: codes.valid ?? undefined, data: codes.values as Int32Array, dictionary: vectorFromArray(values[k]!, new Utf8()) }));
      }),
      numeric: columns.slice(strings.length),
    };
  } finally {
    for (const d of dicts) await connection.run(`drop table if exists ${d}`);
  }
}

/** An INTEGER or DOUBLE column as the Arrow vector readerToArrow makes of it (Int32, Float64). */
function numericVector(column: TypedColumn, n: number): Vector {
  // The bitmap padded to 64 bytes, as vectorFromArray's builder pads it: the same bytes over the wire.
  const padded = column.valid && new Uint8Array(Math.ceil(column.valid.length / 64) * 64);
  padded?.set(column.valid!);
  const nulls = { length: n, nullCount: column.nulls, nullBitmap: padded ?? undefined };
  return column.values instanceof Int32Array
    ? makeVector(makeData({ type: new Int32(), data: column.values, ...nulls }))
    : makeVector(makeData({ type: new Float64(), data: column.values, ...nulls }));
}
