import { Runtime, type Module } from "@observablehq/runtime";
import * as Plot from "@observablehq/plot";
import * as Inputs from "@observablehq/inputs";
import { html, svg } from "htl";
import * as d3 from "d3";
import { displayError, displayValue, arrowRows, isArrowTable } from "./display.ts";
import { Generators, observe, type ObservedGenerator } from "./generators.ts";
import { NotebookDatabase, type Catalog } from "./duckdb.ts";
import { curation } from "./curation.ts";
import { counterfactuals } from "./what-if.ts";
import { explanations } from "./explain.ts";
import { models } from "./models.ts";
import { runs } from "./runs.ts";
import { cellsNow, type LiveCell } from "../../cells/notebooks/cells-now.ts";
import { digit, digitPad } from "./digit.ts";
import { changedPredictions, contributionList, shareChart } from "./influence.ts";
import { shortList } from "./short-list.ts";
import { keepChoice } from "./keep-choice.ts";
import { cellTable } from "../../cells/notebooks/sql-params.ts";
import "./style.css";

/** A compiled notebook: what the Vite plugin's module exports (see cells/notebooks/transform.ts). */
export interface CompiledNotebook {
  title: string;
  pipeline: string | null;
  frontMatter: Record<string, unknown>;
  /** Per table, the only columns the page reads (its front matter's `columns`, checked when it compiled). */
  columns: Record<string, string[]>;
  html: string;
  cells: CellDefinition[];
}

export interface CellDefinition {
  id: number;
  source: "js" | "sql" | "inline";
  inline: boolean;
  expression: boolean;
  inputs: string[];
  outputs: string[];
  error?: string;
  /** A ```sql server block's key: its `serverSql` follows only the outputs that query read. */
  serverQuery?: string;
  body: (...args: any[]) => unknown;
}

export interface MountOptions {
  /** Where the catalog and the data live: `/@tracebook` on the dev server, a relative folder in a static build. */
  base: string;
  /** Overrides the notebook's pipeline (the page's `?pipeline=` does too). */
  pipeline?: string | null;
}

/** A watch cycle as the dev server tells pages of it: what woke the watcher, how many cells ran and failed. */
export interface WatchCycle {
  pipeline: string;
  /** In words: "the workspace changed", "the pipeline file changed", "the first look". */
  trigger: string;
  ran: number;
  failed: number;
  at: string;
}

export interface MountedNotebook {
  runtime: Runtime;
  db: NotebookDatabase;
  /** The server pushed a new output for a cell: reload it if this page reads it (its readers re-run). */
  outputChanged(event: { pipeline: string; cell: string; kind?: string; dataVersion: string; rows?: number }): Promise<boolean>;
  /** A watcher finished a cycle over a pipeline: if it is this page's, `pipelineCycle` takes it (its readers re-run). */
  cycled(event: WatchCycle): boolean;
  /** A watcher reported a cell of a pipeline (running, fresh, failed, a new output): if it is this page's, `liveCells` takes it. */
  cellReported(event: { pipeline: string; cell: string; state: string; reason?: string | null; rows?: number | null; dataVersion?: string | null }): boolean;
  dispose(): void;
}

