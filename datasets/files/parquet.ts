import { DuckDBInstance } from "@duckdb/node-api";
import { InputError } from "../../cells/datanet/errors.ts";
import { EMPTY_FILE, checkFile, type RawRecord, type RecordSet } from "./types.ts";

/** Read a Parquet file through a throwaway in-memory DuckDB. */
export async function readParquet(file: string): Promise<RecordSet> {
  await checkFile(file);
  // read_parquet treats its argument as a glob pattern and offers no escape, so a name like
  // "a*.parquet" would silently pull in sibling files.
  if (/[*?[]/.test(file)) {
    throw new InputError("file name contains glob characters (*, ?, [); rename the file", { file });
  }

  const instance = await DuckDBInstance.create(":memory:");
  let columns: string[];
  let rows: Record<string, unknown>[];
  try {
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll("select * from read_parquet(?)", [file]);
      columns = reader.columnNames();
      rows = reader.getRowObjectsJS() as Record<string, unknown>[];
    } catch (err) {
      // DuckDB appends a caret diagram of our own query; only the first line helps the user.
      const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
      throw new InputError(`cannot read as Parquet: ${reason}`, { file });
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }

  const dup = columns.find((name, i) => columns.indexOf(name) !== i);
  if (dup !== undefined) throw new InputError("duplicate column name", { file, field: dup });
  if (rows.length === 0) throw new InputError(EMPTY_FILE, { file });

  const records: RawRecord[] = rows.map((values, i) => ({
    row: i + 1,
    values: normalize(values) as Record<string, unknown>,
  }));
  return { file, format: "parquet", columns, records };
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
