import fs from "node:fs";
import type { CellContext } from "../graph/cell.ts";
import { artifactPath } from "../graph/artifacts.ts";
import { lastOutput } from "../graph/prior.ts";
import { columnsOf } from "../store/columns.ts";
import { quoteLiteral } from "../store/export.ts";
import { stageRows } from "../store/stage.ts";

/** The columns that make a query what it is: an id whose payload or model moved is traced again. */
const PAYLOAD = ["title", "text", "features", "label", "model_id"];

/** Queries an earlier run of this cell already traced, whose rows can be taken over verbatim. */
export interface PriorTrace {
  /** The earlier output, holding their rows. */
  artifact: string;
  /** A staged table of their ids (`id`). */
  reused: string;
  count: number;
  /** Why their rows still hold, for the log. */
  why: string;
}

/**
 * What an earlier run of this tracin cell already traced under exactly these conditions: the same
 * code version, settings, engine, model output and training output, so each query's rows depend
 * on nothing but the query. Those of its queries still in the test input with the same payload
 * and model are reused as they were; only the others are traced. A paid inference's attribution
 * then stays what it was when it was first settled, and the cost of a newly executed inference is
 * its own.
 *
 * When the model or its training rows changed (a retrain), the queries of other models are still
 * taken over: each was traced through the model that executed it and that model's own lineage,
 * which no retrain changes. Those are the inferences of the models a retrain superseded, which the
 * usage table keeps once settled; only the current model's are traced again.
 *
 * Null when nothing can be reused (first run, settings or engine changed, files gone), and for a
 * forced run, which recomputes from nothing.
 */
export async function priorTrace(ctx: CellContext, cell: { version: string; paramsJson: string; model: string; train: string; test: string; currentModel: string }): Promise<PriorTrace | null> {
  const last = await lastOutput(ctx, { kind: "tracin", version: cell.version, paramsJson: cell.paramsJson });
  if (!last || (last.run.source_version ?? null) !== (ctx.sourceVersion ?? null)) return null;
  const { artifact, inputs: before } = last;
  if (!before[cell.test]) return null;
  const sameModel = before[cell.model] === ctx.inputs[cell.model]!.dataVersion && before[cell.train] === ctx.inputs[cell.train]!.dataVersion;
  const oldTest = artifactPath(ctx.ws, before[cell.test]!);
  if (!fs.existsSync(oldTest)) return null;
  const test = ctx.inputs[cell.test]!.relation;
  const old = `(select * from read_parquet(${quoteLiteral(oldTest)}))`;
  const [now, then] = [await columnsOf(ctx.ws, test), await columnsOf(ctx.ws, old)];
  const payload = PAYLOAD.filter((c) => now.includes(c));
  if (payload.some((c) => !then.includes(c))) return null;
  // Across a retrain, only queries that say which model executed them can be told apart.
  if (!sameModel && !payload.includes("model_id")) return null;
  const traced = sameModel
    ? `n.id in (select distinct query from read_parquet(${quoteLiteral(artifact)}))`
    : `n.model_id <> ${quoteLiteral(cell.currentModel)} and exists (select 1 from read_parquet(${quoteLiteral(artifact)}) a where a.query = n.id and a.model_id = n.model_id)`;
  const reused = "__tracebook_tracin_reused";
  // Payloads compared by two 64-bit hashes of them (null is a value, as with "is not distinct
  // from"): a join that carried every message's text on both sides took 0.76 s at 21,205 queries.
  const digest = (relation: string) => payload.length
    ? `(select id, ${payload.includes("model_id") ? "model_id, " : ""}hash(${payload.join(", ")}) as a, hash(${payload.join(", ")}, 'tracebook.payload') as b from ${relation})`
    : `(select id, null as a, null as b from ${relation})`;
  const ids = await ctx.ws.rows<{ id: string }>(
    `select n.id from ${digest(test)} n join ${digest(old)} o on o.id = n.id
     where o.a is not distinct from n.a and o.b is not distinct from n.b and ${traced}`);
  if (!ids.length) return null;
  await stageRows(ctx.ws, reused, [["id", "VARCHAR"]], ids.map((r) => [r.id]));
  const why = sameModel ? "same model, training rows, settings and engine" : "inferences of models since retrained, each traced through its own lineage; same settings and engine";
  return { artifact, reused, count: ids.length, why };
}

/** Receipts an earlier run of the receipts cell wrote that still hold: their queries' influence rows are unchanged. */
export interface PriorReceipts {
  /** The earlier receipts output. */
  artifact: string;
  /** A staged table of the queries whose receipt is taken over (`id`). */
  reused: string;
  count: number;
}

/**
 * A receipt is a function of its query's influence rows (and of the model they name, fixed by its
 * id): where an earlier run of this receipts cell, under the same code version and settings, read
 * exactly the same rows for a query, its receipt is taken over as it was, and only the others are
 * written. The rows are compared by digests of each query's rows, in DuckDB, so JS reads only
 * what changed: 20,000 kept inferences cost a scan, not 1.5 million rows through JS.
 * Null when nothing can be reused, and for a forced run.
 */
export async function priorReceipts(ctx: CellContext, cell: { version: string; paramsJson: string; influence: string }): Promise<PriorReceipts | null> {
  const last = await lastOutput(ctx, { kind: "receipts", version: cell.version, paramsJson: cell.paramsJson });
  const before = last?.inputs[cell.influence];
  if (!last || !before) return null;
  const { artifact } = last, oldInfluence = artifactPath(ctx.ws, before);
  if (!fs.existsSync(oldInfluence)) return null;
  // Two independent 64-bit digests of the rows and their count: a query's rows are unique (one per
  // level and key), so combining row hashes by xor loses nothing, and takes a tenth of the time of
  // an ordered md5 over them (0.14 s against 3.2 s for 1.5 million rows).
  const columns = "prediction, confidence, level, key, contributor, datanet, score, share, rank, model_id, mode, checkpoints";
  const digest = (relation: string) => `(select query, bit_xor(hash(${columns})) as a, bit_xor(hash(${columns}, 'receipt')) as b, count(*) as n from ${relation} group by query)`;
  const reused = "__tracebook_receipts_reused";
  // An earlier influence table without one of these columns cannot be compared: everything is written.
  const ids = await ctx.ws.rows<{ id: string }>(
    `select n.query as id from ${digest(ctx.inputs[cell.influence]!.relation)} n join ${digest(`read_parquet(${quoteLiteral(oldInfluence)})`)} o using (query, a, b, n)
     where n.query in (select query from read_parquet(${quoteLiteral(artifact)}))`).catch(() => []);
  if (!ids.length) return null;
  await stageRows(ctx.ws, reused, [["id", "VARCHAR"]], ids.map((r) => [r.id]));
  return { artifact, reused, count: ids.length };
}
