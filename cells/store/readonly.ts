import { StatementType } from "@duckdb/node-api";
import { InputError } from "../datanet/errors.ts";
import type { Params, Workspace } from "./workspace.ts";

/** Statements that only read: a query, or the plan of one. */
const READS = new Map<StatementType, string>([[StatementType.SELECT, "SELECT"], [StatementType.EXPLAIN, "EXPLAIN"]]);

/**
 * Check that user SQL (`tracebook sql`, a curator's `--query`) is one statement that only reads.
 * The workspace changes through imports, decisions and pipeline runs, each of which keeps the
 * validation trail append-only and the artifacts consistent with the run log; a stray DELETE
 * typed at a prompt would do neither. The driver runs every statement of a multi-statement
 * text, so "select 1; delete from validations" is refused as a whole, before anything runs.
 */
export async function checkReadOnly(ws: Workspace, sql: string): Promise<void> {
  let count: number;
  try {
    count = (await ws.connection.extractStatements(sql)).count;
  } catch (err) {
    throw new InputError(`not valid SQL: ${sqlErrorLine(err)}`);
  }
  if (count !== 1) throw new InputError(`give one SQL statement, not ${count}`);
  let type: StatementType;
  try {
    const prepared = await ws.connection.prepare(sql);
    type = prepared.statementType;
    prepared.destroySync();
  } catch (err) {
    throw new InputError(sqlErrorLine(err));
  }
  if (!READS.has(type)) {
    throw new InputError(`only queries that read are run here (SELECT, EXPLAIN; got ${StatementType[type] ?? type}): ` +
      "the workspace changes through imports, curators' decisions (tracebook curate) and pipeline runs");
  }
}

/**
 * Run user SQL that may only read: checked as above, then run inside a transaction that is
 * always rolled back, a second fence. (DuckDB sequences are not transactional: a SELECT of
 * nextval() still advances one, which leaves a gap in seq numbers, never a changed record.)
 */
export async function readOnlyRows<T>(ws: Workspace, sql: string, params?: Params): Promise<T[]> {
  await checkReadOnly(ws, sql);
  await ws.run("begin transaction");
  try {
    return await ws.rows<T>(sql, params);
  } catch (err) {
    throw new InputError(sqlErrorLine(err));
  } finally {
    await ws.run("rollback");
  }
}

/**
 * DuckDB's error as one line, its hint kept: the message and what follows it up to the quoted
 * query ("LINE 1: …" and a caret, which a one-line error cannot point with), so a mistyped name
 * still gets DuckDB's `Did you mean "contributions"?` or `Candidate bindings: "score"`.
 */
function sqlErrorLine(err: unknown): string {
  const lines = (err as Error).message.split("\n");
  const end = lines.findIndex((l) => /^LINE \d+:/.test(l));
  return lines.slice(0, end < 0 ? lines.length : end).map((l) => l.trim()).filter(Boolean).join(" ");
}
