import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { SerialDuckDB } from "../store/serial-duckdb.ts";
import { tableToIPC } from "apache-arrow";
import { openWhenFree, WorkspaceBusyError, type Workspace } from "../store/workspace.ts";
import { parquetAsArrow, queryAsArrow, UnknownColumnsError } from "../store/served-arrow.ts";
import { projectionSuffix, ServedCache } from "./served-cache.ts";
import { ServerQueryError, ServerSql } from "./server-sql.ts";
import { expandSql, sqlParamsFromJson, SqlParamError, type ExpandedSql } from "./sql-params.ts";
import { ARTIFACTS_DIR } from "../store/relocate.ts";
import { cellHistories, pipelineFiles, pipelinesRun } from "../graph/runs.ts";
import { isWhatIfCell } from "../quality/questions.ts";
import type { WatchEvent } from "../graph/watch.ts";

import type { Catalog, CatalogCell } from "./wire.ts";

export type { Catalog, CatalogCell } from "./wire.ts";

interface Entry extends CatalogCell {
  artifact: string | null;
}

export class NotFoundError extends Error {}
/** The page asked for something this output cannot give (a column it does not have): a 400. */
export class BadRequestError extends Error {}

/** The pipelines a workspace has run, and the file each was last run from (runs.ts: pipeline_files). */
export interface RunLogPipelines {
  names: string[];
  files: ReadonlyMap<string, string>;
  /**
   * Pipelines that have run an attribution-quality evaluation (loco, lds, mislabel): each retrains
   * the model for minutes, so they are run by hand and served as they are, never watched.
   */
  byHand: ReadonlySet<string>;
}

/** Cell kinds that retrain a model many times: a pipeline holding one is not recomputed on every change. */
export const BY_HAND_KINDS = ["loco", "lds", "mislabel"] as const;

/**
 * The notebook server's view of the workspace. The DuckDB file is held only while the run log
 * is read or a curator's decision is written (open, read or write, close), so `tracebook run`,
 * a watcher or the CLI can write in between; artifacts (Parquet) are read by a separate
 * in-memory DuckDB and served as Arrow IPC streams, cached by data version (content-addressed,
 * so a cached stream never goes stale) in memory and on disk (served-cache.ts).
 */
export class NotebookData {
  readonly home: string;
  private readonly catalogs = new Map<string, { cells: Map<string, Entry>; at: number }>();
  /** Pipelines whose catalog is kept current by watcher events, not by re-reading the run log. */
  private readonly live = new Set<string>();
  private readonly arrows = new Map<string, Promise<Uint8Array>>();
  private arrowBytes = 0;
  private readonly maxCacheBytes: number;
  /** Reads artifacts into the streams the pages get. */
  private readonly reader = new SerialDuckDB();
  private workspaceQueue: Promise<unknown> = Promise.resolve();
  private readonly refreshMs: number;
  private runLogPipelines: (RunLogPipelines & { at: number }) | null = null;

  private readonly readOnly: boolean;
  private readonly served: ServedCache;
  private readonly serverSql: ServerSql;

  /** `readOnly`: open the workspace read-only (the dev server's `--read-only`); its streams are then kept in memory only. */
  constructor(options: { home: string; maxCacheBytes?: number; refreshMs?: number; readOnly?: boolean }) {
    this.home = options.home;
    this.readOnly = options.readOnly ?? false;
    this.served = new ServedCache(this.home, !this.readOnly);
    this.serverSql = new ServerSql(path.join(this.home, ARTIFACTS_DIR));
    this.maxCacheBytes = options.maxCacheBytes ?? 512 * 2 ** 20;
    this.refreshMs = options.refreshMs ?? 1000;
  }

  /**
   * The pipeline's cells with their current outputs. Re-reads the run log (at most once per
   * refreshMs) unless a watcher keeps it current. A pipeline that never ran here is an answer,
   * not an error: no cells, and `missing` says what to run (pages, the index and static builds
   * show it).
   */
  async catalog(pipeline: string): Promise<Catalog> {
    const have = this.catalogs.get(pipeline);
    if (!have || (!this.live.has(pipeline) && Date.now() - have.at > this.refreshMs)) {
      try {
        await this.readRunLog([pipeline]);
      } catch (err) {
        if (!have) throw err; // the workspace is busy (a run holds it): serve what we know
      }
    }
    const entries = this.catalogs.get(pipeline);
    if (!entries || !entries.cells.size) return { pipeline, cells: [], missing: `pipeline "${pipeline}" has no runs in workspace ${this.home}: run \`tracebook run ${pipeline}\` first` };
    return { pipeline, cells: [...entries.cells.values()].map(({ artifact: _a, ...c }) => c), watched: this.live.has(pipeline) };
  }

