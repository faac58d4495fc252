import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, createServer, type InlineConfig, type ViteDevServer } from "vite";
import { ReadOnlyWorkspaceError, resolveWorkspaceHome, workspaceReadOnly } from "../store/workspace.ts";
import { triggerWords, type WatchEvent } from "../graph/watch.ts";
import { resolvePipelineFile } from "../graph/loader.ts";
import { PipelineError } from "../graph/cell.ts";
import { NotebookData } from "./data.ts";
import { listNotebooks, tracebookNotebooks, type NotebookInfo } from "./plugin.ts";
import { PipelineAdoption, watchSpec } from "./adopt.ts";
import { busyNotices, isBusy, Watchers } from "./watchers.ts";
import { newToken, type NotebookApi } from "./api.ts";
import { parseDecisionRequest, recordDecision } from "./decisions.ts";
import { askInChild, parseWhatIfRequest } from "./what-if.ts";
import { Explainers, parseExplainRequest } from "./explain.ts";
import { answerModels, parseModelsRequest } from "./models.ts";
import { answerRuns, parseRunsRequest } from "./runs.ts";
import { answerStatus, parseStatusRequest } from "./status.ts";
import { canonicalRemoval, describeRemoval } from "../quality/removal.ts";
import { plural } from "../graph/plural.ts";

/** The tracebook package: Vite's root, so node_modules (duckdb-wasm, Plot, Inputs) and notebooks/runtime are served from it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DEFAULT_NOTEBOOKS = path.join(PACKAGE_ROOT, "notebooks");
const RUNTIME_ENTRY = "/notebooks/runtime/index.ts";
const BIN = path.join(PACKAGE_ROOT, "bin", "tracebook.js");

export interface ServeOptions {
  /** Workspace directory (default: $TRACEBOOK_HOME, else ./.tracebook). */
  home?: string;
  port?: number;
  notebooksDir?: string;
  /**
   * Pipelines (names or files) to serve and keep current: each gets a `tracebook run --watch`
   * child process, whose new outputs are pushed to open pages. Default: the pipelines the
   * notebooks name and those this workspace has run, each watched unless only `watch: false`
   * notebooks name it (an evaluation that retrains for minutes) or its file cannot be found.
   */
  pipelines?: string[];
  /** Where pipelines named by name are found (pipelines/<name>.pipeline.ts; default the current directory). */
  cwd?: string;
  /** Run the watchers (default true). Without, the pages show the outputs as they are. */
  watch?: boolean;
  /**
   * Open the workspace read-only: the pages show the outputs as they are (no watcher runs a
   * pipeline) and a curator's decision is refused. A workspace this user cannot write is served so too.
   */
  readOnly?: boolean;
  /** Vite's dependency cache (default node_modules/.vite/tracebook-notebooks). */
  cacheDir?: string;
  /** Lines for the console: watcher events, errors. */
  log?: (line: string) => void;
  /** Tries to open the workspace for a curator's decision while another process holds it (default 8, from 200 ms doubling: about 25 s). */
  writeAttempts?: number;
  /** Vite's log level (default "warn"). */
  logLevel?: InlineConfig["logLevel"];
}

export interface NotebookServer {
  url: string;
  notebooksDir: string;
  server: ViteDevServer;
  data: NotebookData;
  /** Events the watchers reported (the last 1,000), for tests and diagnostics. */
  events: WatchEvent[];
  /** The pipelines served, and those of them a watcher keeps current. */
  pipelines: { served: string[]; watched: string[] };
  /** Why the workspace is served read-only, or null. */
  readOnly: string | null;
  close(): Promise<void>;
}

/** The pipeline's name as the run log knows it: `pipelines/x.pipeline.ts` → x. */
export function pipelineName(spec: string): string {
  const base = path.basename(spec);
  const m = /^(.*?)\.pipeline\.[cm]?[jt]s$/.exec(base);
  return m ? m[1]! : base.replace(/\.[cm]?[jt]s$/, "");
}

