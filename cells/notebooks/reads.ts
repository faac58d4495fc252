import type { DuckDBConnection } from "@duckdb/node-api";
import { Parser, type Node } from "acorn";
import { simple } from "acorn-walk";
import { runsInPage, type Notebook } from "./transform.ts";
import { PARAM_NAME, parseProbe } from "./sql-params.ts";

/**
 * The tables a notebook's SQL reads in the page (```sql blocks and sql`…` templates, and the
 * ```sql server blocks that take values: a static build runs those in the page), by DuckDB's own
 * parser (as the page does with getTableNames), plus the front matter's `tables` (names and `*`
 * patterns the page reads by name at run time: a `${cellTable(name)}`).
 */
export async function tablesRead(nb: Notebook, connection: DuckDBConnection): Promise<Set<string>> {
  const names = new Set<string>(Array.isArray(nb.frontMatter.tables) ? nb.frontMatter.tables.map(String) : []);
  const queries: string[] = [];
  for (const cell of nb.cells) {
    if (cell.error) continue;
    let ast: Node;
    try {
      const code = cell.expression ? `(${cell.body}\n)` : `(async () => {\n${cell.body}\n})`;
      ast = Parser.parse(code, { ecmaVersion: "latest", sourceType: "module", allowAwaitOutsideFunction: true, allowReturnOutsideFunction: true });
    } catch {
      continue;
    }
    simple(ast, {
      TaggedTemplateExpression(node) {
        const n = node as Node & { tag: Node & { name?: string }; quasi: { quasis: { value: { cooked: string | null } }[] } };
        if (n.tag.type === "Identifier" && n.tag.name === "sql") queries.push(parseProbe(n.quasi.quasis.map((q) => q.value.cooked ?? "")));
      },
    });
  }
  for (const q of Object.values(nb.serverQueries)) if (runsInPage(q)) queries.push(parseProbe(q.parts));
  for (const q of queries) for (const name of (await parseSelect(connection, q)).tables) if (name !== PARAM_NAME) names.add(name);
  return names;
}

/** What DuckDB's parser says of a query: one SELECT or not (`problem`), and the tables it names (a CTE's names too). */
export async function parseSelect(connection: DuckDBConnection, query: string): Promise<{ problem: string | null; tables: string[] }> {
  const reader = await connection.runAndReadAll("select json_serialize_sql(?::varchar) as ast", [query]);
  const ast = JSON.parse(String(reader.getRowObjectsJS()[0]!.ast)) as { error?: boolean; error_message?: string; statements?: unknown[] };
  if (ast.error) return { problem: ast.error_message ?? "not a SELECT", tables: [] };
  const tables = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    if (o.type === "BASE_TABLE" && typeof o.table_name === "string") tables.add(o.table_name);
    Object.values(o).forEach(visit);
  };
  visit(ast.statements);
  const statements = ast.statements?.length ?? 0;
  return { problem: statements === 1 ? null : `${statements} statements, where one SELECT is expected`, tables: [...tables] };
}