  /**
   * The pipelines the run log names, with the file each was last run from, re-read at most once
   * per refreshMs (`fresh`: now). While another process holds the workspace, the last answer (the
   * first read fails instead, after `attempts` tries).
   */
  async pipelinesRun(options: { attempts?: number; fresh?: boolean } = {}): Promise<RunLogPipelines> {
    const have = this.runLogPipelines;
    if (have && !options.fresh && Date.now() - have.at <= this.refreshMs) return have;
    try {
      const read = await this.withWorkspace(async (ws) => ({
        names: await pipelinesRun(ws),
        files: await pipelineFiles(ws),
        byHand: new Set((await ws.rows<{ pipeline: string }>(
          `select distinct pipeline from runs where kind in (${BY_HAND_KINDS.map(() => "?").join(", ")})`, [...BY_HAND_KINDS])).map((r) => r.pipeline)),
      }), options);
      this.runLogPipelines = { ...read, at: Date.now() };
      return read;
    } catch (err) {
      if (!have || !(err instanceof WorkspaceBusyError)) throw err;
      return have;
    }
  }

  /** Read the run log of these pipelines (open, read, close), retrying while another process holds the workspace. */
  async readRunLog(pipelines: string[], options: { attempts?: number } = {}): Promise<void> {
    await this.withWorkspace(async (ws) => {
      for (const p of pipelines) {
        const histories = await cellHistories(ws, p);
        const cells = new Map<string, Entry>();
        const byTime = [...histories].sort(([, a], [, b]) => (a.last?.started_at?.getTime() ?? 0) - (b.last?.started_at?.getTime() ?? 0));
        for (const [cell, h] of byTime) {
          // A what-if question is not a cell of the pipeline: pages get its answer from the API.
          if (isWhatIfCell(cell)) continue;
          const done = h.lastSucceeded;
          const last = h.last;
          cells.set(cell, {
            cell, kind: (done ?? last)?.kind ?? "?", rows: done?.rows == null ? null : Number(done.rows),
            dataVersion: done?.data_version ?? null, artifact: done?.artifact ?? null,
            state: last?.status ?? "never run", reason: last?.status === "succeeded" ? null : last?.error ?? null,
          });
        }
        this.catalogs.set(p, { cells, at: Date.now() });
      }
    }, options);
  }

  /**
   * Open the workspace, run `fn`, close it: the only way this server touches the DuckDB file, so
   * its reads and a curator's writes never overlap each other (one queue) and the file is free
   * for `tracebook run`, the watchers and the CLI in between. While another process holds it,
   * retries with backoff (`attempts` tries, 200 ms doubling: 8 tries wait 25 s in all), then fails
   * with the store's WorkspaceBusyError.
   */
  withWorkspace<T>(fn: (ws: Workspace) => Promise<T>, options: { attempts?: number } = {}): Promise<T> {
    const attempts = options.attempts ?? 3;
    const task = async () => {
      const ws = await openWhenFree({ home: this.home, readOnly: this.readOnly }, (i) => (i + 1 >= attempts ? null : 200 * 2 ** i));
      try {
        return await fn(ws);
      } finally {
        ws.close();
      }
    };
    const run = this.workspaceQueue.then(task, task);
    this.workspaceQueue = run.catch(() => undefined);
    return run;
  }

  /** Mark a pipeline as kept current by a watcher's events. */
  watch(pipeline: string): void {
    this.live.add(pipeline);
  }

  /** Whether a watcher keeps this pipeline current. */
  watched(pipeline: string): boolean {
    return this.live.has(pipeline);
  }

