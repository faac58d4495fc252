import fs from "node:fs";
import type { CellContext } from "../graph/cell.ts";
import { artifactPath } from "../graph/artifacts.ts";
import { cellHistories } from "../graph/runs.ts";
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
  if (ctx.forced) return null;
  const prev = (await cellHistories(ctx.ws, ctx.pipeline)).get(ctx.cell)?.lastSucceeded;
  if (!prev?.data_version || prev.kind !== "tracin" || prev.kind_version !== cell.version || prev.params_json !== cell.paramsJson) return null;
  if ((prev.source_version ?? null) !== (ctx.sourceVersion ?? null)) return null;
  const before = JSON.parse(prev.inputs_json) as Record<string, string>;
  if (!before[cell.test]) return null;
  const sameModel = before[cell.model] === ctx.inputs[cell.model]!.dataVersion && before[cell.train] === ctx.inputs[cell.train]!.dataVersion;
  const artifact = artifactPath(ctx.ws, prev.data_version), oldTest = artifactPath(ctx.ws, before[cell.test]!);
  if (!fs.existsSync(artifact) || !fs.existsSync(oldTest)) return null;
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
  const ids = await ctx.ws.rows<{ id: string }>(
    `select n.id from ${test} n join ${old} o on o.id = n.id
     where ${payload.map((c) => `n.${c} is not distinct from o.${c}`).join(" and ") || "true"} and ${traced}`);
  if (!ids.length) return null;
  await stageRows(ctx.ws, reused, [["id", "VARCHAR"]], ids.map((r) => [r.id]));
  const why = sameModel ? "same model, training rows, settings and engine" : "inferences of models since retrained, each traced through its own lineage; same settings and engine";
  return { artifact, reused, count: ids.length, why };
}
