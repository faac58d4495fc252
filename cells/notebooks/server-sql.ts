import path from "node:path";
import type { Table } from "apache-arrow";
import { DOUBLE, type DuckDBType } from "@duckdb/node-api";
import type { SqlScalar } from "./sql-params.ts";
import { queryAsArrow } from "../store/served-arrow.ts";
import { quoteIdent, quoteLiteral } from "../store/sql-quote.ts";
import { SerialDuckDB } from "../store/serial-duckdb.ts";
import { parseSelect } from "./reads.ts";

/** A server query that is not one SELECT, or failed as it ran: the page shows the message in the cell. */
export class ServerQueryError extends Error {}

/**
 * Where a page's server queries (```sql server blocks, transform.ts) run: an in-memory DuckDB of
 * its own whose file access is limited to the workspace's artifacts, with the cells a query
 * names as views over their Parquet outputs (the tables as `tracebook sql` sees them: amounts
 * are DECIMAL here, where the page's tables carry them as text; the result comes back typed as
 * the page's tables are). One SELECT at a time. The text comes from the notebooks on disk, never
 * from the page; the lock is there all the same.
 */
export class ServerSql {
  private readonly db: SerialDuckDB;
  /** The tables each query names, by its text: a query's text never changes what it names. */
  private readonly named = new Map<string, Promise<string[]>>();

  constructor(readonly artifactsDir: string) {
    this.db = new SerialDuckDB(async (connection) => {
      // Read the artifacts and nothing else: no other file, no network, no extension to install.
      await connection.run(`set allowed_directories = [${quoteLiteral(path.resolve(artifactsDir) + path.sep)}]`);
      await connection.run("set enable_external_access = false");
      await connection.run("set lock_configuration = true");
    });
  }

  /** The tables `query` names (CTE names too), or a ServerQueryError if it is not one SELECT. */
  tables(query: string): Promise<string[]> {
    let named = this.named.get(query);
    if (!named) {
      // A query with a list value has a text per list length: keep the verdicts bounded.
      if (this.named.size >= 1000) this.named.clear();
      named = this.db.run(async (connection) => {
        const parsed = await parseSelect(connection, query);
        if (parsed.problem) throw new ServerQueryError(`not one SELECT: ${parsed.problem}`);
        return parsed.tables;
      });
      this.named.set(query, named);
      // Only the parser's verdict is kept: a failure to open DuckDB is tried again next time.
      named.catch((err) => void (err instanceof ServerQueryError || this.named.delete(query)));
    }
    return named;
  }

  /** Run `query` (one SELECT: `tables` checks it first) with each of `cells` as a view over its artifact, `values` bound to its `?`. */
  async run(query: string, cells: readonly { cell: string; artifact: string }[], values: readonly SqlScalar[] = []): Promise<Table> {
    await this.tables(query);
    return this.db.run(async (connection) => {
      try {
        for (const c of cells) {
          await connection.run(`create or replace temp view ${quoteIdent(c.cell)} as select * from read_parquet(${quoteLiteral(c.artifact)})`);
        }
        // Typed as the page's tables are (amounts as exact text, repeated strings once): served-arrow.ts.
        return await queryAsArrow(connection, query, [...values], values.map(typeOf));
      } catch (err) {
        throw new ServerQueryError((err as Error).message);
      } finally {
        // Views of this pipeline's cells must not answer the next query (another pipeline's).
        for (const c of cells) await connection.run(`drop view if exists ${quoteIdent(c.cell)}`).catch(() => undefined);
      }
    });
  }

  close(): void {
    this.db.close();
  }
}

/** A value's type as DuckDB-wasm binds it on the page, so a query answers the same on both: every number a DOUBLE (else as inferred). */
function typeOf(value: SqlScalar): DuckDBType | undefined {
  return typeof value === "number" ? DOUBLE : undefined;
}
