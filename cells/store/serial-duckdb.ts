import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";

/**
 * An in-memory DuckDB opened on first use that runs one task at a time on its one connection
 * (a connection is not for concurrent statements, and temp tables and views made by a task must
 * not meet another's). `setup` runs once, when it opens (settings that lock it down, say).
 */
export class SerialDuckDB {
  private db: Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly setup: (connection: DuckDBConnection) => Promise<void> = async () => undefined) {}

  /** Run `fn` after every task queued before it, whatever became of them. */
  run<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const task = async () => fn((await this.open()).connection);
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private open(): Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> {
    return (this.db ??= (async () => {
      const instance = await DuckDBInstance.create(":memory:");
      const connection = await instance.connect();
      await this.setup(connection);
      return { instance, connection };
    })());
  }

  /** Close it (a later task opens it again). */
  close(): void {
    const db = this.db;
    this.db = null;
    void db?.then(({ instance, connection }) => {
      connection.closeSync();
      instance.closeSync();
    }, () => undefined);
  }
}
