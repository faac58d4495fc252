import type { DuckDBValue } from "@duckdb/node-api";
import type { Cell } from "./cell.ts";
import { perGroup } from "./per-group.ts";

/** A value to bind as a query parameter. Plain strings in a template name cells; wrap string values in `param()`. */
export class SqlParam {
  constructor(readonly value: string | number | boolean | bigint | null) {}
}
export const param = (value: string | number | boolean | bigint | null): SqlParam => new SqlParam(value);

type Part = string | SqlParam | number | boolean | bigint | null;
type Token = { ref: string; value?: undefined } | { ref?: undefined; value: SqlParam["value"] };

/** The query of a sql cell, its input names spliced in as the relations `relation` gives. */
export type ComposeQuery = (relation: (input: string) => string) => { query: string; params: DuckDBValue[] };

type SqlTag = (strings: TemplateStringsArray, ...parts: Part[]) => Cell;

/**
 * `sql\`select * from ${"mail"} where split = ${param("train")}\`` — a cell whose output is a
 * query. An interpolated string names another cell: it becomes an input of this cell and is
 * spliced in as a quoted identifier (never as text), so no name can break out of the query.
 * Every other interpolation is bound as a parameter, never concatenated.
 *
 * `sql.by("query")\`…\`` declares a query that works group by group: each output row has a
 * `query`, and the rows of one query are computed from the rows of the same query in every input
 * that has that column (inputs without it are read whole). A rerun then recomputes only the
 * groups whose input rows changed and takes the others over from its last output, as the tracin
 * cell does for its queries: one more paid inference costs its own rows, not every table again.
 * Its output is ordered by the column, each group's rows in the query's own order.
 */
export const sql: SqlTag & { by(column: string): SqlTag } = Object.assign(
  (strings: TemplateStringsArray, ...parts: Part[]) => sqlCell(strings, parts),
  {
    by(column: string): SqlTag {
      if (typeof column !== "string" || !column) throw new TypeError(`sql.by(column): the column the groups are keyed by, as a non-empty string (got ${JSON.stringify(column)})`);
      return (strings: TemplateStringsArray, ...parts: Part[]) => sqlCell(strings, parts, column);
    },
  },
);

function sqlCell(strings: TemplateStringsArray, parts: Part[], by?: string): Cell {
  const segments = [...strings.raw.map((_, i) => strings[i]!)];
  const tokens: Token[] = parts.map((p) =>
    typeof p === "string" ? { ref: p } : { value: p instanceof SqlParam ? p.value : p },
  );
  const inputs = [...new Set(tokens.flatMap((t) => (t.ref !== undefined ? [t.ref] : [])))];
  const compose: ComposeQuery = (relation) => {
    let query = segments[0]!;
    const params: DuckDBValue[] = [];
    tokens.forEach((t, i) => {
      if (t.ref !== undefined) query += relation(t.ref);
      else {
        query += "?";
        params.push(t.value ?? null);
      }
      query += segments[i + 1]!;
    });
    return { query, params };
  };
  // `by` enters the params only when given: a plain sql cell keeps its fingerprint.
  const params = by === undefined ? { segments, tokens } : { segments, tokens, by };
  const version = "1";
  return {
    kind: "sql",
    computes: false,
    version,
    params,
    inputs,
    async run(ctx) {
      if (by === undefined) return compose((name) => ctx.inputs[name]!.relation);
      return perGroup(ctx, { by, version, params, compose });
    },
  };
}
