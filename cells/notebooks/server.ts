import path from "node:path";
import readline from "node:readline";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createLogger, createServer, type InlineConfig, type ViteDevServer } from "vite";
import { resolveWorkspaceHome } from "../store/workspace.ts";
import type { WatchEvent } from "../graph/watch.ts";
import { NotebookData } from "./data.ts";
import { listNotebooks, tracebookNotebooks } from "./plugin.ts";

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
   * Pipelines (names or files) to keep current: each gets a `tracebook run --watch` child
   * process, whose new outputs are pushed to open pages. Default: the pipelines the notebooks name.
   */
  pipelines?: string[];
  /** Run the watchers (default true). Without, the pages show the outputs as they are. */
  watch?: boolean;
  /** Vite's dependency cache (default node_modules/.vite/tracebook-notebooks). */
  cacheDir?: string;
  /** Lines for the console: watcher events, errors. */
  log?: (line: string) => void;
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

/** `tracebook dev`: the notebooks on a Vite dev server bound to 127.0.0.1, with live pipeline outputs. */
export async function startNotebookServer(options: ServeOptions = {}): Promise<NotebookServer> {
  const home = resolveWorkspaceHome(options.home);
  const notebooksDir = path.resolve(options.notebooksDir ?? DEFAULT_NOTEBOOKS);
  const log = options.log ?? ((line: string) => console.log(line));
  const specs = options.pipelines?.length ? options.pipelines : [...new Set(listNotebooks(notebooksDir).map((n) => n.pipeline).filter((p): p is string => !!p))];
  const data = new NotebookData({ home });
  // Read the run log before any watcher takes the workspace.
  await data.readRunLog(specs.map(pipelineName), { attempts: 8 });

  const config = viteConfig({ notebooksDir, cacheDir: options.cacheDir, logLevel: options.logLevel });
  const server = await createServer({
    ...config,
    server: { ...config.server, host: "127.0.0.1", port: options.port ?? 5173, strictPort: options.port !== undefined },
    plugins: [tracebookNotebooks({ notebooksDir, runtimeEntry: RUNTIME_ENTRY, data, pipelines: specs.map(pipelineName) })],
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0] ?? `http://127.0.0.1:${options.port ?? 5173}/`;

  const events: WatchEvent[] = [];
  const children: ChildProcess[] = [];
  if (options.watch ?? true) {
    for (const spec of specs) {
      const name = pipelineName(spec);
      data.watch(name);
      children.push(spawnWatcher(spec, home, (e) => {
        events.push(e);
        if (events.length > 1000) events.shift();
        const entry = data.applyEvent(e as Parameters<NotebookData["applyEvent"]>[0]);
        if (e.event === "output-changed") {
          server.ws.send({ type: "custom", event: "tracebook:output-changed", data: { pipeline: e.pipeline, cell: e.cell, dataVersion: e.dataVersion, rows: e.rows } });
          log(`${e.pipeline}.${e.cell}: new output (${e.rows} rows, ${e.dataVersion.slice(0, 12)}): pages reading it reload it`);
        } else if (entry) {
          server.ws.send({ type: "custom", event: "tracebook:cell", data: { pipeline: "pipeline" in e ? e.pipeline : name, ...entry } });
        }
        if (e.event === "cell-started") log(`${e.pipeline}.${e.cell}: running (${e.reason})`);
        if (e.event === "cell-failed") log(`${e.pipeline}.${e.cell}: failed: ${e.error}`);
        if (e.event === "watch-error") log(`${e.pipeline}: ${e.error}`);
      }, log));
    }
  }

  let closed = false;
  return {
    url,
    notebooksDir,
    server,
    data,
    events,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(children.map(stopChild));
      await server.close();
      data.close();
    },
  };
}

/** `tracebook run <spec> --watch` as a child process: the workspace lock keeps it and this server's reads apart. */
function spawnWatcher(spec: string, home: string, onEvent: (e: WatchEvent) => void, log: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, [BIN, "--workspace", home, "run", spec, "--watch"], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    let e: WatchEvent;
    try {
      e = JSON.parse(line) as WatchEvent;
    } catch {
      return log(`watcher ${spec}: ${line}`);
    }
    onEvent(e);
  });
  readline.createInterface({ input: child.stderr! }).on("line", (line) => {
    if (line.trim() && !/Unknown user config|npm warn/.test(line)) log(`watcher ${spec}: ${line}`);
  });
  child.on("exit", (code, signal) => {
    if (code !== 0 && code !== 130 && signal !== "SIGINT" && signal !== "SIGTERM" && signal !== "SIGKILL") log(`watcher ${spec} exited (${code ?? signal})`);
  });
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGINT"); // the watcher cancels its cycle cleanly (the run is recorded as cancelled)
  });
}
