import { Dictionary, Float64, Int32, Table, Utf8, makeData, makeVector, vectorFromArray, type Vector } from "apache-arrow";
import { DuckDBTypeId, type DuckDBConnection, type DuckDBType, type DuckDBValue } from "@duckdb/node-api";
import { readerToArrow, uniqueName } from "./arrow.ts";
import { quoteIdent as q } from "./export.ts";
import { isTyped, type TypedColumn } from "./typed-columns.ts";
import { dictionaryCodes } from "./dictionary-codes.ts";

/** Below this many rows a table is sent as it is (dictionaryEncodeStrings's rule). */
const MIN_ROWS = 64;
/** Columns served as text whose text DuckDB's cast to VARCHAR gives exactly (readerToArrow: String(value)). */
const TEXT = new Set([DuckDBTypeId.VARCHAR, DuckDBTypeId.DECIMAL, DuckDBTypeId.HUGEINT]);

/**
 * A Parquet artifact as the notebooks receive it: the table `dictionaryEncodeStrings(readerToArrow(…))`
 * gives (the same columns, types and values; each string column whose values repeat, at most one
 * distinct value per two rows, dictionary-encoded), with the repeated strings encoded by DuckDB.
 * Reading every string of a tracin table into JS and encoding it there took 57 s for 1.5 million
 * rows (22,401 paid inferences × top 20 and the groups): here JS sees each distinct string once
 * and the rest as 32-bit codes. The notebook server keeps what this makes on disk
 * (cells/notebooks/served-cache.ts): a change to the table it makes must bump FORMAT there.
 */
export async function parquetAsArrow(connection: DuckDBConnection, file: string, options: { columns?: readonly string[] } = {}): Promise<Table> {
  const select = options.columns ? await projection(connection, file, options.columns) : "*";
  return queryAsArrow(connection, `select ${select} from read_parquet(?)`, [file]);
}

/**
 * A query's result as parquetAsArrow makes a table of an artifact (the same types and encodings,
 * in the query's order): a notebook's server query answers the page as its tables come to it.
 */
export async function queryAsArrow(connection: DuckDBConnection, query: string, params: DuckDBValue[] = [], types?: (DuckDBType | undefined)[]): Promise<Table> {
  const t = `__tb_served_${Math.random().toString(36).slice(2, 10)}`;
  await connection.run(`create temp table ${t} as ${query}`, params, types as DuckDBType[] | undefined);
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
    const numeric = plain.filter((i) => isTyped(types[i]!.typeId));
    const typed = dictionaries.length || numeric.length ? await dictionaryCodes(connection, t, dictionaries.map((i) => names[i]!), numeric.map((i) => names[i]!)) : null;
    // The other columns exactly as readerToArrow gives them (DECIMAL as exact text, and so on).
    const other = plain.filter((i) => !isTyped(types[i]!.typeId));
    const rest = other.length ? readerToArrow(await connection.runAndReadAll(`select ${other.map((i) => q(names[i]!)).join(", ")} from ${t} order by rowid`)) : null;
    const vectors: Record<string, Vector> = {};
    for (let i = 0; i < names.length; i++) {
      const name = uniqueName(names[i]!, vectors);
      const k = dictionaries.indexOf(i);
      vectors[name] = k >= 0 ? dictionaryVector(typed!.dictionaries[k]!, typed!.codes[k]!, n)
        : numeric.includes(i) ? numericVector(typed!.numeric[numeric.indexOf(i)]!, n)
        : rest!.getChildAt(other.indexOf(i))!;
    }
    return new Table(vectors);
  } finally {
    await connection.run(`drop table if exists ${t}`);
  }
}

/** A column the caller asked for is not in the file. */
export class UnknownColumnsError extends Error {}

/**
 * The select list of a projection: the columns asked for, in the file's order (so the same set
 * asked in another order is the same table); unknown names refused, naming what the file has.
 */
async function projection(connection: DuckDBConnection, file: string, columns: readonly string[]): Promise<string> {
  if (!columns.length) throw new UnknownColumnsError("no columns asked for");
  const names = (await connection.runAndReadAll("select * from read_parquet(?) limit 0", [file])).columnNames();
  const unknown = columns.filter((c) => !names.includes(c));
  if (unknown.length) throw new UnknownColumnsError(`no column ${unknown.map((c) => JSON.stringify(c)).join(", ")} (it has ${names.join(", ")})`);
  return names.filter((n) => columns.includes(n)).map(q).join(", ");
}

/** A string column as a dictionary vector: its distinct values once, then a code per row (null stays null). */
function dictionaryVector(values: string[], codes: TypedColumn, n: number): Vector {
  // A Dictionary type apiece: the type carries the dictionary's id in the IPC stream.
  return makeVector(makeData({ type: new Dictionary(new Utf8(), new Int32()), length: n, nullCount: codes.nulls, nullBitmap: codes.valid ?? undefined, data: codes.values as Int32Array, dictionary: vectorFromArray(values, new Utf8()) }));
}

/** A typedColumns column as the Arrow vector readerToArrow makes of it (INTEGER: Int32, DOUBLE: Float64). */
function numericVector(column: TypedColumn, n: number): Vector {
  // The bitmap padded to 64 bytes, as vectorFromArray's builder pads it: the same bytes over the wire.
  const padded = column.valid && new Uint8Array(Math.ceil(column.valid.length / 64) * 64);
  padded?.set(column.valid!);
  const nulls = { length: n, nullCount: column.nulls, nullBitmap: padded ?? undefined };
  return column.values instanceof Int32Array
    ? makeVector(makeData({ type: new Int32(), data: column.values, ...nulls }))
    : makeVector(makeData({ type: new Float64(), data: column.values, ...nulls }));
}
