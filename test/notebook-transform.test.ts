import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { analyzeJs, CellSyntaxError } from "../cells/notebooks/javascript.ts";
import { shortList } from "../notebooks/runtime/short-list.ts";
import { compileNotebook, parseFrontMatter, serverQueryKey, sqlTemplate, tableColumns, transformNotebook } from "../cells/notebooks/transform.ts";
import { listNotebooks } from "../cells/notebooks/plugin.ts";
import { tempDir } from "./helpers/workspace.ts";

const INPUT = path.resolve("test/input/notebooks");
const OUTPUT = path.resolve("test/output/notebooks");

describe("notebook transform: golden files", () => {
  const inputs = fs.readdirSync(INPUT).filter((f) => f.endsWith(".md")).sort();
  it("has inputs", () => expect(inputs.length).toBeGreaterThanOrEqual(3));
  for (const file of inputs) {
    it(`${file} → ${file.replace(/\.md$/, ".js")}`, () => {
      const actual = transformNotebook(fs.readFileSync(path.join(INPUT, file), "utf8"), { file: `test/input/notebooks/${file}` });
      const expectedFile = path.join(OUTPUT, file.replace(/\.md$/, ".js"));
      const changedFile = path.join(OUTPUT, file.replace(/\.md$/, "-changed.js"));
      if (!fs.existsSync(expectedFile)) {
        fs.mkdirSync(OUTPUT, { recursive: true });
        fs.writeFileSync(expectedFile, actual); // a new golden file: review it, then commit it
      }
      const expected = fs.readFileSync(expectedFile, "utf8");
      if (actual !== expected) fs.writeFileSync(changedFile, actual);
      else fs.rmSync(changedFile, { force: true });
      expect(actual, `the transform's output changed: compare ${changedFile} with ${expectedFile}, and if it is right, move it over`).toBe(expected);
    });
  }
});

