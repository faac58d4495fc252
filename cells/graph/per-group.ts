import fs from "node:fs";
import type { CellContext, CellResult } from "./cell.ts";
import type { ComposeQuery } from "./sql.ts";
import { artifactPath, schemaHead } from "./artifacts.ts";
import { canonicalJson } from "./fingerprint.ts";
import { groupDigests, SEQ } from "./groups.ts";
import { lastOutput } from "./prior.ts";
import { plural } from "./plural.ts";
import { quoteIdent, quoteLiteral } from "../store/export.ts";

const CHANGED = "__tracebook_groups_changed";
const KEPT = "__tracebook_groups_kept";

/** A group's key as text, the same for every type and for null. */
const keyText = (column: string) => `coalesce(to_json(${column})::varchar, 'null')`;

/**
 * Run a `sql.by(column)` cell: the groups whose input rows changed since its last run are
 * computed again, by the cell's own query over those groups' rows, and the others are taken over
 * from its last output (`OutputGroups.unchanged`). A first run, a forced one, or one where that
 * cannot be shown safe (the query or code changed, an input without the column changed, an old
 * input or the old output is gone, an input's columns changed) computes every group. Either way
 * the output is ordered by the column, each group's rows in the query's order, so a rerun writes
 * what a run from nothing would.
 */
export async function perGroup(
  ctx: CellContext,
  cell: { by: string; version: string; params: unknown; compose: ComposeQuery },
): Promise<CellResult> {
  const { ws } = ctx;
  const column = quoteIdent(cell.by);
  const whole = cell.compose((name) => ctx.inputs[name]!.relation);
  const columns = (await ws.rows<{ column_name: string }>(`describe ${whole.query}`, whole.params)).map((c) => c.column_name);
  if (!columns.includes(cell.by)) throw new Error(`the query is declared by "${cell.by}" (sql.by), but its output has no such column (columns: ${columns.join(", ")})`);
  const prior = await changedGroups(ctx, cell);
  if (!prior) {
    const { query, params } = whole;
    return { query: `select * exclude (${SEQ}) from (select *, row_number() over () as ${SEQ} from (${query})) order by ${column}, ${SEQ}`, params, groups: { column: cell.by } };
  }
  // A null key cannot be named in the kept keys: its group, if the last output has one, is computed again.
  await ws.run(`insert into ${CHANGED} select 'null' where exists (select 1 from read_parquet(${quoteLiteral(prior.artifact)}) where ${column} is null) and 'null' not in (select key from ${CHANGED})`);
  await ws.run(`create or replace temp table ${KEPT} as select distinct ${column} as id from read_parquet(${quoteLiteral(prior.artifact)}) where ${column} is not null and ${keyText(column)} not in (select key from ${CHANGED})`);
  const [{ kept, changed } = { kept: 0n, changed: 0n }] = await ws.rows<{ kept: bigint; changed: bigint }>(
    `select (select count(*) from ${KEPT}) as kept, (select count(*) from ${CHANGED}) as changed`);
  if (kept) ctx.log(`${plural(kept, "group")} by ${cell.by} kept as the last run wrote them, ${changed} new or changed in ${prior.grouped.join(", ")} computed`);
  const restricted = new Map<string, string>();
  for (const name of prior.grouped) {
    const view = quoteIdent(`__tracebook_groups_${restricted.size}`);
    await ws.run(`create or replace temp view ${view} as select * from ${ctx.inputs[name]!.relation} t where ${keyText(`t.${column}`)} in (select key from ${CHANGED})`);
    restricted.set(name, view);
  }
  const { query, params } = cell.compose((name) => restricted.get(name) ?? ctx.inputs[name]!.relation);
  return {
    query,
    params,
    groups: { column: cell.by, unchanged: { artifact: prior.artifact, keys: KEPT } },
    async release() {
      for (const view of restricted.values()) await ws.run(`drop view if exists ${view}`);
      for (const table of [CHANGED, KEPT]) await ws.run(`drop table if exists ${table}`);
    },
  };
}

interface ChangedGroups {
  /** The last output, holding the groups taken over. */
  artifact: string;
  /** The inputs restricted to the changed groups: those with the column whose version moved. */
  grouped: string[];
}

/**
 * Stage the keys of the groups to compute again (`CHANGED`: one column `key`, as keyText writes
 * it): those whose rows in an input differ from the rows the last run read there, compared by
 * two 64-bit sums of row hashes and a count per group (sums, not xor: a group may hold a row
 * twice). Null when every group must be computed.
 */
async function changedGroups(ctx: CellContext, cell: { by: string; version: string; params: unknown }): Promise<ChangedGroups | null> {
  const { ws } = ctx;
  const last = await lastOutput(ctx, { kind: "sql", version: cell.version, paramsJson: canonicalJson(cell.params) });
  if (!last) return null;
  const { artifact, inputs: before } = last;
  const names = Object.keys(ctx.inputs);
  if (names.length !== Object.keys(before).length || names.some((n) => !(n in before))) return null;
  const moved = names.filter((n) => before[n] !== ctx.inputs[n]!.dataVersion);
  const digests: string[] = [];
  for (const name of moved) {
    const oldArtifact = artifactPath(ws, before[name]!);
    if (!fs.existsSync(oldArtifact)) return null;
    const oldRelation = `read_parquet(${quoteLiteral(oldArtifact)})`;
    const [now, then] = [await schemaHead(ws, ctx.inputs[name]!.relation), await schemaHead(ws, oldRelation)];
    // An input read whole (no key column) that changed, or whose columns changed, changes every group.
    if (now !== then || !(JSON.parse(now) as [string, string][]).some(([c]) => c === cell.by)) return null;
    // A grouped input (a tracin cell's) keeps its groups' digests beside each version: comparing
    // those is a read of two small files, not a hash of every row of both versions.
    const [nowDigests, thenDigests] = [await groupDigests(ws, ctx.inputs[name]!.artifact, now, cell.by), await groupDigests(ws, oldArtifact, now, cell.by)];
    digests.push(nowDigests && thenDigests
      ? changedDigests(`read_parquet(${quoteLiteral(nowDigests)})`, `read_parquet(${quoteLiteral(thenDigests)})`)
      : changedIn(ctx.inputs[name]!.relation, oldRelation, (JSON.parse(now) as [string, string][]).map(([c]) => quoteIdent(c)), quoteIdent(cell.by)));
  }
  await ws.run(`create or replace temp table ${CHANGED} as ${digests.length ? digests.join(" union ") : "select null::varchar as key where false"}`);
  return { artifact, grouped: moved };
}

/** The keys of the groups whose rows differ between two versions of an input. */
function changedIn(now: string, then: string, columns: string[], column: string): string {
  const digest = (relation: string) =>
    `(select ${keyText(column)} as key, sum(hash(${columns.join(", ")})) as a, sum(hash(${columns.join(", ")}, 'tracebook.groups')) as b, count(*) as n from ${relation} group by all)`;
  return `select coalesce(n.key, o.key) as key from ${digest(now)} n full outer join ${digest(then)} o on n.key = o.key
          where n.key is null or o.key is null or n.a <> o.a or n.b <> o.b or n.n <> o.n`;
}

/** The same, from the digests files of two grouped versions (their keys are null for a null key). */
function changedDigests(now: string, then: string): string {
  return `select coalesce(n.key, o.key, 'null') as key from ${now} n full outer join ${then} o on n.key is not distinct from o.key
          where n.rows is null or o.rows is null or n.digest <> o.digest or n.rows <> o.rows`;
}