/** Lay out the notebook's HTML in `root` and run its cells on @observablehq/runtime. */
export function mount(root: HTMLElement, notebook: CompiledNotebook, options: MountOptions): MountedNotebook {
  const pipeline = new URLSearchParams(location.search).get("pipeline") ?? options.pipeline ?? notebook.pipeline;
  const db = new NotebookDatabase({ pipeline, base: options.base, columns: notebook.columns });
  root.innerHTML = notebook.html; // the notebook author's Markdown; data never goes through innerHTML
  document.title = notebook.title;

  const cycleListeners = new Set<(cycle: WatchCycle) => unknown>();
  // Each cell of the page's pipeline as the watcher last reported it, stamped when heard.
  const reported: Record<string, LiveCell> = {};
  const cellListeners = new Set<(cells: Record<string, LiveCell>) => unknown>();
  // What the user chose in the page's kept inputs, by name, for as long as the page is open.
  const choices = new Map<string, unknown>();
  const runtime = new Runtime({
    Plot: () => Plot,
    Inputs: () => Inputs,
    html: () => html,
    svg: () => svg,
    d3: () => d3,
    Generators: () => Generators,
    width: () => Generators.width(root),
    pipeline: () => pipeline,
    db: () => db,
    // A new `sql` whenever a table this page holds is reloaded: every cell that queries it re-runs.
    // A server block's cell gets a `serverSql` of its own (`serverQueryFollower`), new only when an
    // output its query read changes; this one, for any other caller, whenever any output the page follows does.
    sql: following(db.sql, (change) => db.onTableChange(change)),
    serverSql: following(db.serverSql, (change) => db.onChange(change)),
    cellTable: () => cellTable,
    // Runs its readers again when a cell appears or gets its first output; a new output of a cell
    // runs again only the queries that read it (a cell wanting each new output reads it in a query).
    catalog: () => observe<Promise<Catalog>>((change) => {
      change(db.catalog());
      return db.onCatalogChange(() => change(db.catalog()));
    }),
    rows: () => rowsOf,
    curation: () => curation(options.base),
    counterfactuals: () => counterfactuals(options.base),
    explain: () => explanations(options.base),
    models: () => models(options.base),
    runs: () => runs(options.base),
    // The latest watch cycle over the page's pipeline (null until one ends, and always in a static
    // build): a cell that reads it re-runs after each, as the run log may have grown.
    pipelineCycle: () => observe<WatchCycle | null>((change) => {
      change(null);
      cycleListeners.add(change);
      return () => cycleListeners.delete(change);
    }),
    // The page's pipeline's cells as the watcher reports them through a cycle (`cellsNow` lays them
    // over a status answer); {} until one reports, and always in a static build.
    liveCells: () => observe<Record<string, LiveCell>>((change) => {
      change({...reported});
      cellListeners.add(change);
      return () => cellListeners.delete(change);
    }),
    cellsNow: () => cellsNow,
    digit: () => digit,
    digitPad: () => digitPad,
    contributionList: () => contributionList,
    changedPredictions: () => changedPredictions,
    shareChart: () => shareChart,
    shortList: () => shortList,
    keepChoice: () => <T extends HTMLElement & { value: unknown }>(name: string, input: T) => keepChoice(choices, name, input),
  });
  const main = runtime.module();
  for (const key of new Set(notebook.cells.map((c) => c.serverQuery).filter((k) => k !== undefined))) {
    main.define(serverQueryFollower(key), [], following(db.serverSql, (change) => db.onServerChange(key, change)));
  }
  for (const cell of notebook.cells) {
    const el = root.querySelector<HTMLElement>(`#tb-cell-${cell.id}`);
    if (el) defineCell(main, cell, el);
  }
  return {
    runtime,
    db,
    async outputChanged(e) {
      if (e.pipeline !== db.pipeline) return false;
      return db.outputChanged(e.cell, e.dataVersion, e.rows, e.kind);
    },
    cycled(e) {
      if (e.pipeline !== db.pipeline) return false;
      for (const change of cycleListeners) change(e);
      return true;
    },
    cellReported(e) {
      if (e.pipeline !== db.pipeline) return false;
      reported[e.cell] = {state: e.state, reason: e.reason ?? null, rows: e.rows ?? null, dataVersion: e.dataVersion ?? null, at: Date.now()};
      for (const change of cellListeners) change({...reported});
      return true;
    },
    dispose() {
      runtime.dispose();
    },
  };
}

/** A builtin whose value is `fn`, and a new function calling it each time `subscribe` says the data it reads changed. */
function following<F extends (...args: any[]) => unknown>(fn: F, subscribe: (change: () => void) => () => void): () => ObservedGenerator<F> {
  return () => observe<F>((change) => {
    change(fn);
    return subscribe(() => change(((...args: Parameters<F>) => fn(...args)) as F));
  });
}

/** The runtime variable a server block's cell reads as `serverSql` (not a JavaScript name: no cell can define it). */
function serverQueryFollower(key: string): string {
  return `serverSql ${key}`;
}

/** Rows of an Arrow table (or any iterable) as plain objects. */
function rowsOf(value: unknown): Record<string, unknown>[] {
  if (isArrowTable(value)) return arrowRows(value);
  return Array.from(value as Iterable<Record<string, unknown>>);
}

/**
 * One cell: a runtime variable whose definition is the cell's body. `display` and `view` are
 * not runtime variables: each run of the cell gets its own, bound to the cell's place on the
 * page, and a display from an earlier run (a slow promise) is ignored.
 */
export function defineCell(main: Module, cell: CellDefinition, root: HTMLElement): void {
  let version = 0;
  const clear = () => root.replaceChildren();
  const observer = {
    pending() {
      root.classList.add("tb-running");
    },
    fulfilled(value: unknown) {
      root.classList.remove("tb-running", "tb-failed");
      if (cell.expression) {
        clear();
        displayValue(root, value, cell.inline);
      }
    },
    rejected(error: unknown) {
      root.classList.remove("tb-running");
      root.classList.add("tb-failed");
      clear();
      displayError(root, error);
      console.error(`notebook cell ${cell.id}: ${error instanceof Error ? error.message : String(error)}`);
    },
  };
  const inputs = cell.inputs.filter((i) => i !== "display" && i !== "view")
    .map((i) => (i === "serverSql" && cell.serverQuery ? serverQueryFollower(cell.serverQuery) : i));
  const definition = (...args: unknown[]) => {
    const run = ++version;
    if (!cell.expression) clear();
    const display = (value: unknown) => {
      if (run === version) displayValue(root, value, cell.inline);
      return value;
    };
    const view = (element: Element) => Generators.input(display(element) as Element);
    let k = 0;
    return cell.body(...cell.inputs.map((name) => (name === "display" ? display : name === "view" ? view : args[k++])));
  };
  main.variable(observer).define(cell.outputs.length ? `cell ${cell.id}` : null, inputs, definition);
  for (const name of cell.outputs) main.variable(true).define(name, [`cell ${cell.id}`], (exports: Record<string, unknown>) => exports[name]);
}
