import { createHash } from "node:crypto";
import MarkdownIt, { type Token } from "markdown-it";
import { analyzeJs, CellSyntaxError, findExpressionEnd, type JsCell } from "./javascript.ts";

/**
 * Notebooks are Markdown with front matter, reactive ```js blocks, ```sql blocks and inline
 * `${…}` expressions (Observable Framework's format). `compileNotebook` parses one; its
 * `toModule` is the ES module the browser runtime (notebooks/runtime) mounts.
 */
export interface NotebookCell {
  id: number;
  /** Where it came from: a ```js block, a ```sql block or an inline `${…}`. */
  source: "js" | "sql" | "inline";
  inline: boolean;
  inputs: string[];
  outputs: string[];
  /** Its value is displayed (an expression, or a sql block without id). */
  expression: boolean;
  async: boolean;
  /** The definition's body (statements), or the expression for expression cells. */
  body: string;
  /** A compile error: the cell throws it when it runs, so the page shows it in place. */
  error?: string;
  /** A ```sql server block's key: the page runs the cell again only when an output that query read changes. */
  serverQuery?: string;
}

export interface Notebook {
  title: string;
  pipeline: string | null;
  frontMatter: Record<string, FrontMatterValue>;
  /** Per table, the only columns the page reads (front matter `columns`, checked): none, every table whole. */
  columns: Record<string, string[]>;
  /** The page's static HTML: placeholders `<div class="tb-cell" id="tb-cell-N">` where cells display. */
  html: string;
  cells: NotebookCell[];
  /** Its ```sql server blocks: the query's key (serverQueryKey) → its text and its block's id. The page asks for a result by key. */
  serverQueries: Record<string, ServerQuery>;
}

export interface ServerQuery {
  /** Its literal parts, one more than its `${…}` (sql-params.ts expandSql). */
  parts: string[];
  /** A query function (`id=name(a, b)`): it runs when the page calls it, so a static build leaves it to the page. */
  called?: true;
  /** The block's `id=`, or null. */
  name: string | null;
}

export type FrontMatterValue = string | number | boolean | null | FrontMatterValue[] | { [key: string]: FrontMatterValue };

export class NotebookError extends Error {}