/** Settings shared by the dev server and the static build. */
export function viteConfig(options: { notebooksDir: string; cacheDir?: string; logLevel?: InlineConfig["logLevel"] }): InlineConfig {
  // DuckDB-wasm's worker ships a source map naming files outside its package: Vite warns once per file, harmlessly.
  const logger = createLogger(options.logLevel ?? "warn");
  const noise = (msg: string) => msg.includes("Sourcemap for") && msg.includes("@duckdb/duckdb-wasm");
  const { warn, warnOnce } = logger;
  logger.warn = (msg, opts) => (noise(msg) ? undefined : warn.call(logger, msg, opts));
  logger.warnOnce = (msg, opts) => (noise(msg) ? undefined : warnOnce.call(logger, msg, opts));
  return {
    customLogger: logger,
    root: PACKAGE_ROOT,
    configFile: false,
    envDir: false,
    appType: "custom",
    clearScreen: false,
    logLevel: options.logLevel ?? "warn",
    cacheDir: options.cacheDir ?? path.join(PACKAGE_ROOT, "node_modules", ".vite", "tracebook-notebooks"),
    optimizeDeps: {
      // duckdb-wasm is loaded as is: its wasm and worker files are fetched by URL (?url).
      exclude: ["@duckdb/duckdb-wasm"],
      include: ["@observablehq/runtime", "@observablehq/plot", "@observablehq/inputs", "htl", "apache-arrow", "d3"],
      entries: [],
    },
    server: { fs: { allow: [PACKAGE_ROOT, options.notebooksDir] } },
  };
}

/**
 * Pipelines named to serve must be somewhere: a file, pipelines/<name>.pipeline.ts, or a name the
 * workspace has run (its outputs are served as they are, its recorded file watched). A mistyped
 * name started a server serving nothing new, its watcher exiting behind the startup lines.
 */
async function checkNamed(specs: readonly string[], data: NotebookData, cwd: string | undefined): Promise<void> {
  const run = await data.pipelinesRun({ attempts: 8 });
  for (const spec of specs) {
    try {
      resolvePipelineFile(spec, cwd);
    } catch (err) {
      if (!run.names.includes(pipelineName(spec))) {
        throw new PipelineError(`${(err as Error).message}, and this workspace has run no pipeline of that name (it has run: ${run.names.join(", ") || "none"})`);
      }
    }
  }
}

