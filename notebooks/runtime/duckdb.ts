import * as duckdb from "@duckdb/duckdb-wasm";
// The bundles and workers come from node_modules through Vite (?url), never from a CDN.
import ehWasm from "@duckdb/duckdb-wasm/dist/duckdb-eh.wasm?url";
import ehWorker from "@duckdb/duckdb-wasm/dist/duckdb-browser-eh.worker.js?url";
import mvpWasm from "@duckdb/duckdb-wasm/dist/duckdb-mvp.wasm?url";
import mvpWorker from "@duckdb/duckdb-wasm/dist/duckdb-browser-mvp.worker.js?url";
import { tableFromIPC, type Table } from "apache-arrow";

import type { Catalog, CatalogCell } from "../../cells/notebooks/wire.ts";
import { inflated } from "./inflate.ts";
import { ServerReads } from "./server-reads.ts";
import { expandSql, sqlParams, sqlScalars, type SqlParam } from "../../cells/notebooks/sql-params.ts";
import { quoteIdent } from "../../cells/store/sql-quote.ts";

export type { Catalog, CatalogCell } from "../../cells/notebooks/wire.ts";

let instance: Promise<duckdb.AsyncDuckDB> | null = null;

/** One DuckDB-wasm per page: the worker and the wasm are loaded once. */
function database(): Promise<duckdb.AsyncDuckDB> {
  return (instance ??= (async () => {
    const bundle = await duckdb.selectBundle({ mvp: { mainModule: mvpWasm, mainWorker: mvpWorker }, eh: { mainModule: ehWasm, mainWorker: ehWorker } });
    const worker = new Worker(bundle.mainWorker!);
    const db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), worker);
    await db.instantiate(bundle.mainModule, bundle.pthreadWorker);
    return db;
  })());
}

/**
 * The page's SQL: DuckDB-wasm with the pipeline's cell outputs as tables named after the cells.
 * A table is fetched (Arrow IPC from the server) the first time a query names it, and fetched
 * again when the server says the cell's output changed.
 */
export class NotebookDatabase {
  readonly pipeline: string | null;
  private readonly base: string;
  private connection: Promise<duckdb.AsyncDuckDBConnection> | null = null;
  private catalogPromise: Promise<Catalog> | null = null;
  /** Tables registered in this page: cell → data version and the load in flight. */
  private readonly loaded = new Map<string, { dataVersion: string | null; ready: Promise<void> }>();
  /** Every change this page follows: a table it holds reloaded, or an output one of its server queries read. */
  private readonly changes = new Listeners();
  /** A table this page holds reloaded: its own queries (`sql`) read nothing else. */
  private readonly tableChanges = new Listeners();
  /** Per server query (by key): an output it read changed. */
  private readonly serverChanges = new Map<string, Listeners>();
  /** The catalog's shape changed: a cell appeared, or got its first output (or its kind). */
  private readonly catalogChanges = new Listeners();
  /** Per table, the only columns this page reads (its front matter's `columns`): the rest is never fetched. */
  private readonly columns: Readonly<Record<string, readonly string[]>>;

  constructor(options: { pipeline: string | null; base: string; columns?: Record<string, readonly string[]> }) {
    this.pipeline = options.pipeline;
    this.base = options.base.replace(/\/$/, "");
    this.columns = options.columns ?? {};
  }

  /** Per server query this page ran (by key), the cells it read: a new output of one of them runs it again. */
  private readonly serverReads = new ServerReads();

  /**
   * The result of one of the page's server queries (a ```sql server block, by key): run where the
   * outputs are, so the tables it reads never come to the page; its `${…}` (`params`) travel as
   * values. A static build ran each query without values when it built; one with values (it
   * comes with its literal `parts`) runs here then, on the tables the build shipped.
   */
  readonly serverSql = async (key: string, params: unknown[] = [], parts?: string[]): Promise<Table> => {
    if (!this.pipeline) throw new Error("this page has no pipeline: a server query needs one");
    const catalog = await this.catalog();
    if (catalog.missing) throw new Error(catalog.missing);
    const gzipped = catalog.encoding === "gzip";
    const values = sqlParams(params);
    if (gzipped && parts) return this.expanded(parts, values);
    // The dev server runs it now (on outputs it keeps current). Values travel in the URL, or as
    // the body where they would make it too long (Node refuses request heads past 16 KiB).
    const json = values.length ? JSON.stringify(values) : "";
    const query = json && json.length <= MAX_URL_PARAMS ? `?params=${encodeURIComponent(json)}` : "";
    const init: RequestInit = gzipped ? {} : json && !query ? { method: "POST", body: json, cache: "no-store" } : { cache: "no-store" };
    const answered = this.serverReads.ask(key);
    try {
      const res = await fetch(`${this.base}/query/${encodeURIComponent(this.pipeline)}/${key}.arrow${gzipped ? ".gz" : query}`, init);
      if (!res.ok && gzipped) throw new Error(`${this.pipeline}: this static build has no result for server query ${key} (it failed when the site was built: the build's output says why)`);
      if (!res.ok) throw new Error(`${this.pipeline}: ${res.status} ${await res.text()}`);
      const table = tableFromIPC(await inflated(new Uint8Array(await res.arrayBuffer())));
      answered((res.headers.get("x-tracebook-reads") ?? "").split(",").filter(Boolean));
      return table;
    } finally {
      answered(null); // a failure: nothing learnt of what it reads (once answered, a no-op)
    }
  };