describe("references are found by parsing", () => {
  it("separates inputs (free names) from outputs (top-level declarations)", () => {
    const c = analyzeJs("const a = b + c.d; function f(x, {y = e} = {}) { const g = x + y + h; return g; }\nlet [i, ...j] = k;");
    expect(c.outputs).toEqual(["a", "f", "i", "j"]);
    expect(c.inputs).toEqual(["b", "c", "e", "h", "k"]);
    expect(c.expression).toBe(false);
  });
  it("ignores property names, labels, locals and known globals; keeps shorthand and computed keys", () => {
    const c = analyzeJs("const o = {p: q, r, [s]: 1}; o.t; lbl: for (const u of v) { break lbl; } try {} catch (err) { err; } Math.max(window.x, undefined)");
    expect(c.inputs).toEqual(["q", "r", "s", "v"]);
  });
  it("reads a lone expression as one (its value is displayed), with await", () => {
    expect(analyzeJs("x + 1").expression).toBe(true);
    expect(analyzeJs("x + 1;").expression).toBe(false);
    expect(analyzeJs("{a: x}").expression).toBe(true);
    expect(analyzeJs("(a, b) // trailing comment").expression).toBe(true);
    const c = analyzeJs("await fetch(url)");
    expect([c.expression, c.async, c.inputs]).toEqual([true, true, ["url"]]);
    expect(analyzeJs("const f = async () => await x;").async).toBe(false);
    const named = analyzeJs("// a helper\nfunction helper(a) { return a + b; }");
    expect([named.expression, named.outputs, named.inputs]).toEqual([false, ["helper"], ["b"]]);
    expect(analyzeJs("class K {}").outputs).toEqual(["K"]);
    expect(analyzeJs("(function () { return 1; })").expression).toBe(true);
  });
  it("turns static imports into awaited dynamic imports, declared as outputs", () => {
    const c = analyzeJs('import {a as b, c} from "m";\nimport * as ns from "n";\nimport d from "o";');
    expect(c.outputs).toEqual(["b", "c", "ns", "d"]);
    expect(c.body).toContain('const {a: b, c} = await import("m");');
    expect(c.body).toContain('const ns = await import("n");');
    expect(c.body).toContain('const {default: d} = await import("o");');
    expect(c.async).toBe(true);
  });
  it("reports syntax errors, and refuses assignments to other cells' outputs", () => {
    expect(() => analyzeJs("const = 1")).toThrow(CellSyntaxError);
    const nb = compileNotebook("```js\nconst x = 1;\n```\n\n```js\nx = 2;\n```\n");
    expect(nb.cells[1]!.error).toMatch(/Assignment to external variable "x"/);
  });
  it("compiles a server query to a request by its key, never its text", () => {
    const nb = compileNotebook("```sql id=sums server\nselect label, count(*) from notes group by label;\n```\n\n```sql server display\nselect 1\n```\n");
    const key = serverQueryKey("select label, count(*) from notes group by label");
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(nb.serverQueries).toEqual({
      [key]: { parts: ["select label, count(*) from notes group by label"], name: "sums" },
      [serverQueryKey("select 1")]: { parts: ["select 1"], name: null },
    });
    expect([nb.cells[0]!.inputs, nb.cells[0]!.outputs, nb.cells[0]!.body]).toEqual([["serverSql"], ["sums"], `const sums = await serverSql("${key}");\nreturn {sums};`]);
    expect([nb.cells[1]!.expression, nb.cells[1]!.body]).toEqual([true, `serverSql("${serverQueryKey("select 1")}")`]);
    // Each cell names its query's key: the page runs it again only when an output that query read changes.
    expect(nb.cells.map((c) => c.serverQuery)).toEqual([key, serverQueryKey("select 1")]);
    expect(compileNotebook("```sql server\nselect ${\n```\n\n```js\nserverSql(\"0123456789abcdef\")\n```\n").cells.map((c) => c.serverQuery)).toEqual([undefined, undefined]);
    expect(transformNotebook("```sql server\nselect 1\n```\n")).not.toContain("select 1");
  });
  it("sends a server query's ${…} as values, with its literal parts for a static build to run it in the page", () => {
    const nb = compileNotebook("```sql id=rows server\nselect * from ${cellTable(t)} where x = ${a, b} and y in (select unnest(${ys}))\n```\n\n```sql id=bad server\nselect ${\n```\n");
    const parts = ["select * from ", " where x = ", " and y in (select unnest(", "))"];
    const key = serverQueryKey(parts.join("?"));
    expect(key).toBe(serverQueryKey("select * from ? where x = ? and y in (select unnest(?))"));
    expect(nb.serverQueries[key]).toEqual({ parts, name: "rows" });
    // Each value in parentheses: a comma inside one is not a second value.
    expect(nb.cells[0]!.body).toBe(`const rows = await serverSql("${key}", [(cellTable(t)), (a, b), (ys)], ${JSON.stringify(parts)});\nreturn {rows};`);
    expect(nb.cells[0]!.inputs.sort()).toEqual(["a", "b", "cellTable", "serverSql", "t", "ys"]);
    expect(nb.cells[1]!.error).toBeDefined();
  });
  it("compiles a block with id=name(a, b) to a query function, run when called", () => {
    const nb = compileNotebook("```sql id=receiptOf(inference, level) server\nselect * from receipts where query = ${inference} and level = ${level}\n```\n\n"
      + "```sql id=rowsOf( n )\nselect * from t limit ${n}\n```\n\n```sql id=f(a) display\nselect ${a}\n```\n\n```sql id=g(1)\nselect 1\n```\n");
    const parts = ["select * from receipts where query = ", " and level = ", ""];
    const key = serverQueryKey(parts.join("?"));
    expect(key).toBe(serverQueryKey("select * from receipts where query = ? and level = ?"));
    expect(nb.serverQueries[key]).toEqual({ parts, name: "receiptOf", called: true });
    expect(nb.cells[0]!.body).toBe(`const receiptOf = (inference, level) => serverSql("${key}", [(inference), (level)], ${JSON.stringify(parts)});\nreturn {receiptOf};`);
    // Its parameters are its own: the cell reads only the builtin.
    expect([nb.cells[0]!.inputs, nb.cells[0]!.outputs, nb.cells[0]!.async]).toEqual([["serverSql"], ["receiptOf"], false]);
    expect(nb.cells[1]!.body).toBe("const rowsOf = (n) => sql`select * from t limit ${n}`;\nreturn {rowsOf};");
    expect(nb.cells[2]!.error).toBe("sql id=f(a): a query function runs when called, so it has nothing to display");
    expect(nb.cells[3]!.error).toMatch(/^sql id=g\(1\): not a JavaScript identifier, nor a function's name and parameters/);
  });
  it("keeps ${…} in SQL as bound parameters and escapes the rest", () => {
    expect(sqlTemplate("select '`' as a, '\\' as b where c = ${d.e} and f = ${`}`}")).toBe("`select '\\`' as a, '\\\\' as b where c = ${d.e} and f = ${`}`}`");
  });
  it("parses front matter", () => {
    const fm = parseFrontMatter("---\ntitle: \"A: b\"\npipeline: mail # the real one\nn: 3\nlist: [a, 'b c', 4]\n---\n# x\n");
    expect(fm.data).toEqual({ title: "A: b", pipeline: "mail", n: 3, list: ["a", "b c", 4] });
    expect(fm.content).toBe("# x\n");
    expect(() => parseFrontMatter("---\nnot yaml\n---\n")).toThrow(/front matter line 2/);
  });
  it("parses a map of indented lines, and the columns a page reads of each table", () => {
    const text = "---\ntitle: t\ncolumns:\n  # the receipts' JSON is never read\n  receipts: [query, receipt_hash, query]\n  usage: [id]\nempty:\nafter: 1\n---\n";
    const fm = parseFrontMatter(text);
    expect(fm.data).toEqual({ title: "t", columns: { receipts: ["query", "receipt_hash", "query"], usage: ["id"] }, empty: null, after: 1 });
    expect(tableColumns(fm.data)).toEqual({ receipts: ["query", "receipt_hash"], usage: ["id"] });
    expect(tableColumns({})).toEqual({});
    expect(() => parseFrontMatter("---\n  receipts: [a]\n---\n")).toThrow(/front matter line 2: an indented line belongs under a "key:" line/);
    expect(() => parseFrontMatter("---\ntitle: t\n  receipts: [a]\n---\n")).toThrow(/front matter line 3/);
    // A malformed projection fails the page when it compiles, naming the table.
    expect(() => compileNotebook("---\ncolumns: [receipts]\n---\n# x\n")).toThrow(/front matter "columns": expected indented lines/);
    expect(() => compileNotebook("---\ncolumns:\n  receipts: query\n---\n# x\n")).toThrow(/"columns", table receipts: .* got "query"/);
    expect(() => compileNotebook("---\ncolumns:\n  receipts: []\n---\n# x\n")).toThrow(/table receipts/);
    expect(compileNotebook(`${text}# x\n`).frontMatter.columns).toEqual({ receipts: ["query", "receipt_hash", "query"], usage: ["id"] });
    expect(compileNotebook(`${text}# x\n`).columns).toEqual({ receipts: ["query", "receipt_hash"], usage: ["id"] });
  });
});

describe("shortList (the pages' long selects)", () => {
  it("keeps the first items, and the one to keep wherever it falls, once", () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ i }));
    expect(shortList(items, 20, items[9])).toEqual(items);
    expect(shortList(items, 3, null)).toEqual(items.slice(0, 3));
    expect(shortList(items, 3, items[1])).toEqual(items.slice(0, 3));
    expect(shortList(items, 3, items[7])).toEqual([...items.slice(0, 3), items[7]]);
    expect(shortList(items, 3, { i: 7 })).toEqual(items.slice(0, 3)); // not one of them: not added
  });
});

