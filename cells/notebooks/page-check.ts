import path from "node:path";
import { createRequire } from "node:module";
import { createDuckDB, NODE_RUNTIME, VoidLogger, type DuckDBBindings, type DuckDBConnection } from "@duckdb/duckdb-wasm/blocking";
import { DataType, RecordBatchReader, Table, tableToIPC, vectorFromArray } from "apache-arrow";
import { PARAM_NAME } from "./sql-params.ts";
import { quoteIdent } from "../store/sql-quote.ts";

/** A query a static build leaves to the page, as the build knows it. */
export interface PageQuery {
  /** Its literal parts, one more than its `${…}`. */
  parts: readonly string[];
  /** The cells a `${cellTable(…)}` of it may name: those the notebook's front matter `tables` names and the site ships. */
  candidates: readonly string[];
}

/** What binding a query in the page's engine said. */
export type PageVerdict =
  | { status: "binds" }
  /** It binds over every column of its tables, not over those the site ships: the front matter's `columns` left out one it reads. */
  | { status: "projection"; tables: string[]; message: string }
  /** It does not bind over the tables as the pipeline has them either: a typo, a table this pipeline lacks. */
  | { status: "fails"; message: string }
  /** It names a table at run time and no cell it may name ships: it cannot be bound here. */
  | { status: "unchecked"; message: string };

/** The schema the unprojected tables are registered under; `main` holds the tables as the site ships them. */
const WHOLE = "tb_whole";

/**
 * Checks, while a static site is built, the queries it leaves to the page (```sql server blocks
 * that take values, query functions: transform.ts, runsInPage). Each is bound, never run, by
 * DuckDB-wasm, the page's own engine, loaded in Node, over tables of no rows with the schemas
 * the site ships. On the dev server those queries run on the server over every column, so a
 * column the front matter's `columns` leaves out, or a table the pipeline lacks, would otherwise
 * first fail in a reader's browser. Values are not known at build time: each `${…}` is bound as
 * NULL (a list's `unnest(NULL)` binds as its list does), and a `${cellTable(…)}` as each cell it
 * may name.
 */
export class PageBinder {
  private readonly registered = new Set<string>();
  /** Cells registered in WHOLE too: the site ships some of their columns. */
  private readonly projected = new Set<string>();

  private constructor(private readonly db: DuckDBBindings, private readonly conn: DuckDBConnection) {}

  static async open(): Promise<PageBinder> {
    const dist = path.dirname(createRequire(import.meta.url).resolve("@duckdb/duckdb-wasm/dist/duckdb-eh.wasm"));
    const bundles = {
      mvp: { mainModule: path.join(dist, "duckdb-mvp.wasm"), mainWorker: path.join(dist, "duckdb-node-mvp.worker.cjs") },
      eh: { mainModule: path.join(dist, "duckdb-eh.wasm"), mainWorker: path.join(dist, "duckdb-node-eh.worker.cjs") },
    };
    const db = await createDuckDB(bundles, new VoidLogger(), NODE_RUNTIME);
    await db.instantiate();
    const conn = db.connect();
    // The wasm build has no parquet/json extension, and in Node a query that wants one hangs on the download.
    conn.query("SET autoload_known_extensions=false");
    conn.query("SET autoinstall_known_extensions=false");
    conn.query(`CREATE SCHEMA ${WHOLE}`);
    return new PageBinder(db, conn);
  }

  /**
   * Register a cell's table as the site ships it (`shipped`: its Arrow IPC stream; only the
   * schema is read) and, where the site ships some of its columns, as the pipeline has it (`whole`).
   */
  register(cell: string, shipped: Uint8Array, whole?: Uint8Array): void {
    this.conn.insertArrowFromIPCStream(noRows(shipped), { name: cell, create: true });
    if (whole) {
      this.conn.insertArrowFromIPCStream(noRows(whole), { name: cell, schema: WHOLE, create: true });
      this.projected.add(cell);
    }
    this.registered.add(cell);
  }

  /** Forget the tables registered so far (the next pipeline's have the same names). */
  reset(): void {
    for (const cell of this.registered) {
      this.conn.query(`DROP TABLE IF EXISTS main.${quoteIdent(cell)}`);
      this.conn.query(`DROP TABLE IF EXISTS ${WHOLE}.${quoteIdent(cell)}`);
    }
    this.registered.clear();
    this.projected.clear();
  }

