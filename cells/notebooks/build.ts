import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { promisify } from "node:util";
import { build, type Manifest } from "vite";
import { tableFromIPC } from "apache-arrow";
import { resolveWorkspaceHome } from "../store/workspace.ts";
import { compileNotebook, runsInPage } from "./transform.ts";
import { tablesRead } from "./reads.ts";
import { SerialDuckDB } from "../store/serial-duckdb.ts";
import { BadRequestError, NotebookData, NotFoundError, type Catalog } from "./data.ts";
import { indexHtml, listNotebooks, notebookPage, tracebookNotebooks, NOTEBOOK_PAGE } from "./plugin.ts";
import { DEFAULT_NOTEBOOKS, pipelineName, viteConfig } from "./server.ts";
import { mib, shipExplainer } from "./ship-explainer.ts";
import { shipModels } from "./ship-models.ts";
import { shipRuns } from "./runs.ts";
import { shipStatus } from "./status.ts";
import { statesInWords } from "../graph/status.ts";
import { plural } from "../graph/plural.ts";
import { PageBinder } from "./page-check.ts";
import { PipelineError } from "../graph/cell.ts";
import { makeDir } from "../store/make-dir.ts";

const MARKER = ".tracebook-site";
const DATA_DIR = "_tracebook";

export interface BuildOptions {
  home?: string;
  outDir: string;
  notebooksDir?: string;
  /** Pipelines whose outputs to include (default: those the notebooks name). */
  pipelines?: string[];
  logLevel?: "info" | "warn" | "error" | "silent";
  /** Open the workspace read-only (`--read-only`). */
  readOnly?: boolean;
}

/** A server query of a static site: the notebooks that use its text, and what the build did with it. */
export interface BuiltQuery {
  /** `notebook#id`, and each other notebook with the same text. */
  where: string;
  /** Run now and its result shipped (`build`), or left to the page (`page`). */
  runs: "build" | "page";
  /** `(rows, KiB gzipped)` shipped, `(runs in the page)`, or why the page will not get an answer (`fails`). */
  result: string;
  /** The page will not get an answer here: a table this pipeline lacks, a typo, a table named at run time that could not be checked. */
  fails: boolean;
}

export interface BuildResult {
  outDir: string;
  pages: string[];
  /** `pipeline.cell (rows, bytes)` for every table written. */
  tables: string[];
  /** Per pipeline whose notebooks explain inputs: its portable explainer (`pipeline: cell, rows, bytes`), or why it has none. */
  explainers: string[];
  /** Per pipeline whose notebooks compare models: the model cells shipped and how many pairs each compares. */
  models: string[];
  /** Per pipeline whose notebooks read its run log: how many pipeline runs shipped, of how many recorded. */
  runs: string[];
  /** Per pipeline, its server queries (```sql server blocks, query functions): what the build did with each. */
  queries: { pipeline: string; queries: BuiltQuery[] }[];
  bytes: number;
}

/**
 * `tracebook build-notebooks`: every notebook as a static page (Vite build: the runtime,
 * DuckDB-wasm's bundles and workers as local assets), and the cell outputs the notebooks read
 * as gzipped Arrow IPC files beside them, with a catalog per pipeline. No live updates: the outputs are
 * those of the moment of the build.
 */
export async function buildNotebooks(options: BuildOptions): Promise<BuildResult> {
  const home = resolveWorkspaceHome(options.home);
  const notebooksDir = path.resolve(options.notebooksDir ?? DEFAULT_NOTEBOOKS);
  const finalDir = path.resolve(options.outDir);
  checkOutDir(finalDir);
  const notebooks = listNotebooks(notebooksDir).filter((n) => !n.error);
  if (!notebooks.length) throw new Error(`no notebooks in ${notebooksDir}`);
  if (options.pipelines?.length) await refuseNeverRun(home, options.pipelines.map(pipelineName), options.readOnly);
  // Built beside the target and renamed into place at the end: a failed build leaves the
  // earlier site (or nothing) as it was, never half a site.
  const outDir = fs.mkdtempSync(path.join(path.dirname(finalDir), `.${path.basename(finalDir)}-building-`));
  try {
    const built = await buildInto(outDir, notebooks, notebooksDir, home, options);
    fs.rmSync(finalDir, { recursive: true, force: true });
    fs.renameSync(outDir, finalDir);
    return { ...built, outDir: finalDir, pages: built.pages.map((f) => path.join(finalDir, path.relative(outDir, f))) };
  } catch (err) {
    fs.rmSync(outDir, { recursive: true, force: true });
    throw err;
  }
}

