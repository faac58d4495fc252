import fs from "node:fs";
import path from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Plugin, ViteDevServer } from "vite";
import { compileNotebook, notebookToModule, type Notebook, type ServerQuery } from "./transform.ts";
import { BadRequestError, NotFoundError, type NotebookData, type Catalog } from "./data.ts";
import { handleApi, isApiRoute, readBody, type NotebookApi } from "./api.ts";

/** URL prefixes the plugin answers. */
export const NOTEBOOK_MODULE = "/@notebook/"; // the compiled notebook: /@notebook/<name>.js
export const NOTEBOOK_PAGE = "/@notebook-page/"; // the page's entry: mounts the notebook, wires live updates
export const API = "/@tracebook"; // catalog and data
const QUERY = "?tracebook-notebook";
const PAGE_ID = "\0tracebook-page:";

export interface NotebookInfo {
  name: string;
  file: string;
  title: string;
  pipeline: string | null;
  /**
   * Whether `tracebook dev` keeps its pipeline running (front matter `watch: false` says no: an
   * evaluation pipeline that retrains for minutes is run by hand, its outputs only served).
   */
  watch: boolean;
  error?: string;
}

export interface PluginOptions {
  /** Folder of `*.md` notebooks. */
  notebooksDir: string;
  /** Folder of the browser runtime (notebooks/runtime), served by Vite from the root. */
  runtimeEntry: string;
  /** The workspace's data, for the dev server's catalog and data endpoints (absent in a static build). */
  data?: NotebookData;
  /** Where the page finds the catalog and data: API on the dev server, a relative folder in a static build. */
  base?: string;
  /** Pipelines the server serves besides those the notebooks name (the index links the notebooks to them too). */
  pipelines?: string[];
  /**
   * The dev server's adoption of pipelines first run after it started (adopt.ts): the index lists
   * and a page's catalog request adopts them. Absent with pipelines named on the command line and
   * in a static build.
   */
  adoption?: { pipelines(): Promise<string[]>; adopt(pipeline: string): Promise<boolean> };
  /** The dev server's JSON API (curators' decisions); absent in a static build, whose pages are read-only. */
  api?: NotebookApi;
}

/** The notebooks' file names in a folder, sorted: its Markdown files but a README. */
function notebookFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith(".md") && f.toLowerCase() !== "readme.md").sort();
}

/** Notebooks in a folder, sorted by name. */
export function listNotebooks(dir: string): NotebookInfo[] {
  if (!fs.existsSync(dir)) return [];
  return notebookFiles(dir).map((f) => {
    const file = path.join(dir, f);
    const name = f.slice(0, -3);
    try {
      const nb = compileNotebook(fs.readFileSync(file, "utf8"));
      return { name, file, title: nb.title, pipeline: nb.pipeline, watch: nb.frontMatter.watch !== false };
    } catch (err) {
      return { name, file, title: name, pipeline: null, watch: false, error: (err as Error).message };
    }
  });
}

const NAME = /^[A-Za-z0-9][\w.-]*$/;

/** The most a server query's values may take as a POST body. */
const MAX_PARAMS_BODY = 1024 * 1024;

/** A JSON query parameter, or a 400 saying it is not JSON. */
function jsonParam(value: string | null): unknown {
  if (value === null) return [];
  try {
    return JSON.parse(value);
  } catch {
    throw new BadRequestError(`params: not JSON: ${value.slice(0, 80)}`);
  }
}

/** Each notebook's server queries as last compiled, by file: compiled again only when the file changed. */
const compiledQueries = new Map<string, { mtimeMs: number; size: number; queries: Notebook["serverQueries"] }>();

/**
 * The server query with this key in some notebook of the folder, or null. (Compiling the six
 * notebooks took 50–100 ms, and a page asks for several queries at once.)
 */
export function serverQuery(dir: string, key: string): ServerQuery | null {
  if (!fs.existsSync(dir)) return null;
  for (const f of notebookFiles(dir)) {
    const file = path.join(dir, f);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) continue;
    let have = compiledQueries.get(file);
    if (!have || have.mtimeMs !== stat.mtimeMs || have.size !== stat.size) {
      let queries: Notebook["serverQueries"];
      try {
        queries = compileNotebook(fs.readFileSync(file, "utf8")).serverQueries;
      } catch {
        queries = {}; // a notebook that does not compile has no queries to serve
      }
      compiledQueries.set(file, (have = { mtimeMs: stat.mtimeMs, size: stat.size, queries }));
    }
    if (have.queries[key]) return have.queries[key];
  }
  return null;
}