interface RuntimeModule {
  variable(observer?: object | true): { define(name: string | null, inputs: string[], fn: (...a: any[]) => unknown): unknown };
  redefine(name: string, inputs: string[], fn: () => unknown): unknown;
}
// The package has no type declarations (notebooks/runtime/shims.d.ts types it for the browser side).
const RUNTIME = "@observablehq/runtime";
const { Runtime } = (await import(RUNTIME)) as { Runtime: new () => { module(): RuntimeModule; dispose(): void } };

/** Run a compiled notebook module on @observablehq/runtime without a DOM: what each cell displays, by cell id. */
async function runHeadless(markdown: string) {
  const dir = tempDir("tb-nb-");
  const file = path.join(dir, "nb.mjs");
  fs.writeFileSync(file, transformNotebook(markdown));
  const nb = (await import(pathToFileURL(file).href)).default as { cells: { id: number; inputs: string[]; outputs: string[]; expression: boolean; body: (...a: unknown[]) => unknown }[] };
  const shown = new Map<number, unknown[]>();
  const runtime = new Runtime();
  const main = runtime.module();
  for (const cell of nb.cells) {
    const put = (v: unknown) => (shown.set(cell.id, [...(shown.get(cell.id) ?? []), v]), v);
    const observer = { fulfilled: (v: unknown) => cell.expression && put(v), rejected: (e: unknown) => put(`error: ${(e as Error).message}`) };
    const inputs = cell.inputs.filter((i) => i !== "display" && i !== "view");
    main.variable(observer).define(cell.outputs.length ? `cell ${cell.id}` : null, inputs, (...args: unknown[]) => {
      let k = 0;
      return cell.body(...cell.inputs.map((n) => (n === "display" ? put : n === "view" ? (v: unknown) => v : args[k++])));
    });
    for (const o of cell.outputs) main.variable(true).define(o, [`cell ${cell.id}`], (x: Record<string, unknown>) => x[o]);
  }
  const settle = () => new Promise((r) => setTimeout(r, 50));
  await settle();
  return { shown, main, runtime, settle };
}

