import {
  Binary, Bool, DataType, DateDay, Dictionary, Field, FixedSizeList, Float32, Float64, Int16, Int32, Int64, Int8, List, Null,
  Table, TimestampMillisecond, Uint16, Uint32, Uint64, Uint8, Utf8, makeData, makeVector, vectorFromArray,
  type Vector,
} from "apache-arrow";
import { DuckDBTypeId, type DuckDBResultReader, type DuckDBType } from "@duckdb/node-api";

/**
 * DuckDB node-api has no Arrow export, so results are converted in JS with explicit Arrow
 * types (inference would dictionary-encode strings and guess numbers). Exact integers stay
 * exact: BIGINT → Int64, HUGEINT and DECIMAL → decimal strings.
 */
export function readerToArrow(reader: DuckDBResultReader): Table {
  const names = reader.columnNames();
  const types = reader.columnTypes();
  const columns = reader.getColumnsJS();
  // getColumnsJS turns DECIMAL into a double (350830392121524465 → …500): amounts are DECIMAL(38, 0)
  // in artifacts, so those columns are read as DuckDB values and written as their exact text (no
  // chunk, so no column, when the result has no rows).
  const exact = types.some((t) => t.typeId === DuckDBTypeId.DECIMAL) ? reader.getColumns() : null;
  const vectors: Record<string, Vector> = {};
  names.forEach((name, i) => {
    const values = types[i]!.typeId === DuckDBTypeId.DECIMAL ? (exact![i] ?? []).map((v) => (v === null ? null : String(v))) : columns[i] ?? [];
    vectors[uniqueName(name, vectors)] = toVector(values, types[i]!);
  });
  return new Table(vectors);
}

/**
 * The same table with each string column whose values repeat (at most one distinct value per
 * two rows) dictionary-encoded. A tracin table repeats its query id, contribution, contributor,
 * snippet and model id on every row: mail's influence table goes from 32.4 MB to 6.1 MB over
 * the wire, values unchanged. Readers (DuckDB-wasm, apache-arrow) see the same strings. The
 * notebook server gets the same table from DuckDB without this pass (served-arrow.ts), and is
 * tested against it.
 */
export function dictionaryEncodeStrings(table: Table): Table {
  if (table.numRows < 64) return table;
  const columns: Record<string, Vector> = {};
  let changed = false;
  for (const field of table.schema.fields) {
    const column = table.getChild(field.name)!;
    if (DataType.isUtf8(field.type)) {
      const values = column.toArray() as unknown as (string | null)[];
      if (new Set(values).size <= values.length / 2) {
        columns[field.name] = vectorFromArray(values, new Dictionary(new Utf8(), new Int32()));
        changed = true;
        continue;
      }
    }
    columns[field.name] = column;
  }
  return changed ? new Table(columns) : table;
}

/** `name`, or `name_2`, `name_3`… when a column of that name is already taken (a join's duplicate names). */
export function uniqueName(name: string, taken: Record<string, unknown>): string {
  let candidate = name;
  for (let n = 2; candidate in taken; n++) candidate = `${name}_${n}`;
  return candidate;
}

export function arrowType(type: DuckDBType): DataType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN: return new Bool();
    case DuckDBTypeId.TINYINT: return new Int8();
    case DuckDBTypeId.SMALLINT: return new Int16();
    case DuckDBTypeId.INTEGER: return new Int32();
    case DuckDBTypeId.BIGINT: return new Int64();
    case DuckDBTypeId.UTINYINT: return new Uint8();
    case DuckDBTypeId.USMALLINT: return new Uint16();
    case DuckDBTypeId.UINTEGER: return new Uint32();
    case DuckDBTypeId.UBIGINT: return new Uint64();
    case DuckDBTypeId.FLOAT: return new Float32();
    case DuckDBTypeId.DOUBLE: return new Float64();
    case DuckDBTypeId.DATE: return new DateDay();
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return new TimestampMillisecond();
    case DuckDBTypeId.TIMESTAMP_TZ: return new TimestampMillisecond("UTC");
    case DuckDBTypeId.BLOB: return new Binary();
    case DuckDBTypeId.SQLNULL: return new Null();
    case DuckDBTypeId.LIST:
      return new List(new Field("item", arrowType(type.valueType), true));
    case DuckDBTypeId.ARRAY:
      return new FixedSizeList(type.length, new Field("item", arrowType(type.valueType), true));
    default:
      return new Utf8(); // VARCHAR, HUGEINT, DECIMAL, UUID, STRUCT, MAP, ...: text is exact and portable
  }
}

function toVector(values: unknown[], type: DuckDBType): Vector {
  const target = arrowType(type);
  if (target instanceof List && (target.valueType instanceof Float32 || target.valueType instanceof Float64)) {
    return floatListVector(values as (number[] | null)[], target);
  }
  return vectorFromArray(values.map((v) => toArrowValue(v, target)), target);
}

function toArrowValue(value: unknown, type: DataType): unknown {
  if (value === null || value === undefined) return null;
  if (type instanceof Utf8) return typeof value === "object" && !(value instanceof Date) ? stringify(value) : String(value);
  if (type instanceof TimestampMillisecond) return (value as Date).getTime();
  if (type instanceof List || type instanceof FixedSizeList) {
    const child = type.children[0]!.type;
    return (value as unknown[]).map((v) => toArrowValue(v, child));
  }
  return value;
}

function stringify(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}

/** Features dominate table size: build float lists straight from typed arrays. */
function floatListVector(values: (number[] | null)[], type: List): Vector {
  const offsets = new Int32Array(values.length + 1);
  let total = 0;
  values.forEach((v, i) => {
    total += v?.length ?? 0;
    offsets[i + 1] = total;
  });
  const Items = type.valueType instanceof Float32 ? Float32Array : Float64Array;
  const items = new Items(total);
  const valid = new Uint8Array(Math.ceil(values.length / 8));
  let nulls = 0;
  values.forEach((v, i) => {
    if (v === null || v === undefined) nulls++;
    else {
      items.set(v, offsets[i]!);
      valid[i >> 3]! |= 1 << (i & 7);
    }
  });
  const child = makeData({ type: type.valueType, length: total, data: items });
  return makeVector(
    makeData({ type, length: values.length, nullCount: nulls, nullBitmap: nulls ? valid : undefined, valueOffsets: offsets, child }),
  );
}