/**
 * The Vite plugin: `/@notebook/<name>.js` is `<notebooksDir>/<name>.md` compiled to a module;
 * `/@notebook-page/<name>.js` mounts it. On the dev server it also serves the index (`/`), each
 * notebook's page (`/<name>`), the pipeline catalog (`/@tracebook/catalog/<pipeline>.json`) and
 * cell outputs as Arrow IPC (`/@tracebook/data/<pipeline>/<cell>.arrow`, `?columns=…` for some of them), the results of
 * the notebooks' server queries (`/@tracebook/query/<pipeline>/<key>.arrow`), and with `api`,
 * curators' decisions (`POST /@tracebook/api/decisions`, see api.ts).
 */
export function tracebookNotebooks(options: PluginOptions): Plugin {
  const base = options.base ?? API;
  const fileOf = (name: string) => path.join(options.notebooksDir, `${name}.md`);
  return {
    name: "tracebook-notebooks",
    enforce: "pre",
    resolveId(id) {
      const clean = id.split("?")[0]!;
      if (clean.startsWith(NOTEBOOK_MODULE) && clean.endsWith(".js")) {
        const name = clean.slice(NOTEBOOK_MODULE.length, -3);
        if (NAME.test(name) && fs.existsSync(fileOf(name))) return `${fileOf(name)}${QUERY}`;
      }
      if (clean.startsWith(NOTEBOOK_PAGE) && clean.endsWith(".js")) {
        const name = clean.slice(NOTEBOOK_PAGE.length, -3);
        if (NAME.test(name) && fs.existsSync(fileOf(name))) return `${PAGE_ID}${name}`;
      }
      return null;
    },
    load(id) {
      if (id.endsWith(QUERY)) {
        const file = id.slice(0, -QUERY.length);
        this.addWatchFile(file);
        const nb = compileNotebook(fs.readFileSync(file, "utf8"));
        return { code: notebookToModule(nb, { file: path.relative(process.cwd(), file) || file }), map: null };
      }
      if (id.startsWith(PAGE_ID)) return pageEntry(id.slice(PAGE_ID.length), options.runtimeEntry, base);
      return null;
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        handle(server, options, req, res).then((done) => (done ? undefined : next()), (err) => {
          const status = err instanceof NotFoundError ? 404 : err instanceof BadRequestError ? 400 : 500;
          if (status === 500) server.config.logger.error(`tracebook notebooks: ${(err as Error).stack ?? err}`);
          if (res.headersSent) return void res.end(); // the handler has answered already (the API answers its own errors)
          res.statusCode = status;
          res.setHeader("content-type", "text/plain; charset=utf-8");
          res.end((err as Error).message);
        });
      });
    },
  };
}

/** The page's entry module: mount, expose for tests, follow the server's live events. */
function pageEntry(name: string, runtimeEntry: string, base: string): string {
  return `import notebook from ${JSON.stringify(`${NOTEBOOK_MODULE}${name}.js`)};
import { mount } from ${JSON.stringify(runtimeEntry)};
const root = document.getElementById("tb-notebook");
const live = document.getElementById("tb-live");
const mounted = mount(root, notebook, { base: ${JSON.stringify(base)} });
const pipelineLabel = document.getElementById("tb-pipeline");
if (pipelineLabel) pipelineLabel.textContent = mounted.db.pipeline ? "pipeline " + mounted.db.pipeline : "no pipeline";
window.__tracebook = { notebook, mounted, events: [] };
const say = (text) => { if (live) live.textContent = text; };
if (import.meta.hot) {
  if (live) live.classList.add("tb-on");
  say("live");
  // Served, but no watcher runs this pipeline: its outputs change only when someone runs it.
  mounted.db.catalog().then((c) => {
    if (c.watched !== false) return;
    if (live) live.classList.remove("tb-on");
    say("not live: no watcher runs " + c.pipeline + " (tracebook run " + c.pipeline + ", then reload)");
  }, () => undefined);
  import.meta.hot.on("tracebook:output-changed", async (e) => {
    window.__tracebook.events.push(e);
    mounted.cellReported({ ...e, state: "fresh", reason: null });
    const reloaded = await mounted.outputChanged(e);
    if (reloaded) say("live · " + e.cell + " updated " + new Date().toLocaleTimeString());
  });
  import.meta.hot.on("tracebook:cycle", (e) => {
    window.__tracebook.events.push(e);
    // The header said "running <cell>…" through the cycle: say how it ended.
    if (mounted.cycled(e) && (e.ran || e.failed)) say("live · " + e.ran + " ran" + (e.failed ? ", " + e.failed + " failed" : "") + " at " + new Date(e.at).toLocaleTimeString());
  });
  import.meta.hot.on("tracebook:cell", (e) => {
    if (!mounted.cellReported(e)) return;
    if (e.state === "running") say("live · running " + e.cell + "…");
    else if (e.state === "failed") say("live · " + e.cell + " failed");
  });
}
`;
}