  /**
   * A watcher's event: new outputs replace the catalog's; running and failed cells say so; a
   * whole cycle names every cell the pipeline file has now, and the catalog forgets the others (a
   * cell renamed or taken out of the file: its output is no cell's any more, as gc sees it, so the
   * index stops listing it and pages stop reading it). Returns the catalog entry it changed.
   */
  applyEvent(e: WatchEvent): CatalogCell | null {
    if (e.event === "watch-cycle" && !e.summary.cancelled) {
      const now = new Set([...e.summary.ran, ...e.summary.fresh, ...e.summary.failed, ...e.summary.blocked]);
      const catalog = this.catalogs.get(e.pipeline);
      for (const cell of catalog?.cells.keys() ?? []) if (!now.has(cell)) catalog!.cells.delete(cell);
    }
    if (!("cell" in e)) return null;
    const catalog = this.catalogs.get(e.pipeline) ?? { cells: new Map<string, Entry>(), at: Date.now() };
    this.catalogs.set(e.pipeline, catalog);
    const entry: Entry = catalog.cells.get(e.cell) ?? { cell: e.cell, kind: "kind" in e ? e.kind : "?", rows: null, dataVersion: null, artifact: null, state: "never run", reason: null };
    switch (e.event) {
      case "output-changed":
        Object.assign(entry, { dataVersion: e.dataVersion, artifact: e.artifact, rows: e.rows, state: "fresh", reason: null });
        break;
      case "cell-started": Object.assign(entry, { state: "running", reason: e.reason }); break;
      case "cell-finished": case "cell-fresh": Object.assign(entry, { state: "fresh", reason: null }); break;
      case "cell-failed": Object.assign(entry, { state: "failed", reason: e.error }); break;
      case "cell-blocked": Object.assign(entry, { state: "blocked", reason: `input ${e.by} is not ready` }); break;
      default: return null;
    }
    catalog.cells.set(e.cell, entry);
    const { artifact: _a, ...visible } = entry;
    return visible;
  }

  /**
   * A cell's current output as an Arrow IPC stream: every column, or with `columns` only those
   * (a page's front matter says which it reads; a column the output lacks is a BadRequestError).
   */
  async arrow(pipeline: string, cell: string, columns?: readonly string[]): Promise<{ bytes: Uint8Array; dataVersion: string }> {
    const { dataVersion, artifact } = outputOf(pipeline, (await this.current(pipeline)).cells, cell);
    const bytes = await this.cached(`${dataVersion}${projectionSuffix(columns)}`, () => this.make(pipeline, cell, dataVersion, artifact, columns));
    return { bytes, dataVersion };
  }

  /**
   * A cell's output with no rows: every column, typed as `arrow` gives them (a static build binds
   * the queries it leaves to the page over the tables it ships, and over these: page-check.ts).
   */
  async emptyArrow(pipeline: string, cell: string): Promise<Uint8Array> {
    const { artifact } = presentOutputOf(pipeline, (await this.current(pipeline)).cells, cell);
    return this.reader.run(async (connection) => tableToIPC(await queryAsArrow(connection, "select * from read_parquet(?) limit 0", [artifact]), "stream"));
  }

  /**
   * A page's server query (a ```sql server block: its literal parts, and the values of its `${…}`
   * as the page sent them, sql-params.ts) on the pipeline's current outputs: its result as an
   * Arrow IPC stream, and the cells it read (the page asks again when one of them changes). Kept
   * with the streams, by the query, its values and the data versions it read: content-addressed too.
   */
  async query(pipeline: string, parts: readonly string[], params: unknown = []): Promise<{ bytes: Uint8Array; reads: string[] }> {
    const { cells } = await this.current(pipeline);
    const bad = (message: string) => new BadRequestError(`${pipeline}: server query: ${message}`);
    const refused = (err: unknown) => (err instanceof ServerQueryError ? bad(err.message) : err);
    let sql: ExpandedSql;
    try {
      sql = expandSql(parts, sqlParamsFromJson(params));
    } catch (err) {
      throw err instanceof SqlParamError ? bad(err.message) : err;
    }
    // A table named at run time is one of this pipeline's cells, never any other name.
    const unknown = sql.tables.find((t) => !cells.has(t));
    if (unknown !== undefined) throw bad(`cellTable(${JSON.stringify(unknown)}): pipeline ${pipeline} has no such cell`);
    const named = await this.serverSql.tables(sql.text).catch((err) => Promise.reject(refused(err)));
    const reads = [...new Set(named)].filter((t) => cells.has(t)).sort();
    const inputs = reads.map((cell) => {
      const { dataVersion, artifact } = presentOutputOf(pipeline, cells, cell);
      return { cell, artifact, dataVersion };
    });
    const version = createHash("sha256").update(sql.text).update("\0").update(JSON.stringify(sql.values)).update("\0").update(inputs.map((i) => `${i.cell}=${i.dataVersion}`).join("\0")).digest("hex");
    const run = () => this.serverSql.run(sql.text, inputs, sql.values).then((t) => tableToIPC(t, "stream"), (err) => Promise.reject(refused(err)));
    // A query without values is one of a page's fixed queries: its result is kept on disk too, as
    // an output's stream is (the explorer's usage list took 2.6 s to make at 21,201 inferences),
    // one per query text, a result on newer outputs replacing the older one's. One with values
    // (a pick's few rows, made in milliseconds) is kept in memory only: there is one per pick.
    const bytes = await this.cached(`query:${version}`, sql.values.length ? run : () => this.keptQuery(pipeline, sql.text, version, run));
    return { bytes, reads };
  }

