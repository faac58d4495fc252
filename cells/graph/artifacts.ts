import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../store/workspace.ts";
import { writeAtomically } from "../store/atomic.ts";
import { ARTIFACTS_DIR } from "../store/relocate.ts";
import { quoteIdent, quoteLiteral } from "../store/export.ts";
import type { CellResult } from "./cell.ts";
import { groupedVersion, keyOrdered, SEQ } from "./groups.ts";
import { isPartitioned, partRowsOf, writeParts, writePartsTakingOver } from "./parts.ts";

/** Content-addressed: one Parquet file per data version, under the workspace. */
export function artifactPath(ws: Workspace, dataVersion: string): string {
  return path.join(ws.home, ARTIFACTS_DIR, dataVersion.slice(0, 2), `${dataVersion}.parquet`);
}

export interface Materialized {
  dataVersion: string;
  artifact: string;
  rows: number;
}

const OUT = "__tracebook_cell_out";
const WHOLE = "__tracebook_cell_whole";

/**
 * Run a cell's query once into a temp table, version it, and write it as Parquet through a
 * temp file and a rename. An artifact whose data version already exists is not written again.
 * A grouped result is versioned per group (`groupedVersion`), its group digests kept beside it;
 * one that takes groups over from its last output (`groups.unchanged`) stages only its new rows.
 */
export async function materialize(ws: Workspace, result: CellResult): Promise<Materialized> {
  await ws.run(`create or replace temp table ${OUT} as ${result.query}`, result.params);
  try {
    if (result.dataVersion === undefined && result.groups?.unchanged) return await withGroupsTakenOver(ws, result.groups.column, result.groups.unchanged);
    const [{ n } = { n: 0n }] = await ws.rows<{ n: bigint }>(`select count(*) as n from ${OUT}`);
    const grouped = result.dataVersion === undefined && result.groups ? await groupedVersion(ws, OUT, await schemaHead(ws, OUT), { column: result.groups.column }) : null;
    try {
      const dataVersion = result.dataVersion ?? grouped?.dataVersion ?? (await contentVersion(ws, OUT));
      // A large grouped output is written as parts, so that the next run can take most of them over as they are.
      const partRows = grouped ? await partRowsOf(ws, n, OUT) : null;
      const artifact = partRows
        ? await writeOnce(ws, dataVersion, (file) => writeParts(ws, file, `(select *, rowid as ${SEQ} from ${OUT})`, result.groups!.column, partRows))
        : await write(ws, dataVersion, OUT);
      await grouped?.keep(artifact);
      return { dataVersion, artifact, rows: Number(n) };
    } finally {
      await grouped?.drop();
    }
  } finally {
    await ws.run(`drop table if exists ${OUT}`);
  }
}

/**
 * The output of a cell that took groups over: those groups' rows read from the last output (typed
 * as the new rows are: Parquet keeps no HUGEINT, and its DOUBLE would change the version) and the
 * new rows staged in OUT, put in key order and written straight from file to file. Staging the
 * 1.46 million rows of an influence table to write them again cost more than the rest of settling
 * one more inference.
 */