/** `tracebook dev`: the notebooks on a Vite dev server bound to 127.0.0.1, with live pipeline outputs. */
export async function startNotebookServer(options: ServeOptions = {}): Promise<NotebookServer> {
  const home = resolveWorkspaceHome(options.home);
  const notebooksDir = path.resolve(options.notebooksDir ?? DEFAULT_NOTEBOOKS);
  const log = options.log ?? ((line: string) => console.log(line));
  const readOnly = workspaceReadOnly(home, options.readOnly);
  const watch = !readOnly && (options.watch ?? true);
  const data = new NotebookData({ home, readOnly: options.readOnly });
  const explicit = !!options.pipelines?.length;
  const notebooks = listNotebooks(notebooksDir);
  if (explicit) await checkNamed(options.pipelines!, data, options.cwd);
  const runLog = explicit ? null : await data.pipelinesRun({ attempts: 8 });
  const { specs, watched, watchSpecs } = runLog
    ? defaultPipelines(notebooks, runLog.names, options.cwd, (p) => runLog.files.get(p), runLog.byHand)
    : { specs: options.pipelines!, watched: options.pipelines!.map(pipelineName), watchSpecs: options.pipelines! };
  // Read the run log before any watcher takes the workspace.
  await data.readRunLog(specs.map(pipelineName), { attempts: 8 });

  const events: WatchEvent[] = [];
  const busyNotice = busyNotices();
  const watchers = new Watchers({
    specs: watch ? watchSpecs : [], home, cwd: options.cwd, bin: BIN, log,
    onEvent: (spec, e) => {
      const name = pipelineName(spec);
      events.push(e);
      if (events.length > 1000) events.shift();
      const entry = data.applyEvent(e);
      if (e.event === "output-changed") {
        server.ws.send({ type: "custom", event: "tracebook:output-changed", data: { pipeline: e.pipeline, cell: e.cell, kind: entry?.kind, dataVersion: e.dataVersion, rows: e.rows } });
        log(`${e.pipeline}.${e.cell}: new output (${plural(e.rows, "row")}, ${e.dataVersion.slice(0, 12)}): pages reading it reload it`);
      } else if (entry) {
        server.ws.send({ type: "custom", event: "tracebook:cell", data: { pipeline: "pipeline" in e ? e.pipeline : name, ...entry } });
      } else if (e.event === "watch-cycle") {
        // The run log may have grown (this cycle's runs, or a run by hand that woke the watcher): pages showing it ask again.
        server.ws.send({ type: "custom", event: "tracebook:cycle", data: { pipeline: e.pipeline, trigger: triggerWords(e.trigger), ran: e.summary.ran.length, failed: e.summary.failed.length, at: e.at } });
      }
      if (e.event === "cell-started") log(`${e.pipeline}.${e.cell}: running (${e.reason})`);
      if (e.event === "cell-failed") log(`${e.pipeline}.${e.cell}: failed: ${e.error}`);
      if (e.event === "watch-error" && !isBusy(e)) log(`${e.pipeline}: ${e.error}`);
      const notice = busyNotice(name, e);
      if (notice) log(notice);
    },
  });
  const served = new Set(specs.map(pipelineName));
  // What a child process is told to load for a served pipeline: its file where the server knows one.
  const specOf = new Map([...specs, ...watchSpecs].map((s) => [pipelineName(s), s] as const));
  // With the default pipelines, one first run after start is adopted (adopt.ts): listed, and
  // watched unless --no-watch.
  const adoption = explicit ? undefined : new PipelineAdoption({
    data, watchers, served, log, cwd: options.cwd, watch,
    named: new Set(notebooks.map((n) => n.pipeline).filter((p): p is string => !!p)),
  });
  // A decision is written with the watchers paused (watchers.ts says why), in one transaction,
  // the workspace open only for it; the watchers then recompute and the pages follow.
  let whatIfQueue: Promise<unknown> = Promise.resolve();
  const explainers = new Explainers(data);
  const refuseReadOnly = (why: string) => {
    if (readOnly) throw new ReadOnlyWorkspaceError(`this server has the workspace open read-only (${readOnly}): ${why}`);
  };
  const api: NotebookApi = {
    token: newToken(),
    async decide(body) {
      refuseReadOnly("a curator's decision changes it");
      const request = parseDecisionRequest(body);
      const result = await watchers.pause(() => data.withWorkspace((ws) => recordDecision(ws, request), { attempts: options.writeAttempts ?? 8 }));
      for (const d of result.decided) log(`decision: ${d.datanet} ${d.id.slice(0, 12)} ${request.status === "keep" ? `kept ${d.to}` : `${d.from} → ${d.to}`} by ${request.curator} (validation #${d.seq}): ${request.reason}`);
      // Whether the page's pipeline recomputes: a page opened on a pipeline no watcher runs must not say it does.
      const watching = request.pipeline === undefined ? watchers.watching : (await adoption?.adopt(request.pipeline)) || data.watched(request.pipeline);
      return { ...result, watching };
    },
    // A what-if retrain writes runs and artifacts, so it too has the workspace alone (the
    // watchers paused), one question at a time; the watchers then go on from where they were.
    async whatIf(body) {
      refuseReadOnly("a what-if question retrains and records the answer in it");
      const request = parseWhatIfRequest(body, served);
      const asked = whatIfQueue.then(() => watchers.pause(async () => {
        log(`what-if: ${request.pipeline} without ${describeRemoval(canonicalRemoval(request))}: retraining…`);
        const answer = await askInChild({ ...request, pipeline: specOf.get(request.pipeline) ?? request.pipeline }, { home, bin: BIN, cwd: options.cwd });
        log(`what-if: ${request.pipeline}: ${answer.summary.flips} of ${answer.queries.length} predictions flip${answer.fresh ? " (answered before)" : ""}`);
        return answer;
      }, "a what-if retrain"));
      whatIfQueue = asked.catch(() => undefined);
      return asked;
    },
    // An explanation only reads (the run log, and the training rows once per model): no pause.
    async explain(body) {
      const request = parseExplainRequest(body, served);
      const answer = await explainers.answer(request);
      log(`explain: ${request.pipeline}: ${answer.explanations.length} input${answer.explanations.length === 1 ? "" : "s"} as ${answer.influence} explains them (${answer.seconds.toFixed(2)} s)`);
      return answer;
    },
    // Model history only reads (the run log, two models' lineages, their outputs on the held-out rows): no pause.
    async models(body) {
      const request = parseModelsRequest(body, served);
      const answer = await answerModels(data, request);
      const d = answer.diff;
      log(`models: ${request.pipeline}.${answer.cell}: ${answer.history.length} model${answer.history.length === 1 ? "" : "s"}${d ? `; ${d.a.slice(0, 12)} → ${d.b.slice(0, 12)}: ${d.rows.removed.length} rows left, ${d.rows.added.length} entered${d.outputs ? `, ${d.outputs.changed.length} predictions changed` : ""}` : ""}`);
      return answer;
    },
    // The run log only reads; a page asks again after each watch cycle, so it is not logged here.
    async runs(body) {
      return answerRuns(data, parseRunsRequest(body, served));
    },
    // The cells' states read the pipeline's file again (an edit makes cells stale) and the run log; asked after each cycle, not logged.
    async status(body) {
      const request = parseStatusRequest(body, served);
      return answerStatus(data, request, { spec: specOf.get(request.pipeline), cwd: options.cwd, watched: data.watched(request.pipeline) });
    },
  };

  const config = viteConfig({ notebooksDir, cacheDir: options.cacheDir, logLevel: options.logLevel });
  const server = await createServer({
    ...config,
    // No CORS: a page of another origin (another local port included) must not read these pages, their token or the data.
    server: { ...config.server, host: "127.0.0.1", port: options.port ?? 5173, strictPort: options.port !== undefined, cors: false },
    plugins: [tracebookNotebooks({ notebooksDir, runtimeEntry: RUNTIME_ENTRY, data, pipelines: [...served], adoption, api })],
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${options.port ?? 5173}/`;
  for (const name of watchers.watching ? watched : []) data.watch(name);
  watchers.start();

  let closed = false;
  return {
    url,
    notebooksDir,
    server,
    data,
    events,
    readOnly,
    get pipelines() {
      return { served: [...served], watched: [...served].filter((p) => data.watched(p)) };
    },
    async close() {
      if (closed) return;
      closed = true;
      await watchers.close();
      await server.close();
      data.close();
    },
  };
}

/**
 * What `tracebook dev` serves and watches by default: the pipelines the notebooks name and those
 * the workspace has run (a page may open any of them with `?pipeline=`). Watched: all of them
 * except pipelines only `watch: false` notebooks name (run by hand), pipelines that have run an
 * attribution-quality evaluation (`byHand`: retrains for minutes, run by hand too), and run pipelines whose file
 * cannot be found, by name or where it was last run from (a watcher could not load them; their
 * outputs are still served). `watchSpecs` are what each watched pipeline's watcher runs.
 */
export function defaultPipelines(
  notebooks: readonly NotebookInfo[], run: readonly string[], cwd = process.cwd(), recorded: (pipeline: string) => string | undefined = () => undefined,
  byHand: ReadonlySet<string> = new Set(),
): { specs: string[]; watched: string[]; watchSpecs: string[] } {
  const named = (keep: (n: NotebookInfo) => boolean) => new Set(notebooks.filter(keep).map((n) => n.pipeline).filter((p): p is string => !!p));
  const byNotebooks = named(() => true);
  const live = named((n) => n.watch);
  const specs = [...new Set([...byNotebooks, ...run])];
  // A pipeline that evaluates attribution quality (a `tracebook new --quality` one) is run by hand, as `watch: false` notebooks' are.
  const spec = (p: string) => (live.has(p) ? p : byNotebooks.has(p) || byHand.has(p) ? null : watchSpec(p, cwd, recorded(p)));
  const watched = specs.filter((p) => spec(p) !== null);
  return { specs, watched, watchSpecs: watched.map((p) => spec(p)!) };
}