async function handle(server: ViteDevServer, options: PluginOptions, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const p = decodeURIComponent(url.pathname);
  if (isApiRoute(p)) {
    if (!options.api) throw new NotFoundError("no API here: a static build is read-only (run `tracebook dev` to decide, retrain or explain)");
    await handleApi(p, req, res, options.api);
    return true;
  }
  const query = /^\/@tracebook\/query\/([^/]+)\/([0-9a-f]{16})\.arrow$/.exec(p);
  if (query && (req.method === "GET" || req.method === "HEAD" || req.method === "POST")) {
    if (!options.data) throw new NotFoundError("no workspace");
    // The page names a server query by key; its text comes from the notebooks here, never from the page.
    // Its `${…}` come as values (sql-params.ts): `?params=[…]` (JSON), or as a POST's JSON body when
    // they would make too long a URL (a list of many names).
    const found = serverQuery(options.notebooksDir, query[2]!);
    if (found === null) throw new NotFoundError(`no notebook in ${options.notebooksDir} has a server query ${query[2]} (edited since the page loaded? reload it)`);
    const params = req.method === "POST" ? jsonParam(await readBody(req, MAX_PARAMS_BODY, () => new BadRequestError(`params: a body larger than ${MAX_PARAMS_BODY / 1024} KiB`))) : jsonParam(url.searchParams.get("params"));
    const { bytes, reads } = await options.data.query(query[1]!, found.parts, params);
    send(res, 200, "application/vnd.apache.arrow.stream", bytes, { "cache-control": "no-store", "x-tracebook-reads": reads.join(",") });
    return true;
  }
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (p.startsWith(`${API}/`)) {
    if (!options.data) throw new NotFoundError("no workspace");
    const catalog = /^\/@tracebook\/catalog\/([^/]+)\.json$/.exec(p);
    if (catalog) {
      await options.adoption?.adopt(catalog[1]!);
      send(res, 200, "application/json; charset=utf-8", JSON.stringify(await options.data.catalog(catalog[1]!)), { "cache-control": "no-store" });
      return true;
    }
    const data = /^\/@tracebook\/data\/([^/]+)\/([^/]+)\.arrow$/.exec(p);
    if (data) {
      // `?columns=a&columns=b`: only those (a page's front matter `columns`), else the whole table.
      const columns = url.searchParams.has("columns") ? url.searchParams.getAll("columns") : undefined;
      if (columns?.some((c) => !c)) throw new BadRequestError("columns: an empty column name");
      const { bytes, dataVersion } = await options.data.arrow(data[1]!, data[2]!, columns);
      const etag = `"${dataVersion}"`;
      // A URL with the data version in it names immutable content; without it, revalidate.
      const headers = { etag, "cache-control": url.searchParams.get("v") === dataVersion ? "public, max-age=31536000, immutable" : "no-cache", "x-tracebook-data-version": dataVersion };
      if (req.headers["if-none-match"] === etag) {
        res.writeHead(304, headers).end();
        return true;
      }
      send(res, 200, "application/vnd.apache.arrow.stream", bytes, headers);
      return true;
    }
    throw new NotFoundError(`no such endpoint: ${p}`);
  }
  if (p === "/favicon.ico") {
    res.writeHead(204).end();
    return true;
  }
  if (p === "/" || p === "/index.html") {
    const html = await indexPage(options);
    send(res, 200, "text/html; charset=utf-8", await server.transformIndexHtml(req.url ?? "/", html));
    return true;
  }
  const page = /^\/([A-Za-z0-9][\w.-]*?)(?:\.html)?$/.exec(p);
  if (page && fs.existsSync(path.join(options.notebooksDir, `${page[1]}.md`))) {
    const info = listNotebooks(options.notebooksDir).find((n) => n.name === page[1])!;
    // The API token goes only into this server's own pages (see api.ts: other origins cannot read them).
    const head = options.api ? `<meta name="tracebook-token" content="${escapeHtml(options.api.token)}">\n` : "";
    send(res, 200, "text/html; charset=utf-8", await server.transformIndexHtml(req.url ?? "/", notebookPage(info, `${NOTEBOOK_PAGE}${info.name}.js`, "./", head)), { "cache-control": "no-store" });
    return true;
  }
  return false;
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "x-content-type-options": "nosniff", ...headers });
  res.end(body);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The HTML shell of one notebook page. */