  /** Tagged template: `${…}` are bound parameters (a list: a list of them; `cellTable(name)`: that cell's table). */
  readonly sql = (strings: TemplateStringsArray | string, ...params: unknown[]): Promise<Table> =>
    typeof strings === "string" ? this.query(strings, params) : this.expanded([...strings], sqlParams(params));

  private expanded(parts: string[], params: SqlParam[]): Promise<Table> {
    const { text, probe, values } = expandSql(parts, params);
    return this.query(text, values, { probe });
  }

  catalog(): Promise<Catalog> {
    return (this.catalogPromise ??= this.fetchCatalog());
  }

  private async fetchCatalog(): Promise<Catalog> {
    if (!this.pipeline) return { pipeline: "", cells: [] };
    const res = await fetch(`${this.base}/catalog/${encodeURIComponent(this.pipeline)}.json`, { cache: "no-store" });
    if (!res.ok) throw new Error(`pipeline ${this.pipeline}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Catalog;
  }

  private async connect(): Promise<duckdb.AsyncDuckDBConnection> {
    return (this.connection ??= (async () => {
      const conn = await (await database()).connect();
      // The wasm build has no parquet/json extensions and must not try to download them.
      await conn.query("SET autoload_known_extensions=false");
      await conn.query("SET autoinstall_known_extensions=false");
      return conn;
    })());
  }

  /**
   * Run a query; `?` are bound parameters. The pipeline cells it names are registered first
   * (`probe`: the text with each parameter replaced by NULL, since DuckDB's table-name
   * extraction refuses placeholders; the `sql` template builds it).
   */
  async query(text: string, params: unknown[] = [], options: { probe?: string } = {}): Promise<Table> {
    const conn = await this.connect();
    await this.ensureTables(conn, options.probe ?? (params.length ? text.replace(/\?/g, "NULL") : text));
    if (!params.length) return conn.query(text);
    const statement = await conn.prepare(text);
    try {
      return await statement.query(...sqlScalars(params));
    } finally {
      await statement.close();
    }
  }

  /** Register the pipeline cells a query names (DuckDB's parser says which tables it reads). */
  private async ensureTables(conn: duckdb.AsyncDuckDBConnection, text: string): Promise<void> {
    let names: string[];
    try {
      names = await conn.getTableNames(text);
    } catch {
      return; // a syntax error: let the query report it
    }
    const catalog = await this.catalog();
    if (catalog.missing && names.length) throw new Error(catalog.missing);
    const cells = new Map(catalog.cells.map((c) => [c.cell, c]));
    await Promise.all(names.map((n) => n.replace(/^.*\./, "")).filter((n) => cells.has(n)).map((n) => this.load(conn, cells.get(n)!)));
  }

  private load(conn: duckdb.AsyncDuckDBConnection, cell: CatalogCell): Promise<void> {
    const have = this.loaded.get(cell.cell);
    if (have && have.dataVersion === cell.dataVersion) return have.ready;
    // Replace a table an earlier load made (or may be making); else create it.
    const ready = (have ? have.ready.catch(() => undefined) : Promise.resolve()).then(() => this.fetchInto(conn, cell, !!have));
    this.loaded.set(cell.cell, { dataVersion: cell.dataVersion, ready });
    ready.catch(() => this.loaded.delete(cell.cell));
    return ready;
  }

  private async fetchInto(conn: duckdb.AsyncDuckDBConnection, cell: CatalogCell, replace: boolean): Promise<void> {
    if (!cell.dataVersion) throw new Error(`cell ${this.pipeline}.${cell.cell} has no output yet: run \`tracebook run ${this.pipeline}\``);
    const gzipped = (await this.catalog()).encoding === "gzip"; // a static build's tables
    // A static build ships each table once, with every column some page of it reads.
    const only = gzipped ? [] : this.columns[cell.cell] ?? [];
    const url = `${this.base}/data/${encodeURIComponent(this.pipeline!)}/${encodeURIComponent(cell.cell)}.arrow${gzipped ? ".gz" : ""}?v=${cell.dataVersion}${only.map((c) => `&columns=${encodeURIComponent(c)}`).join("")}`;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${this.pipeline}.${cell.cell}: ${res.status} ${await res.text()}`);
    const bytes = await inflated(new Uint8Array(await res.arrayBuffer()));
    // A first load creates the table under its own name (a 1.5-million-row tracin table is not
    // copied: 1.5 s here); a reload loads under a temporary name, then replaces in one statement,
    // so a query never sees the table missing.
    if (!replace && /^[A-Za-z_][A-Za-z0-9_]*$/.test(cell.cell)) {
      await conn.insertArrowFromIPCStream(bytes, { name: cell.cell, create: true });
      return;
    }
    const temp = `__tb_load_${cell.cell}_${Math.random().toString(36).slice(2, 8)}`;
    await conn.insertArrowFromIPCStream(bytes, { name: temp, create: true });
    try {
      await conn.query(`CREATE OR REPLACE TABLE ${quoteIdent(cell.cell)} AS FROM ${quoteIdent(temp)}`);
    } finally {
      await conn.query(`DROP TABLE IF EXISTS ${quoteIdent(temp)}`);
    }
  }

  /** The server says a cell's output changed: reload it if this page read it, and tell the listeners. */
  async outputChanged(cell: string, dataVersion: string, rows?: number, kind?: string): Promise<boolean> {
    const catalog = await this.catalog();
    const entry = catalog.cells.find((c) => c.cell === cell);
    const before = entry?.dataVersion ?? null;
    const shape = catalogShape(catalog);
    if (entry) Object.assign(entry, { dataVersion, rows: rows ?? entry.rows, state: "fresh", reason: null, ...(kind && entry.kind === "?" ? { kind } : {}) });
    else catalog.cells.push({ cell, kind: kind ?? "?", rows: rows ?? null, dataVersion, state: "fresh", reason: null });
    // Whatever the page reads: a cell that says which cells there are (an attribution to choose) follows it.
    const reshaped = catalogShape(catalog) !== shape;
    if (reshaped) this.catalogChanges.tell();
    const have = this.loaded.get(cell);
    const reload = !!have && have.dataVersion !== dataVersion;
    // Server queries that read it: their results change with it, though this page holds no copy of the table.
    const askAgain = before !== dataVersion ? this.serverReads.touched(cell) : [];
    if (!reload && !askAgain.length) return reshaped;
    if (reload) {
      await this.load(await this.connect(), catalog.cells.find((c) => c.cell === cell)!);
      this.tableChanges.tell();
    }
    for (const key of askAgain) this.serverChanges.get(key)?.tell();
    this.changes.tell();
    return true;
  }

  /** Called when a table this page holds is reloaded or an output one of its server queries read changes. */
  onChange(listener: () => void): () => void {
    return this.changes.on(listener);
  }

  /** Called when a table this page holds is reloaded (what the page's own queries read). */
  onTableChange(listener: () => void): () => void {
    return this.tableChanges.on(listener);
  }

  /** Called when the catalog's shape changes (catalogShape): a cell appears or gets its first output, whether or not the page reads it. */
  onCatalogChange(listener: () => void): () => void {
    return this.catalogChanges.on(listener);
  }

  /** Called when an output server query `key` read changes (or may have, while it was being asked). */
  onServerChange(key: string, listener: () => void): () => void {
    let listeners = this.serverChanges.get(key);
    if (!listeners) this.serverChanges.set(key, (listeners = new Listeners()));
    return listeners.on(listener);
  }

  /** Tables this page has registered, with their data versions. */
  registered(): Record<string, string | null> {
    return Object.fromEntries([...this.loaded].map(([k, v]) => [k, v.dataVersion]));
  }
}

/** Who is told of one kind of change. */
class Listeners {
  private readonly set = new Set<() => void>();

  /** Tell `listener` from now on; the result stops it. */
  on(listener: () => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  tell(): void {
    for (const listener of this.set) listener();
  }
}

/** What a catalog says of which cells there are: each cell, its kind and whether it has an output (not which output: queries follow that). */
function catalogShape(catalog: Catalog): string {
  return JSON.stringify(catalog.cells.map((c) => [c.cell, c.kind, c.dataVersion !== null]));
}

/** Values longer than this (as JSON) go in a POST body, not the URL. */
const MAX_URL_PARAMS = 4096;