/** Named on the command line, a pipeline that never ran here is a typo, not a page saying what to run: refused before anything is built. */
async function refuseNeverRun(home: string, pipelines: readonly string[], readOnly: boolean | undefined): Promise<void> {
  const data = new NotebookData({ home, readOnly });
  try {
    const ran = (await data.pipelinesRun({ attempts: 8 })).names;
    const never = pipelines.filter((p) => !ran.includes(p));
    if (never.length) throw new PipelineError(`no pipeline ${never.map((p) => `"${p}"`).join(", ")} has run in workspace ${home} (it has run: ${ran.join(", ") || "none"})`);
  } finally {
    data.close();
  }
}

async function buildInto(outDir: string, notebooks: ReturnType<typeof listNotebooks>, notebooksDir: string, home: string, options: BuildOptions): Promise<Omit<BuildResult, "outDir">> {

  const config = viteConfig({ notebooksDir, logLevel: options.logLevel ?? "warn" });
  await build({
    ...config,
    base: "./",
    plugins: [tracebookNotebooks({ notebooksDir, runtimeEntry: "/notebooks/runtime/index.ts", base: `./${DATA_DIR}` })],
    build: {
      outDir,
      emptyOutDir: false,
      manifest: true,
      chunkSizeWarningLimit: 4096,
      rollupOptions: { input: Object.fromEntries(notebooks.map((n) => [n.name, `${NOTEBOOK_PAGE}${n.name}.js`])) },
    },
  });
  const manifestFile = path.join(outDir, ".vite", "manifest.json");
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest;
  fs.rmSync(path.dirname(manifestFile), { recursive: true, force: true });

  const pages: string[] = [];
  for (const n of notebooks) {
    const chunk = Object.values(manifest).find((c) => c.isEntry && c.name === n.name);
    if (!chunk) throw new Error(`the build has no entry for notebook ${n.name}`);
    const css = [...new Set([...(chunk.css ?? []), ...(chunk.imports ?? []).flatMap((i) => manifest[i]?.css ?? [])])];
    const head = css.map((c) => `<link rel="stylesheet" href="./${c}">\n`).join("");
    const file = path.join(outDir, `${n.name}.html`);
    fs.writeFileSync(file, notebookPage(n, `./${chunk.file}`, "./index.html", head));
    pages.push(file);
  }

  // The data: the cells the notebooks read, per pipeline, each with the columns they read (null: all).
  const wanted = new Map<string, Map<string, Set<string> | null>>();
  // Pipelines a notebook explains inputs of (it reads the `explain` builtin): they ship a portable
  // explainer; those whose models a notebook compares (`models`) ship their model histories.
  const explained = new Set<string>();
  const compared = new Set<string>();
  const logged = new Set<string>(); // those whose run log a notebook reads (`runs`): it ships
  // Per pipeline, the server queries of its notebooks (key → literal parts, and each notebook that
  // uses that text): run here, their results shipped; those that take values (`${…}`) and query
  // functions run in the page, on the tables shipped for them. A query run in the page is checked
  // here against the tables shipped for it (page-check.ts); a `${cellTable(…)}` of it may name any
  // cell its notebook's front matter `tables` names.
  const serverQueries = new Map<string, Map<string, { parts: string[]; uses: { where: string; inPage: boolean; tables: TablePattern[] }[] }>>();
  const specs = options.pipelines?.length ? options.pipelines.map(pipelineName) : [...new Set(notebooks.map((n) => n.pipeline).filter((p): p is string => !!p))];
  for (const p of specs) wanted.set(p, new Map());
  // Where a pipeline named on the command line was found (a file, or a name), for its cells' states.
  const specOf = new Map((options.pipelines ?? []).map((s) => [pipelineName(s), s] as const));
  const parser = new SerialDuckDB(); // only to parse the notebooks' SQL
  try {
    for (const n of notebooks) {
      const compiled = compileNotebook(fs.readFileSync(n.file, "utf8"));
      const names = await parser.run((connection) => tablesRead(compiled, connection));
      const reads = (builtin: string) => compiled.cells.some((c) => c.inputs.includes(builtin));
      const explains = reads("explain"), compares = reads("models"), logs = reads("runs");
      for (const [p, set] of wanted) {
        // Pipelines named on the command line take every notebook; else each notebook its own.
        if (!options.pipelines?.length && n.pipeline !== p) continue;
        for (const t of names) {
          // A table ships with the union of the columns its readers name; whole if one names none.
          const had = set.has(t) ? set.get(t)! : new Set<string>();
          const own = compiled.columns[t];
          set.set(t, had === null || !own ? null : new Set([...had, ...own]));
        }
        for (const [key, q] of Object.entries(compiled.serverQueries)) {
          if (!serverQueries.has(p)) serverQueries.set(p, new Map());
          const tables = Array.isArray(compiled.frontMatter.tables) ? compiled.frontMatter.tables.map((t) => pattern(String(t))) : [];
          // Two notebooks with the same text share a key (the curation queue's held-out images and Model history's).
          const entry = serverQueries.get(p)!.get(key) ?? { parts: q.parts, uses: [] };
          entry.uses.push({ where: `${n.name}${q.name ? `#${q.name}` : ""}`, inPage: runsInPage(q), tables });
          serverQueries.get(p)!.set(key, entry);
        }
        if (explains) explained.add(p);
        if (compares) compared.add(p);
        if (logs) logged.add(p);
      }
    }
  } finally {
    parser.close();
  }
  const data = new NotebookData({ home, readOnly: options.readOnly });
  const tables: string[] = [];
  const explainers: string[] = [];
  const models: string[] = [];
  const runs: string[] = [];
  const queries: BuildResult["queries"] = [];
  let bytes = 0;
  const catalogs: Catalog[] = [];
  // Made when a pipeline has a query the page runs: DuckDB-wasm takes about 2 s to start in Node.
  let binder: PageBinder | null = null;
  const unbound: string[] = [];
  try {
    for (const [p, names] of wanted) {
      // A notebook's pipeline that never ran here (mail-quality, run by hand) ships `missing`: its pages say what to run.
      const catalog = await data.catalog(p);
      const patterns = [...names.keys()].filter((n) => n.includes("*")).map((n) => pattern(n).re);
      const cells = catalog.cells.filter((c) => (names.has(c.cell) || patterns.some((re) => re.test(c.cell))) && c.dataVersion);
      makeDir(path.join(outDir, DATA_DIR, "data", p));
      const entries = [...(catalog.missing ? [] : serverQueries.get(p) ?? [])];
      // The queries left to the page are bound over the tables as they ship (their schemas only).
      const checks = entries.some(([, q]) => q.uses.some((u) => u.inPage)) ? (binder ??= await PageBinder.open()) : null;
      checks?.reset();
      for (const c of cells) {
        // Read by name a pattern matches (every column), or by its own name (a projection, maybe).
        const columns = patterns.some((re) => re.test(c.cell)) ? null : names.get(c.cell) ?? null;
        const { bytes: b } = await data.arrow(p, c.cell, columns ? [...columns] : undefined);
        checks?.register(c.cell, b, columns ? await data.emptyArrow(p, c.cell) : undefined);
        // Gzipped: a site is served over a network, and the Arrow of a tracin table shrinks ~8× (its
        // dictionary codes repeat); the page inflates it (DecompressionStream).
        const packed = await gzip(b, { level: 3 }); // level 6 is 7% smaller and twice as slow
        fs.writeFileSync(path.join(outDir, DATA_DIR, "data", p, `${c.cell}.arrow.gz`), packed);
        bytes += packed.byteLength;
        tables.push(`${p}.${c.cell} (${c.rows} rows${columns ? `, columns ${[...columns].join(", ")}` : ""}, ${mib(b.byteLength)}, ${mib(packed.byteLength)} gzipped)`);
      }
      const ran: BuiltQuery[] = [];
      // A query without values runs here; the page asks for its result by its key, as it asks the dev server.
      const shipQuery = async (key: string, parts: string[], where: string): Promise<BuiltQuery> => {
        let b: Uint8Array;
        try {
          ({ bytes: b } = await data.query(p, parts));
        } catch (err) {
          // As a page's query on a table this pipeline lacks: the page fails there, the site is built.
          if (!(err instanceof BadRequestError || err instanceof NotFoundError)) throw err;
          return { where, runs: "build", result: `not shipped: ${(err as Error).message.split("\n")[0]}`, fails: true };
        }
        const packed = await gzip(b, { level: 3 });
        makeDir(path.join(outDir, DATA_DIR, "query", p));
        fs.writeFileSync(path.join(outDir, DATA_DIR, "query", p, `${key}.arrow.gz`), packed);
        bytes += packed.byteLength;
        const rows = tableFromIPC(b).numRows;
        return { where, runs: "build", result: `(${rows} row${rows === 1 ? "" : "s"}, ${(packed.byteLength / 1024).toFixed(1)} KiB gzipped)`, fails: false };
      };
      for (const [key, { parts, uses }] of entries) {
        const inPage = uses.filter((u) => u.inPage), built = uses.filter((u) => !u.inPage);
        if (inPage.length) {
          const where = inPage.map((u) => u.where).join(" and ");
          // Those a `*` pattern names first: patterns are how a front matter names the tables of a cellTable.
          const tables = inPage.flatMap((u) => u.tables);
          const named = (wild: boolean) => cells.map((c) => c.cell).filter((cell) => tables.some((t) => t.wild === wild && t.re.test(cell)));
          const verdict = checks!.check({ parts, candidates: [...new Set([...named(true), ...named(false)])] });
          const page = (result: string, fails: boolean): BuiltQuery => ({ where, runs: "page", result, fails });
          if (verdict.status === "binds") ran.push(page("(runs in the page)", false));
          else if (verdict.status === "projection") unbound.push(`${p}: ${where} runs in the page, over ${verdict.tables.map((t) => `${t} (shipped with columns ${[...names.get(t) ?? []].join(", ")})`).join(" and ")}, and does not bind there (${verdict.message}): add the columns it reads to its notebook's front matter \`columns\``);
          else ran.push(page(`(runs in the page; ${verdict.status === "unchecked" ? "not checked" : "fails there"}: ${verdict.message})`, true));
        }
        if (built.length) ran.push(await shipQuery(key, parts, built.map((u) => u.where).join(" and ")));
      }
      if (ran.length) queries.push({ pipeline: p, queries: ran });
      const listed: Catalog = { pipeline: p, cells, encoding: "gzip", ...(catalog.missing ? { missing: catalog.missing } : {}) };
      if (explained.has(p) && !catalog.missing) {
        listed.explainer = await shipExplainer(data, p, path.join(outDir, DATA_DIR, "explain"));
        if ("file" in listed.explainer) bytes += listed.explainer.bytes;
        explainers.push("file" in listed.explainer
          ? `${p}: ${listed.explainer.influence}, ${listed.explainer.train_rows} training rows (${mib(listed.explainer.bytes)} gzipped)`
          : `${p}: none (${listed.explainer.missing})`);
      }
      if (compared.has(p) && !catalog.missing) {
        const modelCells = cells.filter((c) => ["finetune", "base-model"].includes(c.kind)).map((c) => c.cell);
        const { file, pairs } = await shipModels(data, p, modelCells, path.join(outDir, DATA_DIR, "models"));
        listed.models = { file };
        models.push(`${p}: ${Object.entries(pairs).map(([c, n]) => `${c} (${n} pair${n === 1 ? "" : "s"})`).join(", ") || "no model trained"}`);
      }
      if (logged.has(p) && !catalog.missing) {
        const { file, shipped, total } = await shipRuns(data, p, path.join(outDir, DATA_DIR, "runs"));
        listed.runs = { file };
        // The cells' states as built, worked out from the pipeline's file as `tracebook status` does.
        const status = await shipStatus(data, p, path.join(outDir, DATA_DIR, "runs"), { spec: specOf.get(p) });
        listed.status = { file: status.file };
        runs.push(`${p}: ${shipped < total ? `the newest ${shipped} of ` : ""}${plural(total, "pipeline run")}; ${statesInWords(status.answer)}`);
      }
      makeDir(path.join(outDir, DATA_DIR, "catalog"));
      fs.writeFileSync(path.join(outDir, DATA_DIR, "catalog", `${p}.json`), JSON.stringify(listed));
      catalogs.push(listed);
    }
  } finally {
    data.close();
    binder?.close();
  }
  // A site whose page would fail for want of a column its front matter can name is not built.
  if (unbound.length) throw new Error(`build-notebooks: the site was not built: ${unbound.join("; ")}`);
  fs.writeFileSync(path.join(outDir, "index.html"), indexHtml(notebooks, catalogs, (n, p) => `./${n.name}.html${p && p !== n.pipeline ? `?pipeline=${encodeURIComponent(p)}` : ""}`));
  fs.writeFileSync(path.join(outDir, MARKER), `built by tracebook build-notebooks from ${home} at ${new Date().toISOString()}\n`);
  return { pages, tables, explainers, models, runs, queries, bytes };
}

const gzip = promisify(zlib.gzip);

/** A front matter `tables` entry: a name, or a pattern with `*` (`wild`). */
interface TablePattern { re: RegExp; wild: boolean }

/** A front matter `tables` entry as a regular expression over cell names. */
function pattern(name: string): TablePattern {
  return { re: new RegExp(`^${name.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`), wild: name.includes("*") };
}

/** An output folder is replaced only if it is empty or an earlier build of ours. */
function checkOutDir(outDir: string): void {
  if (fs.existsSync(outDir)) {
    const entries = fs.readdirSync(outDir);
    if (entries.length && !entries.includes(MARKER)) throw new Error(`${outDir} is not empty and was not written by build-notebooks: choose another --out`);
  }
  makeDir(path.dirname(outDir));
}
