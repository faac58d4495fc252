import type { DuckDBValue } from "@duckdb/node-api";
import type { Cell } from "./cell.ts";

/** A value to bind as a query parameter. Plain strings in a template name cells; wrap string values in `param()`. */
export class SqlParam {
  constructor(readonly value: string | number | boolean | bigint | null) {}
}
export const param = (value: string | number | boolean | bigint | null): SqlParam => new SqlParam(value);

type Part = string | SqlParam | number | boolean | bigint | null;
type Token = { ref: string; value?: undefined } | { ref?: undefined; value: SqlParam["value"] };

/**
 * `sql\`select * from ${"mail"} where split = ${param("train")}\`` — a cell whose output is a
 * query. An interpolated string names another cell: it becomes an input of this cell and is
 * spliced in as a quoted identifier (never as text), so no name can break out of the query.
 * Every other interpolation is bound as a parameter, never concatenated.
 */
export function sql(strings: TemplateStringsArray, ...parts: Part[]): Cell {
  const segments = [...strings.raw.map((_, i) => strings[i]!)];
  const tokens: Token[] = parts.map((p) =>
    typeof p === "string" ? { ref: p } : { value: p instanceof SqlParam ? p.value : p },
  );
  const inputs = [...new Set(tokens.flatMap((t) => (t.ref !== undefined ? [t.ref] : [])))];
  return {
    kind: "sql",
    computes: false,
    version: "1",
    params: { segments, tokens },
    inputs,
    async run(ctx) {
      let query = segments[0]!;
      const values: DuckDBValue[] = [];
      tokens.forEach((t, i) => {
        if (t.ref !== undefined) query += ctx.inputs[t.ref]!.relation;
        else {
          query += "?";
          values.push(t.value ?? null);
        }
        query += segments[i + 1]!;
      });
      return { query, params: values };
    },
  };
}