export function notebookPage(info: NotebookInfo, entry: string, home: string, head = ""): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(info.title)}</title>
<link rel="icon" href="data:,">
${head}</head>
<body>
<header class="tb-bar"><a href="${escapeHtml(home)}">Tracebook notebooks</a><span>${escapeHtml(info.title)}</span><span id="tb-pipeline">${info.pipeline ? `pipeline ${escapeHtml(info.pipeline)}` : ""}</span><span class="tb-live" id="tb-live"></span></header>
<main class="tb-notebook" id="tb-notebook"></main>
<script type="module" src="${escapeHtml(entry)}"></script>
</body>
</html>
`;
}

/** The index: every notebook, and each pipeline's cells as the server sees them. */
async function indexPage(options: PluginOptions): Promise<string> {
  const notebooks = listNotebooks(options.notebooksDir);
  const more = options.adoption ? await options.adoption.pipelines() : options.pipelines ?? [];
  const pipelines = [...new Set([...notebooks.map((n) => n.pipeline).filter((p): p is string => p !== null), ...more])];
  const catalogs: (Catalog | { pipeline: string; error: string })[] = [];
  for (const p of pipelines) {
    try {
      catalogs.push(await options.data!.catalog(p));
    } catch (err) {
      catalogs.push({ pipeline: p, error: (err as Error).message });
    }
  }
  return indexHtml(notebooks, catalogs, (n, p) => `./${n.name}${p && p !== n.pipeline ? `?pipeline=${encodeURIComponent(p)}` : ""}`);
}

export function indexHtml(notebooks: NotebookInfo[], catalogs: (Catalog | { pipeline: string; error: string })[], href: (n: NotebookInfo, pipeline?: string) => string, head = ""): string {
  // A pipeline that never ran here is listed with what to run, like one the server could not read.
  const problem = (c: Catalog | { pipeline: string; error: string }) => ("error" in c ? c.error : c.missing);
  const served = catalogs.filter((c) => !problem(c)).map((c) => c.pipeline);
  const rows = notebooks.map((n) => {
    const others = served.filter((p) => p !== n.pipeline).map((p) => `<a href="${escapeHtml(href(n, p))}">${escapeHtml(p)}</a>`).join(" ");
    return `<tr><td><a href="${escapeHtml(href(n))}">${escapeHtml(n.title)}</a></td><td>${escapeHtml(n.pipeline ?? "")}</td><td>${others ? `also on ${others}` : ""}</td><td>${escapeHtml(n.error ?? "")}</td></tr>`;
  }).join("\n");
  // Never run is not an error: the pipelines a notebook names by default (mail-quality, run by
  // hand for minutes) are listed with what to run, in the page's own colour, not in red.
  // The table below says how each cell's last run went; whether its output is current (fresh, or
  // stale and why) is worked out from the pipeline's file, which the Pipeline runs page asks for.
  const runsPage = notebooks.find((n) => n.name === "pipeline-runs");
  const states = (p: string) => (runsPage ? `<p class="tb-meta pipeline-states">Whether each cell is fresh or stale, and why, and every run: <a href="${escapeHtml(href(runsPage, p))}">Pipeline runs</a></p>` : "");
  const pipelines = catalogs.map((c) => "error" in c || c.missing
    ? `<h2>Pipeline ${escapeHtml(c.pipeline)}</h2><p class="${"error" in c ? "tb-error" : "tb-meta pipeline-missing"}">${escapeHtml(problem(c)!)}</p>`
    : `<h2>Pipeline ${escapeHtml(c.pipeline)}</h2>${c.watched === undefined ? "" : `<p class="tb-meta pipeline-live">${c.watched ? "live: a watcher recomputes it and open pages follow" : `served as it is: no watcher runs it (<code>tracebook run ${escapeHtml(c.pipeline)}</code>, then reload)`}</p>`}${states(c.pipeline)}<table><tr><th>cell</th><th>kind</th><th>last run</th><th>rows</th><th>data version</th></tr>${c.cells.map((x) =>
      `<tr><td>${escapeHtml(x.cell)}</td><td>${escapeHtml(x.kind)}</td><td>${escapeHtml(x.state)}</td><td>${x.rows ?? ""}</td><td><code>${escapeHtml(x.dataVersion?.slice(0, 12) ?? "")}</code></td></tr>`).join("")}</table>`).join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tracebook notebooks</title>
<link rel="icon" href="data:,">
${head}<style>body{margin:0;font:15px/1.5 system-ui,sans-serif;color:#1b1e23}main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem 4rem}table{border-collapse:collapse}td,th{text-align:left;padding:.2rem .8rem .2rem 0;border-bottom:1px solid #e3e5e8;font-size:14px}a{color:#2f5fd0}.tb-error{color:#b3261e}</style>
</head>
<body>
<main class="tb-index">
<h1>Tracebook notebooks</h1>
<table id="tb-notebooks"><tr><th>notebook</th><th>pipeline</th><th></th><th></th></tr>
${rows}
</table>
${pipelines}
</main>
</body>
</html>
`;
}