async function withGroupsTakenOver(ws: Workspace, column: string, unchanged: { artifact: string; keys: string }): Promise<Materialized> {
  const key = quoteIdent(column);
  const [overlap] = await ws.rows<{ key: string }>(`select to_json(${key})::varchar as key from ${OUT} where ${key} in (select id from ${unchanged.keys}) limit 1`);
  if (overlap) throw new Error(`the new rows hold ${column} ${overlap.key}, a group taken over from the last output: the rows of one ${column} must come from that ${column}'s input rows alone`);
  const head = await schemaHead(ws, OUT);
  const typed = (JSON.parse(head) as [string, string][]).map(([name, type]) => `cast(${quoteIdent(name)} as ${type}) as ${quoteIdent(name)}`).join(", ");
  // A group's rows all lie in one file, so ordering within a group by the row's place in its file
  // holds for a last output written as parts too.
  const taken = `select ${typed}, file_row_number as ${SEQ} from read_parquet(${quoteLiteral(unchanged.artifact)}, file_row_number = true) where ${key} in (select id from ${unchanged.keys})`;
  // Every row with its place: ordered by the key, then SEQ, they are the output.
  let rows = `(${taken} union all select *, rowid as ${SEQ} from ${OUT})`;
  let grouped = await groupedVersion(ws, OUT, head, { column, unchanged });
  let staged = false;
  try {
    if (!grouped) {
      // The digests of the groups taken over cannot be used: the whole output is staged and hashed.
      await ws.run(`create or replace temp table ${WHOLE} as ${keyOrdered(rows, column)}`);
      rows = `(select *, rowid as ${SEQ} from ${WHOLE})`;
      staged = true;
      grouped = (await groupedVersion(ws, WHOLE, head, { column }))!;
    }
    const artifact = await writeOnce(ws, grouped.dataVersion, async (file) => {
      // Sized by the last output's rows: the new ones may be few, or none.
      const partRows = await partRowsOf(ws, grouped!.rows, `read_parquet(${quoteLiteral(unchanged.artifact)})`);
      if (!partRows) await copyTo(ws, staged ? WHOLE : `(${keyOrdered(rows, column)})`, file);
      // Parts of the last output that no new group falls in are linked, the others written again.
      else if (!staged && isPartitioned(unchanged.artifact)) await writePartsTakingOver(ws, file, { previous: unchanged.artifact, keys: unchanged.keys, fresh: OUT, column, typed, partRows });
      else await writeParts(ws, file, rows, column, partRows);
    });
    await grouped.keep(artifact);
    return { dataVersion: grouped.dataVersion, artifact, rows: Number(grouped.rows) };
  } finally {
    await grouped?.drop();
    await ws.run(`drop table if exists ${WHOLE}`);
  }
}

/** Write `rows` (a table, or a query in parentheses) as the artifact of `dataVersion`, one file, unless it exists. */
function write(ws: Workspace, dataVersion: string, rows: string): Promise<string> {
  return writeOnce(ws, dataVersion, (file) => copyTo(ws, rows, file));
}

/** The artifact of `dataVersion`, written by `make` (which writes its own temp and renames) unless it exists. */
async function writeOnce(ws: Workspace, dataVersion: string, make: (artifact: string) => Promise<void>): Promise<string> {
  const artifact = artifactPath(ws, dataVersion);
  if (!fs.existsSync(artifact)) await make(artifact);
  return artifact;
}

/** `rows` as one Parquet file, through a temp file and a rename. */
function copyTo(ws: Workspace, rows: string, file: string): Promise<void> {
  return writeAtomically(file, (tmp) => ws.run(`copy ${rows} to ${quoteLiteral(tmp)} (format parquet, compression zstd)`));
}

/** The schema as a version's first line: column names and types (of a table, a view or `read_parquet(…)`). */
export async function schemaHead(ws: Workspace, relation: string): Promise<string> {
  const schema = await ws.rows<{ column_name: string; column_type: string }>(`describe select * from ${relation}`);
  return JSON.stringify(schema.map((c) => [c.column_name, c.column_type])) + "\n";
}

/**
 * Hash of a table's content: its schema, then the sorted sha256 of each row's JSON. Sorting
 * makes it a hash of the bag of rows, so a query that returns the same rows in another order
 * (parallel aggregation) has the same data version and does not make its readers stale.
 */
export async function contentVersion(ws: Workspace, table: string): Promise<string> {
  const head = await schemaHead(ws, table);
  // The whole digest in DuckDB: the sorted row hashes (64 bytes a row, 94 MB at 1.5 million
  // influence rows) never cross into JS as one string (a 5.4 s version there took 4.8 s).
  const [row] = await ws.rows<{ v: string }>(
    `select sha256(? || coalesce(string_agg(h, '' order by h), '')) as v from (select sha256(to_json(t)::varchar) as h from ${table} t)`,
    [head],
  );
  return row!.v;
}

/** Remove temp files a killed process left in the artifact store (the caller holds the workspace lock). */
export function removeOrphanTemps(ws: Workspace): number {
  const root = path.join(ws.home, ARTIFACTS_DIR);
  if (ws.readOnly || !fs.existsSync(root)) return 0;
  let removed = 0;
  for (const dir of fs.readdirSync(root)) {
    const full = path.join(root, dir);
    if (!fs.statSync(full).isDirectory()) continue;
    for (const file of fs.readdirSync(full)) {
      if (file.endsWith(".tmp")) {
        // A temp folder too: the parts of an output whose write was cut short (parts.ts).
        fs.rmSync(path.join(full, file), { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}