  check(query: PageQuery): PageVerdict {
    const tableAt = this.tablePositions(query.parts);
    // Without a cell it may name, a query over a table chosen at run time cannot be bound here.
    if (tableAt.size && !query.candidates.length) {
      return { status: "unchecked", message: "it names a table at run time (cellTable), and the front matter's `tables` names none the site ships" };
    }
    // A table chosen at run time may be any of the candidates the front matter names, but need not
    // fit every one (the explorer's `tables` names train beside its tracin tables): one that binds will do.
    const probes = (tableAt.size ? query.candidates : [null]).map((table) => ({
      on: table === null ? "" : ` (with cellTable(${JSON.stringify(table)})${query.candidates.length > 1 ? `, nor with the ${query.candidates.length - 1} other table${query.candidates.length === 2 ? "" : "s"} its front matter names` : ""})`,
      text: filled(query.parts, (k) => (tableAt.has(k) ? quoteIdent(table!) : "NULL")),
    }));
    const failed: { on: string; text: string; message: string }[] = [];
    for (const probe of probes) {
      const message = this.bind(probe.text, "main");
      if (message === null) return { status: "binds" };
      failed.push({ ...probe, message });
    }
    // None binds as shipped: one that binds over every column of its tables wants a column the site leaves out.
    for (const { text, message, on } of failed) {
      const projected = this.tablesOf(text).filter((t) => this.projected.has(t));
      if (projected.length && this.bind(text, `${WHOLE},main`) === null) return { status: "projection", tables: projected, message: `${message}${on}` };
    }
    return { status: "fails", message: `${failed[0]!.message}${failed[0]!.on}` };
  }

  close(): void {
    this.conn.close();
    this.db.reset();
  }

  /** DuckDB's first line of why `text` does not bind with `path` searched for its tables, or null if it binds. */
  private bind(text: string, path: string): string | null {
    this.conn.query(`SET search_path = '${path}'`);
    try {
      this.conn.prepare(text).close();
      return null;
    } catch (err) {
      return firstLine(err);
    } finally {
      this.conn.query("SET search_path = 'main'");
    }
  }

  /** Which `${…}` stand where a table does: each as a name of its own (a name parses wherever a value or a table may stand), read back by the parser. */
  private tablePositions(parts: readonly string[]): Set<number> {
    const names = parts.slice(1).map((_, k) => `${PARAM_NAME}_${k}`);
    const read = new Set(this.tablesOf(filled(parts, (k) => quoteIdent(names[k]!))));
    return new Set(names.flatMap((name, k) => (read.has(name) ? [k] : [])));
  }

  private tablesOf(text: string): string[] {
    try {
      return this.conn.getTableNames(text).map((n) => n.replace(/^.*\./, ""));
    } catch {
      return []; // a syntax error: binding reports it
    }
  }
}

/** A query's text with `${…}` number k (from 0) written as `at(k)`. */
function filled(parts: readonly string[], at: (k: number) => string): string {
  return parts.reduce((text, part, i) => (i === 0 ? part : `${text}${at(i - 1)}${part}`), "");
}

/** An Arrow IPC stream of no rows with the schema of `bytes` (only its schema message is read). */
function noRows(bytes: Uint8Array): Uint8Array {
  const reader = RecordBatchReader.from(bytes);
  reader.open();
  // One empty batch: DuckDB-wasm refuses a stream of no batches ("must have at least one column"),
  // and wants a dictionary batch for each dictionary column, which an empty one has not: a
  // dictionary-encoded column is typed as its values are (both are VARCHAR to DuckDB).
  const empty = (type: DataType) => vectorFromArray([], DataType.isDictionary(type) ? type.dictionary : type);
  return tableToIPC(new Table(Object.fromEntries(reader.schema.fields.map((f) => [f.name, empty(f.type)]))), "stream");
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // DuckDB-wasm's errors may arrive as JSON ({"exception_type", "exception_message"}).
  try {
    const o = JSON.parse(message) as { exception_type?: string; exception_message?: string };
    if (o.exception_message) return `${o.exception_type ? `${o.exception_type} Error: ` : ""}${o.exception_message}`.split("\n")[0]!;
  } catch {
    /* plain text */
  }
  return message.split("\n")[0]!;
}