  /** The pipeline's catalog entries, or a NotFoundError saying what to run where it never ran. */
  private async current(pipeline: string): Promise<{ cells: Map<string, Entry> }> {
    const { missing } = await this.catalog(pipeline);
    if (missing) throw new NotFoundError(missing);
    return this.catalogs.get(pipeline)!;
  }

  /** Bytes kept in memory by key (least recently used dropped past maxCacheBytes), else made once. */
  private cached(key: string, make: () => Promise<Uint8Array>): Promise<Uint8Array> {
    let bytes = this.arrows.get(key);
    if (!bytes) {
      bytes = make();
      bytes.then((b) => this.account(key, b.byteLength), () => this.arrows.delete(key));
    }
    // Least recently used goes first: (re-)insert on use.
    this.arrows.delete(key);
    this.arrows.set(key, bytes);
    return bytes;
  }

  /** The stream kept on disk, else made from the artifact (and kept). */
  private async make(pipeline: string, cell: string, dataVersion: string, artifact: string, columns?: readonly string[]): Promise<Uint8Array> {
    const kept = await this.served.read(pipeline, cell, dataVersion, columns);
    if (kept) return kept;
    if (!fs.existsSync(artifact)) throw missingArtifact(pipeline, cell, artifact);
    let bytes: Uint8Array;
    try {
      bytes = await this.readParquet(artifact, columns);
    } catch (err) {
      if (err instanceof UnknownColumnsError) throw new BadRequestError(`${pipeline}.${cell}: ${err.message}`);
      throw err;
    }
    await this.served.store(pipeline, cell, dataVersion, columns, bytes);
    return bytes;
  }

  /** A value-less query's result kept on disk (ServedCache, named `@query:` and its text's hash, not as a cell is), else made and kept. */
  private async keptQuery(pipeline: string, text: string, version: string, run: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const name = `@query:${createHash("sha256").update(text).digest("hex").slice(0, 32)}`;
    const kept = await this.served.read(pipeline, name, version);
    if (kept) return kept;
    const bytes = await run();
    await this.served.store(pipeline, name, version, undefined, bytes);
    return bytes;
  }

  private account(_key: string, size: number): void {
    this.arrowBytes += size;
    for (const [k, v] of this.arrows) {
      if (this.arrowBytes <= this.maxCacheBytes || this.arrows.size <= 1) break;
      this.arrows.delete(k);
      v.then((b) => (this.arrowBytes -= b.byteLength), () => undefined);
    }
  }

  private readParquet(file: string, columns?: readonly string[]): Promise<Uint8Array> {
    // DECIMAL (fees and rewards, in base units) arrives as exact text, and repeated strings (ids,
    // snippets) travel once, a fifth of the bytes for tracin tables: served-arrow.ts.
    return this.reader.run(async (connection) => tableToIPC(await parquetAsArrow(connection, file, { columns }), "stream"));
  }

  close(): void {
    this.serverSql.close();
    this.reader.close();
  }
}

/** A cell's current output among the pipeline's entries, or a NotFoundError naming what is missing. */
function outputOf(pipeline: string, cells: ReadonlyMap<string, Entry>, cell: string): { dataVersion: string; artifact: string } {
  const entry = cells.get(cell);
  if (!entry) throw new NotFoundError(`pipeline "${pipeline}" has no cell "${cell}"`);
  if (!entry.dataVersion || !entry.artifact) throw new NotFoundError(`${pipeline}.${cell} has no output yet: run \`tracebook run ${pipeline} --cell ${cell}\``);
  return { dataVersion: entry.dataVersion, artifact: entry.artifact };
}

/** The same, with its artifact on disk (else a NotFoundError saying what to run). */
function presentOutputOf(pipeline: string, cells: ReadonlyMap<string, Entry>, cell: string): { dataVersion: string; artifact: string } {
  const output = outputOf(pipeline, cells, cell);
  if (!fs.existsSync(output.artifact)) throw missingArtifact(pipeline, cell, output.artifact);
  return output;
}

function missingArtifact(pipeline: string, cell: string, artifact: string): NotFoundError {
  return new NotFoundError(`${pipeline}.${cell}: artifact ${artifact} is missing; run \`tracebook run ${pipeline}\``);
}
