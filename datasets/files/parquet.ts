import { DuckDBInstance, JSDuckDBValueConverter, type DuckDBDataChunk, type DuckDBResult } from "@duckdb/node-api";
import { InputError } from "../../cells/datanet/errors.ts";
import { EMPTY_FILE, checkFile, type RawRecord, type RecordSet } from "./types.ts";

/**
 * Read a Parquet file through a throwaway in-memory DuckDB, streamed: the columns and the first
 * chunk of rows now, the rest as iterated, so a large file is not held in memory as objects. A
 * reader that stops early calls `close`.
 */
export async function readParquet(file: string): Promise<RecordSet> {
  await checkFile(file);
  // read_parquet treats its argument as a glob pattern and offers no escape, so a name like
  // "a*.parquet" would silently pull in sibling files.
  if (/[*?[]/.test(file)) {
    throw new InputError("file name contains glob characters (*, ?, [); rename the file", { file });
  }

  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    connection.closeSync();
    instance.closeSync();
  };
  // DuckDB appends a caret diagram of our own query; only the first line helps the user.
  const failed = (err: unknown) => new InputError(`cannot read as Parquet: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim()}`, { file });
  let columns: string[];
  let result: DuckDBResult;
  let first: DuckDBDataChunk | null;
  try {
    result = await connection.stream("select * from read_parquet(?)", [file]);
    columns = result.columnNames();
    first = await result.fetchChunk();
  } catch (err) {
    close();
    throw failed(err);
  }
  const dup = columns.find((name, i) => columns.indexOf(name) !== i);
  const refused = dup !== undefined ? new InputError("duplicate column name", { file, field: dup })
    : !first?.rowCount ? new InputError(EMPTY_FILE, { file }) : null;
  if (refused) {
    close();
    throw refused;
  }
  const fetch = () => result.fetchChunk().catch((err) => Promise.reject(failed(err)));

  async function* records(): AsyncGenerator<RawRecord> {
    let row = 0;
    try {
      for (let chunk: DuckDBDataChunk | null = first; chunk?.rowCount; chunk = await fetch()) {
        for (const values of chunk.convertRows(JSDuckDBValueConverter)) {
          yield { row: ++row, values: normalize(Object.fromEntries(columns.map((c, i) => [c, values[i]]))) as Record<string, unknown> };
        }
      }
    } finally {
      close();
    }
  }
  return { file, format: "parquet", columns, records: records(), close };
}

/**
 * BIGINT columns come back as bigint even for small values; callers expect numbers where that
 * is lossless. Unsafe bigints stay bigint so the caller can reject them precisely. NaN and
 * Infinity pass through untouched for the same reason.
 */
function normalize(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: normalize(v), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}
