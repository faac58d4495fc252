/**
 * The values a notebook's SQL takes (`${…}` in a ```sql block or a sql`…` template), the same on
 * the page (DuckDB-wasm) and on the server (a ```sql server block): a scalar is a bound parameter
 * (`?`), a list of scalars a list of bound parameters (`[?, ?]`: `contributor in (select
 * unnest(${picked}))`), and `cellTable(name)` the name of a pipeline cell's table, written as a
 * quoted identifier (a table chosen at run time, among the cells the catalog lists). No value is
 * ever spliced into the SQL as text. Runs in the browser too: no Node import here.
 */
import { quoteIdent } from "../store/sql-quote.ts";

/** A scalar as both DuckDBs bind it (a number is a DOUBLE on both: DuckDB-wasm binds every number so). */
export type SqlScalar = string | number | boolean | null;
/** A parameter as it travels to the server (JSON): a scalar, a list of scalars, or a cell's table. */
export type SqlParam = SqlScalar | SqlScalar[] | { table: string };

/** `cellTable(name)`: the table of the pipeline cell `name`, in a query's `${…}`. */
export class CellTable {
  constructor(readonly table: string) {
    if (typeof table !== "string" || !table) throw new TypeError(`cellTable: expected a cell's name, got ${JSON.stringify(table)}`);
  }
}

export function cellTable(name: string): CellTable {
  return new CellTable(name);
}

/** A value a query cannot take: which `${…}` (counted from 1) and why. */
export class SqlParamError extends Error {}

function scalar(value: unknown, where: string): SqlScalar {
  if (value === undefined || value === null) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new SqlParamError(`${where}: ${value} is not a number SQL can bind`);
    return value;
  }
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  throw new SqlParamError(`${where}: a ${Array.isArray(value) ? "list inside a list" : typeof value === "object" ? "JavaScript object" : typeof value} cannot be bound (a string, number, boolean, date, null, a list of those, or cellTable(name))`);
}

/** Values for a query's `?` placeholders (`db.query(text, params)`): each one scalar. */
export function sqlScalars(params: readonly unknown[]): SqlScalar[] {
  return params.map((value, i) => {
    if (Array.isArray(value) || value instanceof CellTable) throw new SqlParamError(`value number ${i + 1}: one ? takes one value (in a sql\`…\` template, a list or cellTable(name) can stand for more)`);
    return scalar(value, `value number ${i + 1}`);
  });
}

/** The parameters as they travel: each a scalar, a list of scalars, or `{table}`. */
export function sqlParams(params: readonly unknown[]): SqlParam[] {
  return params.map((value, i) => {
    const where = `\${…} number ${i + 1}`;
    if (value instanceof CellTable) return { table: value.table };
    if (Array.isArray(value)) return value.map((v, k) => scalar(v, `${where}, item ${k + 1}`));
    return scalar(value, where);
  });
}

/** The same, from the wire (the server's `?params=`): `{table}` is a cell's table, any other object refused. */
export function sqlParamsFromJson(json: unknown): SqlParam[] {
  if (!Array.isArray(json)) throw new SqlParamError(`params: expected a JSON list, got ${JSON.stringify(json)?.slice(0, 80)}`);
  return json.map((value, i) => {
    const o = value as Record<string, unknown> | null;
    if (o && typeof o === "object" && !Array.isArray(o)) {
      if (Object.keys(o).length !== 1 || typeof o.table !== "string" || !o.table) throw new SqlParamError(`\${…} number ${i + 1}: an object is only {"table": "<cell>"}`);
      return { table: o.table };
    }
    return sqlParams([value])[0]!;
  });
}

export interface ExpandedSql {
  /** The SQL to run: `?` for each bound value, `[?, ?]` for a list, a quoted name for a cell's table. */
  text: string;
  /** The same with NULL for each value (DuckDB-wasm's getTableNames refuses placeholders). */
  probe: string;
  /** The bound values, in order. */
  values: SqlScalar[];
  /** The cells named by cellTable. */
  tables: string[];
}

/** A query's literal parts (one more than its `${…}`) and its parameters → the SQL to run and the values to bind. */
export function expandSql(parts: readonly string[], params: readonly SqlParam[]): ExpandedSql {
  if (parts.length !== params.length + 1) throw new SqlParamError(`the query takes ${parts.length - 1} value${parts.length === 2 ? "" : "s"}, got ${params.length}`);
  let text = parts[0]!, probe = parts[0]!;
  const values: SqlScalar[] = [];
  const tables: string[] = [];
  params.forEach((p, i) => {
    if (Array.isArray(p)) {
      // An empty list is `[]` (DuckDB casts it to the list type it meets).
      text += `[${p.map(() => "?").join(", ")}]`;
      probe += `[${p.map(() => "NULL").join(", ")}]`;
      values.push(...p);
    } else if (p !== null && typeof p === "object") {
      const name = quoteIdent(p.table);
      text += name;
      probe += name;
      tables.push(p.table);
    } else {
      text += "?";
      probe += "NULL";
      values.push(p);
    }
    text += parts[i + 1]!;
    probe += parts[i + 1]!;
  });
  return { text, probe, values, tables };
}

/**
 * The text a parser reads to find the tables a query names before its values are known: each
 * `${…}` as an identifier, which parses wherever a value or a table may stand. The caller drops
 * PARAM_NAME from the names it finds.
 */
export function parseProbe(parts: readonly string[]): string {
  return parts.join(quoteIdent(PARAM_NAME));
}

export const PARAM_NAME = "__tb_param";