describe("compiled notebooks run on @observablehq/runtime", () => {
  it("re-runs what reads a redefined variable, awaits promises, and reports errors in place", async () => {
    const md = [
      "Double: ${x * 2}", "",
      "```js\nconst x = await Promise.resolve(21);\n```", "",
      "```js\ndisplay(`x is ${x}`);\n```", "",
      "```js\nconst broken = missing + 1;\n```",
    ].join("\n");
    const { shown, main, runtime, settle } = await runHeadless(md);
    expect(shown.get(1)).toEqual([42]);
    expect(shown.get(3)).toEqual(["x is 21"]);
    expect(String(shown.get(4))).toMatch(/missing is not defined|could not be resolved/);
    main.redefine("x", [], () => 5);
    await settle();
    expect(shown.get(1)).toEqual([42, 10]);
    expect(shown.get(3)).toEqual(["x is 21", "x is 5"]);
    runtime.dispose();
  });
  it("iterates generators and resolves invalidation when a cell re-runs", async () => {
    const md = [
      "```js\nconst n = (function* () { yield 1; yield 2; })();\n```", "",
      "```js\ndisplay(n);\ninvalidation.then(() => display(`invalidated ${n}`));\n```", "",
      "```js\nn * 10\n```",
    ].join("\n");
    const { shown, runtime } = await runHeadless(md);
    await new Promise((r) => setTimeout(r, 200));
    expect(shown.get(3)).toEqual([10, 20]);
    expect(shown.get(2)).toEqual(expect.arrayContaining([1, "invalidated 1", 2]));
    runtime.dispose();
  });
});

describe("shipped notebooks", () => {
  const notebooks = listNotebooks(path.resolve("notebooks"));
  it("exist and compile without errors", () => {
    expect(notebooks.map((n) => n.name)).toEqual(expect.arrayContaining(["contributors-and-rewards", "curation-queue", "influence-explorer"]));
    for (const n of notebooks) {
      const nb = compileNotebook(fs.readFileSync(n.file, "utf8"));
      expect(nb.cells.filter((c) => c.error).map((c) => `${n.name} cell ${c.id}: ${c.error}`)).toEqual([]);
      // Each names a pipeline of this project (pipelines/<name>.pipeline.ts).
      expect(fs.existsSync(path.resolve("pipelines", `${nb.pipeline}.pipeline.ts`)), `${n.name}: pipeline ${nb.pipeline}`).toBe(true);
    }
  });
});

describe("the browser runtime", () => {
  it("type-checks against the DOM (notebooks/tsconfig.json; the project's tsconfig has no DOM types)", () => {
    const tsc = spawnSync(process.execPath, [path.resolve("node_modules/typescript/bin/tsc"), "-p", "notebooks", "--noEmit"], { encoding: "utf8" });
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  }, 60_000);
});
