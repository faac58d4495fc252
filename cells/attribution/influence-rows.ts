import { stageRows } from "../store/stage.ts";
import type { Workspace } from "../store/workspace.ts";

/** A row's level in the influence table, as staged: its index here. */
const LEVELS = ["contribution", "contributor", "datanet"] as const;

/**
 * The tracin cell's rows while they are traced, kept apart as they repeat: each query's head
 * (its prediction, confidence, label) once, each traced model's id and checkpoints once, each
 * cited contribution (id, contributor, Datanet, quoted text) and each group's name once per
 * model, and per row only numbers. Staged whole, the rows repeated all of that: 733 MB of JSON
 * written in 18 s for 1.38 million rows (20,000 inferences settled at once). `stage` joins them
 * back into the table the cell has always written, row for row (stageInfluenceRows).
 */
export interface InfluenceRows {
  /** [q, call, query, prediction, confidence, query_label] */
  heads: unknown[][];
  /** [call, model_id, mode, checkpoints] */
  calls: unknown[][];
  /** [call, i, key, contributor, datanet, text]: the training rows cited, by their index in the call's training set. */
  refs: unknown[][];
  /** [call, level, i, name]: the contributors (level 1) and Datanets (level 2) of a call, by their index. */
  groups: unknown[][];
  /** [q, level, k, score, share, rank]: k is a ref's or a group's index in the query's call. */
  body: unknown[][];
}

export const influenceRows = (): InfluenceRows => ({ heads: [], calls: [], refs: [], groups: [], body: [] });

/** A traced model's share of the rows: the call it is, and how to add a query's head and rows. */
export function traceCall(rows: InfluenceRows, o: { modelId: string; mode: string; checkpoints: string; contributors: readonly string[]; datanets: readonly string[] }) {
  const call = rows.calls.length;
  rows.calls.push([call, o.modelId, o.mode, o.checkpoints]);
  const index = [new Map<string, number>(), new Map(o.contributors.map((n, i) => [n, i])), new Map(o.datanets.map((n, i) => [n, i]))];
  o.contributors.forEach((n, i) => rows.groups.push([call, 1, i, n]));
  o.datanets.forEach((n, i) => rows.groups.push([call, 2, i, n]));
  return {
    /** A query's head; returns its number, which its rows name. */
    head(query: string, prediction: string, confidence: number, label: string | null): number {
      const q = rows.heads.length;
      rows.heads.push([q, call, query, prediction, confidence, label]);
      return q;
    },
    contribution(q: number, train: number, score: number, rank: number): void {
      rows.body.push([q, 0, train, score, null, rank]);
    },
    group(q: number, level: "contributor" | "datanet", name: string, score: number, share: number | null, rank: number): void {
      const l = LEVELS.indexOf(level);
      rows.body.push([q, l, index[l]!.get(name)!, score, share, rank]);
    },
    /** The training rows its contribution rows cite, with their quoted text. */
    cite(train: number, key: string, contributor: string, datanet: string, text: string): void {
      rows.refs.push([call, train, key, contributor, datanet, text]);
    },
  };
}

/**
 * Stage the rows as `table`, the influence table's columns and types in its order: a
 * contribution row quotes its text ("" when it has none), a group row has no text, and the
 * contributor and Datanet columns name the group a group row is.
 */
export async function stageInfluenceRows(ws: Workspace, table: string, rows: InfluenceRows): Promise<void> {
  const t = (part: string) => `${table}_${part}`;
  await stageRows(ws, t("heads"), [["q", "INTEGER"], ["call", "INTEGER"], ["query", "VARCHAR"], ["prediction", "VARCHAR"], ["confidence", "DOUBLE"], ["query_label", "VARCHAR"]], rows.heads);
  await stageRows(ws, t("calls"), [["call", "INTEGER"], ["model_id", "VARCHAR"], ["mode", "VARCHAR"], ["checkpoints", "VARCHAR"]], rows.calls);
  await stageRows(ws, t("refs"), [["call", "INTEGER"], ["i", "INTEGER"], ["key", "VARCHAR"], ["contributor", "VARCHAR"], ["datanet", "VARCHAR"], ["text", "VARCHAR"]], rows.refs);
  await stageRows(ws, t("groups"), [["call", "INTEGER"], ["level", "INTEGER"], ["i", "INTEGER"], ["name", "VARCHAR"]], rows.groups);
  // Short names: a row's JSON is mostly its numbers.
  await stageRows(ws, t("body"), [["q", "INTEGER"], ["l", "INTEGER"], ["k", "INTEGER"], ["s", "DOUBLE"], ["h", "DOUBLE"], ["r", "INTEGER"]], rows.body);
  try {
    await ws.run(`create or replace temp table ${table} as
      select h.query, h.prediction, h.confidence, h.query_label,
             case b.l when 0 then 'contribution' when 1 then 'contributor' else 'datanet' end as level,
             case b.l when 0 then r.key else g.name end as key,
             case b.l when 0 then r.contributor when 1 then g.name end as contributor,
             case b.l when 0 then r.datanet when 2 then g.name end as datanet,
             b.s as score, b.h as share, b.r as rank,
             case b.l when 0 then coalesce(r.text, '') end as text,
             c.model_id, c.mode, c.checkpoints
      from ${t("body")} b join ${t("heads")} h on h.q = b.q join ${t("calls")} c on c.call = h.call
      left join ${t("refs")} r on b.l = 0 and r.call = h.call and r.i = b.k
      left join ${t("groups")} g on b.l > 0 and g.call = h.call and g.level = b.l and g.i = b.k`);
  } finally {
    for (const part of ["heads", "calls", "refs", "groups", "body"]) await ws.run(`drop table if exists ${t(part)}`);
  }
}
