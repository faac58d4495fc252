// Quoting for SQL text, with no imports: the notebooks' browser runtime uses it as the server does.

/** A SQL string literal: the only place a value is spliced into SQL, for statements that take no parameters. */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A safely quoted SQL identifier (a column, or a cell's table in either DuckDB). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