interface Env {
  [key: string]: unknown;
  cells: NotebookCell[];
  serverQueries: Record<string, ServerQuery>;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

function markdown(): InstanceType<typeof MarkdownIt> {
  const md = new MarkdownIt({ html: true, linkify: false, typographer: false });
  // Inline `${expression}`: the extent is found by the JavaScript parser, so braces and strings inside are fine.
  md.inline.ruler.before("text", "tb_expression", (state, silent) => {
    const { src, pos } = state;
    if (src.charCodeAt(pos) !== 0x24 /* $ */ || src.charCodeAt(pos + 1) !== 0x7b /* { */) return false;
    let end: number;
    try {
      end = findExpressionEnd(src, pos + 2);
    } catch {
      return false; // not an expression: literal text
    }
    if (end >= state.posMax) return false;
    if (!silent) state.push("tb_expression", "", 0).content = src.slice(pos + 2, end);
    state.pos = end + 1;
    return true;
  });
  md.renderer.rules.tb_expression = (tokens: Token[], idx: number, _o: unknown, env: unknown) => {
    const cell = compileCell(env as Env, "inline", tokens[idx]!.content);
    return `<span class="tb-cell tb-inline" id="tb-cell-${cell.id}"></span>`;
  };
  const fence = md.renderer.rules.fence!;
  md.renderer.rules.fence = (tokens, idx, options, envArg, self) => {
    const env = envArg as unknown as Env;
    const token = tokens[idx]!;
    const { language, attrs } = parseInfo(token.info);
    if (language !== "js" && language !== "javascript" && language !== "sql") return fence(tokens, idx, options, envArg, self);
    const echo = attrs.has("echo") ? fence(tokens, idx, options, envArg, self) : "";
    const cell = language === "sql" ? compileSql(env, token.content, attrs) : compileCell(env, "js", token.content);
    return `${echo}<div class="tb-cell" id="tb-cell-${cell.id}"></div>\n`;
  };
  return md;
}

/** `sql id=top display echo` → language and attributes (`id=receiptOf(query, model)`: spaces inside parentheses are the value's). */
function parseInfo(info: string): { language: string; attrs: Map<string, string> } {
  const [language = "", ...rest] = info.trim().match(/(?:\([^)]*\)|\S)+/g) ?? [];
  const attrs = new Map<string, string>();
  for (const part of rest) {
    const eq = part.indexOf("=");
    if (eq < 0) attrs.set(part, "");
    else attrs.set(part.slice(0, eq), part.slice(eq + 1).replace(/^(["'])(.*)\1$/, "$2"));
  }
  return { language: language.toLowerCase(), attrs };
}

function compileCell(env: Env, source: NotebookCell["source"], code: string): NotebookCell {
  const id = env.cells.length + 1;
  let cell: NotebookCell;
  try {
    const js: JsCell = analyzeJs(code, { inline: source === "inline" });
    cell = { id, source, inline: source === "inline", inputs: js.inputs, outputs: js.outputs, expression: js.expression, async: js.async, body: js.body };
    if (js.assigns.length) (cell as NotebookCell & { assigns?: string[] }).assigns = js.assigns;
  } catch (err) {
    if (!(err instanceof CellSyntaxError)) throw err;
    cell = errorCell(id, source, err.message);
  }
  env.cells.push(cell);
  return cell;
}

function errorCell(id: number, source: NotebookCell["source"], message: string): NotebookCell {
  return { id, source, inline: source === "inline", inputs: [], outputs: [], expression: false, async: false, body: `throw new SyntaxError(${JSON.stringify(message)});`, error: message };
}

/** A ```sql block that cannot run: the next cell, which throws `message` in place. */
function sqlError(env: Env, message: string): NotebookCell {
  const cell = errorCell(env.cells.length + 1, "sql", message);
  env.cells.push(cell);
  return cell;
}

/** A query function's id: `name(a, b)`. */
const QUERY_FUNCTION = /^([A-Za-z_$][\w$]*)\(\s*((?:[A-Za-z_$][\w$]*\s*(?:,\s*[A-Za-z_$][\w$]*\s*)*)?)\)$/;

/** A ```sql block's `id`: a variable's name, or a query function's name and parameters. */
interface SqlName {
  name: string;
  /** `id=name(a, b)`: the block defines a function of these (its `${…}` may read them) and runs when called. */
  params: string[] | null;
}

/**
 * A ```sql block is a query on the page's DuckDB through the `sql` tagged template: `${…}`
 * inside it are bound parameters, never spliced into the SQL. With `id=name` the result is
 * the variable `name` (shown only with `display`); without, the result is shown as a table.
 * With `id=name(a, b)` it is a function: `await name(x, y)` runs the query with a = x, b = y
 * (for a lookup only some runs need, or one a page makes for a value the user picks).
 * With `server` it runs on the server instead (serverSql): see compileServerSql.
 */
function compileSql(env: Env, text: string, attrs: Map<string, string>): NotebookCell {
  const id = attrs.get("id");
  let name: SqlName | undefined;
  if (id !== undefined) {
    const fn = QUERY_FUNCTION.exec(id);
    if (!fn && !IDENT.test(id)) return sqlError(env, `sql id=${id}: not a JavaScript identifier, nor a function's name and parameters (name(a, b))`);
    name = fn ? { name: fn[1]!, params: fn[2]!.split(",").map((p) => p.trim()).filter(Boolean) } : { name: id, params: null };
    if (name.params && attrs.has("display")) return sqlError(env, `sql id=${id}: a query function runs when called, so it has nothing to display`);
  }
  if (attrs.has("server")) return compileServerSql(env, text, name, attrs.has("display"));
  let template: string;
  try {
    template = sqlTemplate(text.replace(/[\s;]+$/, ""));
  } catch (err) {
    if (!(err instanceof CellSyntaxError)) throw err;
    return sqlError(env, err.message);
  }
  return sqlCell(env, `sql${template}`, name, attrs.has("display"));
}

/**
 * The cell of a ```sql block whose result is `expression`: the variable `name` (shown with
 * `display`), a function returning it (a query function), or shown as a table.
 */
function sqlCell(env: Env, expression: string, name: SqlName | undefined, display: boolean): NotebookCell {
  if (name === undefined) return compileCell(env, "sql", expression);
  if (name.params) return compileCell(env, "sql", `const ${name.name} = (${name.params.join(", ")}) => ${expression};`);
  return compileCell(env, "sql", `const ${name.name} = await ${expression};${display ? `\ndisplay(${name.name});` : ""}`);
}

/**
 * A ```sql server block runs where the outputs are (the dev server's DuckDB over the workspace's
 * artifacts) and only its result comes to the page, as an Arrow table: the page never fetches
 * the tables it reads. For sums over a table too large to send (1.46 million influence rows at
 * 21,201 inferences, 2.5 s to load in the page where the server sums them in 50–90 ms), and for
 * the few rows of it one pick needs. The page asks for a result by key (the hash of the query's
 * text), never sends SQL; its `${…}` travel as values (sql-params.ts: bound, or a cell's table).
 * A static build runs a query without `${…}` when it builds; one with them runs in the page then,
 * on the tables the build ships (so the module carries its literal parts).
 */
function compileServerSql(env: Env, text: string, name: SqlName | undefined, display: boolean): NotebookCell {
  let split: { parts: string[]; expressions: string[] };
  try {
    split = sqlParts(text.replace(/[\s;]+$/, "").trim());
  } catch (err) {
    if (!(err instanceof CellSyntaxError)) throw err;
    return sqlError(env, err.message);
  }
  const { parts, expressions } = split;
  if (!parts.join("").trim()) return sqlError(env, "sql server: no query");
  const key = serverQueryKey(parts.join("?"));
  const query: ServerQuery = { name: name?.name ?? null, parts, ...(name?.params ? { called: true as const } : {}) };
  env.serverQueries[key] = query;
  // The parts only where a static build leaves the query to the page.
  const call = runsInPage(query) ? `serverSql(${JSON.stringify(key)}, [${expressions.map((e) => `(${e})`).join(", ")}], ${JSON.stringify(parts)})` : `serverSql(${JSON.stringify(key)})`;
  const cell = sqlCell(env, call, name, display);
  if (!cell.error) cell.serverQuery = key;
  return cell;
}

/** Whether a static build leaves a server query to the page (it takes values, or is a query function), rather than running it. */
export function runsInPage(q: ServerQuery): boolean {
  return q.parts.length > 1 || !!q.called;
}

/** A server query's key: the first 16 hex digits of the sha256 of its text (`?` for each `${…}`). */
export function serverQueryKey(query: string): string {
  return createHash("sha256").update(query).digest("hex").slice(0, 16);
}

/** SQL text → its literal parts and the `${…}` expressions between them (one part more than expressions). */
export function sqlParts(sql: string): { parts: string[]; expressions: string[] } {
  const parts: string[] = [];
  const expressions: string[] = [];
  let i = 0;
  for (;;) {
    const open = sql.indexOf("${", i);
    if (open < 0) break;
    const end = findExpressionEnd(sql, open + 2);
    parts.push(sql.slice(i, open));
    expressions.push(sql.slice(open + 2, end));
    i = end + 1;
  }
  parts.push(sql.slice(i));
  return { parts, expressions };
}

/** SQL text as a JavaScript template literal: literal parts escaped, `${…}` kept as expressions. */
export function sqlTemplate(sql: string): string {
  const { parts, expressions } = sqlParts(sql);
  const escape = (s: string) => s.replace(/[\\`]/g, (c) => `\\${c}`);
  return `\`${parts.map((p, i) => `${escape(p)}${i < expressions.length ? `\${${expressions[i]}}` : ""}`).join("")}\``;
}

/**
 * Front matter: `---` lines around `key: value` pairs (a YAML subset: strings, numbers, booleans,
 * null, [lists], and one level of map: a `key:` line followed by indented `name: value` lines).
 */
export function parseFrontMatter(text: string): { data: Record<string, FrontMatterValue>; content: string; lines: number } {
  const m = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!m) return { data: {}, content: text, lines: 0 };
  const data: Record<string, FrontMatterValue> = {};
  let map: { [key: string]: FrontMatterValue } | null = null; // the map an indented line belongs to
  const maps = new Map<string, { [key: string]: FrontMatterValue }>();
  m[1]!.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim() || line.trimStart().startsWith("#")) return;
    const kv = /^(\s*)([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(line);
    if (!kv) throw new NotebookError(`front matter line ${i + 2}: expected "key: value", got ${JSON.stringify(line)}`);
    const [, indent, key, value] = kv as unknown as [string, string, string, string];
    if (indent) {
      if (!map) throw new NotebookError(`front matter line ${i + 2}: an indented line belongs under a "key:" line with no value, got ${JSON.stringify(line)}`);
      map[key] = scalar(value.trim());
      return;
    }
    data[key] = scalar(value.trim());
    // `key:` alone is null, unless indented lines follow: then it is their map.
    map = value.trim() ? null : {};
    if (map) maps.set(key, map);
  });
  for (const [key, entries] of maps) if (Object.keys(entries).length) data[key] = entries;
  return { data, content: text.slice(m[0].length), lines: m[0].split("\n").length - 1 };
}

function scalar(v: string): FrontMatterValue {
  if (v.startsWith("[") && v.endsWith("]")) {
    const inner = v.slice(1, -1).trim();
    return inner ? inner.split(",").map((s) => scalar(s.trim())) : [];
  }
  if (/^".*"$/.test(v)) return JSON.parse(v) as string;
  if (/^'.*'$/.test(v)) return v.slice(1, -1).replaceAll("''", "'");
  if (v === "true" || v === "false") return v === "true";
  if (v === "null" || v === "~" || v === "") return null;
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return v.replace(/\s+#.*$/, "");
}

/**
 * The front matter's `columns`: per table, the only columns the page reads, so the server sends
 * those and no others (a receipts table is mostly its receipts' JSON: 84 MB for 21,201 inferences,
 * where the influence explorer reads two short columns of it). None: every table whole.
 */
export function tableColumns(frontMatter: Record<string, FrontMatterValue>): Record<string, string[]> {
  const value = frontMatter.columns;
  if (value === undefined || value === null) return {};
  const shape = `expected indented lines naming a table and the [list] of the columns the page reads, e.g. "  receipts: [query, receipt_hash]"`;
  if (typeof value !== "object" || Array.isArray(value)) throw new NotebookError(`front matter "columns": ${shape}`);
  const out: Record<string, string[]> = {};
  for (const [table, columns] of Object.entries(value)) {
    if (!Array.isArray(columns) || !columns.length || columns.some((c) => typeof c !== "string" || !c)) {
      throw new NotebookError(`front matter "columns", table ${table}: ${shape}, got ${JSON.stringify(columns)}`);
    }
    out[table] = [...new Set(columns as string[])];
  }
  return out;
}

export function compileNotebook(text: string): Notebook {
  const { data, content } = parseFrontMatter(text);
  const columns = tableColumns(data); // a malformed projection fails the page here, not as a 400 from the server later
  const env: Env = { cells: [], serverQueries: {} };
  const md = markdown();
  const tokens = md.parse(content, env as never);
  const html = md.renderer.render(tokens, md.options, env as never);
  // Assigning to another cell's output would silently change only the local copy: refuse it.
  const defined = new Set(env.cells.flatMap((c) => c.outputs));
  for (const [i, c] of env.cells.entries()) {
    const assigns = (c as NotebookCell & { assigns?: string[] }).assigns;
    delete (c as NotebookCell & { assigns?: string[] }).assigns;
    const external = assigns?.find((a) => defined.has(a));
    if (external) env.cells[i] = errorCell(c.id, c.source, `Assignment to external variable "${external}" (it is defined by another cell)`);
  }
  const h1 = tokens.findIndex((t) => t.type === "heading_open" && t.tag === "h1");
  const heading = h1 >= 0 ? tokens[h1 + 1]?.children?.filter((t: Token) => t.type === "text" || t.type === "code_inline").map((t: Token) => t.content).join("").trim() : undefined;
  const title = typeof data.title === "string" ? data.title : heading ?? "Untitled";
  const pipeline = typeof data.pipeline === "string" ? data.pipeline : null;
  return { title, pipeline, frontMatter: data, columns, html, cells: env.cells, serverQueries: env.serverQueries };
}

/** The ES module for a notebook: `export default {title, pipeline, frontMatter, columns, html, cells}` with each cell's definition as a function. */
export function notebookToModule(nb: Notebook, options: { file?: string } = {}): string {
  const lines: string[] = [];
  lines.push(`// Compiled by tracebook from ${options.file ?? "a notebook"}: edit the Markdown, not this module.`);
  lines.push("export default {");
  lines.push(`  title: ${JSON.stringify(nb.title)},`);
  lines.push(`  pipeline: ${JSON.stringify(nb.pipeline)},`);
  lines.push(`  frontMatter: ${JSON.stringify(nb.frontMatter)},`);
  lines.push(`  columns: ${JSON.stringify(nb.columns)},`);
  lines.push(`  html: ${JSON.stringify(nb.html)},`);
  lines.push("  cells: [");
  for (const c of nb.cells) {
    const params = c.inputs.join(", ");
    const fn = c.expression ? `${c.async ? "async " : ""}(${params}) => (\n${c.body}\n)` : `${c.async ? "async " : ""}(${params}) => {\n${c.body}\n}`;
    const meta = [
      `id: ${c.id}`, `source: ${JSON.stringify(c.source)}`, `inline: ${c.inline}`, `expression: ${c.expression}`,
      `inputs: ${JSON.stringify(c.inputs)}`, `outputs: ${JSON.stringify(c.outputs)}`, ...(c.error ? [`error: ${JSON.stringify(c.error)}`] : []),
      ...(c.serverQuery ? [`serverQuery: ${JSON.stringify(c.serverQuery)}`] : []),
    ];
    lines.push(`    {${meta.join(", ")}, body: ${fn}},`);
  }
  lines.push("  ],");
  lines.push("};");
  return `${lines.join("\n")}\n`;
}

/** Markdown text → ES module source. */
export function transformNotebook(text: string, options: { file?: string } = {}): string {
  return notebookToModule(compileNotebook(text), options);
}
