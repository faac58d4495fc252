import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../store/workspace.ts";
import { fsyncFile, tempPathFor } from "../store/atomic.ts";
import { makeDir } from "../store/make-dir.ts";
import { quoteIdent, quoteLiteral } from "../store/export.ts";
import { SEQ } from "./groups.ts";

/**
 * A large grouped output (an influence table: one group of rows per paid inference) is written as
 * a folder of parts, each a run of whole groups in key order, named so that reading the folder
 * (`read_parquet('<version>.parquet')`: DuckDB reads a folder's files in name order) gives the
 * rows in the order one file would hold them. A rerun that takes most groups over then writes only
 * the parts its new or changed groups fall in, and links the others from the last output's folder:
 * settling one more inference rewrote all 1.46 million influence rows at 21,201 inferences.
 */

/** About how much a part holds, as the JSON of its rows: a few megabytes of Parquet. */
const PART_BYTES = 16 << 20;
const [MIN_PART_ROWS, MAX_PART_ROWS] = [1024, 65_536];

/**
 * The rows a part of an output of `total` rows holds when it is written as parts (more than twice
 * that), from the width of `sample`'s first rows; null when it is one file. An influence table's
 * 540-byte rows make parts of about 31,000 rows, a receipts table's 4-kilobyte rows parts of
 * 3,800, so that writing one part again costs about the same for both. An output no larger than
 * twice the smallest part is one file without a look at its rows.
 */
export async function partRowsOf(ws: Workspace, total: bigint | number, sample: string): Promise<number | null> {
  const asParts = (rows: number) => (BigInt(total) > 2n * BigInt(rows) ? rows : null);
  // Settable for tests (small tables in many parts); not a user's setting.
  const fixed = Number(process.env.TRACEBOOK_PART_ROWS ?? "");
  if (Number.isInteger(fixed) && fixed > 0) return asParts(fixed);
  if (!asParts(MIN_PART_ROWS)) return null;
  const [row] = await ws.rows<{ bytes: number | null }>(`select avg(strlen(to_json(t)::varchar)) as bytes from (select * from ${sample} limit 1000) t`);
  const perPart = Math.round(PART_BYTES / Math.max(row?.bytes ?? 0, 1));
  return asParts(Math.min(MAX_PART_ROWS, Math.max(MIN_PART_ROWS, perPart)));
}

/** Whether an artifact on disk is a folder of parts (an artifact written before parts is one file). */
export function isPartitioned(artifact: string): boolean {
  return fs.statSync(artifact, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** A part's name: its place in key order, zero-padded so that name order is key order. */
const partName = (i: number) => `${String(i).padStart(6, "0")}.parquet`;

const STAGE = "__tracebook_parts_stage";
const CHUNKS = "__tracebook_parts_chunks";
const BOUNDS = "__tracebook_parts_bounds";
const PLACED = "__tracebook_parts_placed";

/**
 * Write `rows` (a relation of the output's columns and `SEQ`: its order is by the key, then SEQ)
 * as the parts of `artifact`, through a temp folder renamed into place.
 */
export async function writeParts(ws: Workspace, artifact: string, rows: string, column: string, partRows: number): Promise<void> {
  await inTempFolder(artifact, async (dir) => {
    await writeChunks(ws, rows, { column, partRows }, dir, 0);
  });
}

/**
 * Write `artifact` as parts from the last output's parts (`previous`, a folder): the groups under
 * `keys` (a relation of one column `id`) are taken over, the rows of `fresh` (a table of the
 * output's columns, in order within each group) are the new groups. A part of the last output
 * that lost no group and gains none is linked as it is; the others are written again with the
 * new groups that fall in their key range (split again when one grows past twice the part size).
 * `typed`: the select list that casts a part's columns to the new rows' types.
 */
export async function writePartsTakingOver(ws: Workspace, artifact: string, o: { previous: string; keys: string; fresh: string; column: string; typed: string; partRows: number }): Promise<void> {
  const key = quoteIdent(o.column);
  // Each part of the last output: where its key range starts, and whether it lost a group (a
  // group not taken over, or a null key, which is always computed again).
  await ws.run(`create or replace temp table ${BOUNDS} as
    select row_number() over (order by filename) - 1 as idx, filename, min(k) as lo,
           count(*) filter (where k is null or k not in (select id from ${o.keys})) as lost
    from (select ${key} as k, filename from read_parquet(${quoteLiteral(o.previous)}, filename = true)) group by filename`);
  // Each new row's part: the last whose range starts at or below its key (the first part takes
  // keys below every range, the last the null keys, which sort last).
  await ws.run(`create or replace temp table ${PLACED} as
    select rowid as r, case when ${key} is null then (select max(idx) from ${BOUNDS})
                            else coalesce((select max(b.idx) from ${BOUNDS} b where b.lo <= f.${key}), 0) end as idx
    from ${o.fresh} f`);
  try {
    const parts = await ws.rows<{ idx: bigint; filename: string; touched: boolean }>(
      `select idx, filename, lost > 0 or idx in (select idx from ${PLACED}) as touched from ${BOUNDS} order by idx`);
    await inTempFolder(artifact, async (dir) => {
      let next = 0;
      for (const part of parts) {
        if (!part.touched) {
          linkOrCopy(part.filename, path.join(dir, partName(next++)));
          continue;
        }
        const kept = `select ${o.typed}, file_row_number as ${SEQ} from read_parquet(${quoteLiteral(part.filename)}, file_row_number = true) where ${key} in (select id from ${o.keys})`;
        const fresh = `select *, rowid as ${SEQ} from ${o.fresh} where rowid in (select r from ${PLACED} where idx = ${part.idx})`;
        next += await writeChunks(ws, `(${kept} union all ${fresh})`, o, dir, next);
      }
    });
  } finally {
    for (const t of [BOUNDS, PLACED]) await ws.run(`drop table if exists ${t}`);
  }
}

/**
 * Write `rows` (output columns and SEQ) in key order as files of about `partRows` rows each,
 * each holding whole groups, named from `first` on; the number of files written (none for no rows).
 */
async function writeChunks(ws: Workspace, rows: string, o: { column: string; partRows: number }, dir: string, first: number): Promise<number> {
  const key = quoteIdent(o.column);
  // A group's chunk is where its first row falls, from the groups' sizes in key order: groups are
  // never split, a large one has a file to itself. (Nulls sort last, as in the output's order.)
  await ws.run(`create or replace temp table ${CHUNKS} as
    select k, (sum(n) over (order by k rows between unbounded preceding and current row) - n) // ${o.partRows} as chunk
    from (select ${key} as k, count(*) as n from ${rows} group by all)`);
  // The rows staged once in order, so each file is a filtered scan in that order, not a sort.
  await ws.run(`create or replace temp table ${STAGE} as
    select r.* exclude (${SEQ}), c.chunk as __chunk from ${rows} r join ${CHUNKS} c on r.${key} is not distinct from c.k order by r.${key}, r.${SEQ}`);
  try {
    const chunks = await ws.rows<{ chunk: bigint }>(`select distinct chunk from ${CHUNKS} order by chunk`);
    for (const [i, { chunk }] of chunks.entries()) {
      const file = path.join(dir, partName(first + i));
      await ws.run(`copy (select * exclude (__chunk) from ${STAGE} where __chunk = ${chunk}) to ${quoteLiteral(file)} (format parquet, compression zstd)`);
    }
    return chunks.length;
  } finally {
    for (const t of [STAGE, CHUNKS]) await ws.run(`drop table if exists ${t}`);
  }
}

/**
 * Fill a temp folder beside `target` and rename it into place once every part is on disk, so a
 * reader never meets a folder with parts missing; an error removes the temp folder.
 */
async function inTempFolder(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  makeDir(path.dirname(target));
  const tmp = tempPathFor(target);
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    for (const name of fs.readdirSync(tmp)) fsyncFile(path.join(tmp, name));
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A part of the last output, in the new folder: a hard link (parts never change), else a copy where links are refused. */
function linkOrCopy(from: string, to: string): void {
  try {
    fs.linkSync(from, to);
  } catch {
    fs.copyFileSync(from, to);
  }
}

/** The files an artifact is made of: itself, or a folder's parts in order (none when it is gone). */
export function artifactFiles(artifact: string): string[] {
  if (!isPartitioned(artifact)) return fs.existsSync(artifact) ? [artifact] : [];
  return fs.readdirSync(artifact).sort().map((name) => path.join(artifact, name));
}
