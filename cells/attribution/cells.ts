import type { Cell, CellContext } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { selfInfluenceOptions, tracinOptions } from "./options.ts";
import { tf } from "../compute/backend.ts";
import { toTensors } from "../factory/mlp.ts";
import { argmaxRows, classProbabilities } from "../factory/predict.ts";
import { loadExamples, type LoadedExamples } from "../factory/examples.ts";
import { modelOf, trainingRoot } from "../factory/cells.ts";
import { attributionSource } from "./engine.ts";
import { stageRows } from "../store/stage.ts";
import { quoteLiteral } from "../store/export.ts";
import { columnsOf } from "../store/columns.ts";
import type { Workspace } from "../store/workspace.ts";
import { loadForTracin } from "./load.ts";
import { selfInfluence, tracin, type TracinMode } from "./tracin.ts";
import { creditOf, rankGroups } from "./credit.ts";
import { lineageTrain, otherModels } from "./lineage.ts";
import { priorTrace } from "./incremental.ts";
import { canonicalJson } from "../graph/fingerprint.ts";
import { ATTRIBUTION_VERSION } from "./version.ts";
import { plural } from "../graph/plural.ts";
import { listValue } from "@duckdb/node-api";
import { influenceRows, stageInfluenceRows, traceCall, type InfluenceRows } from "./influence-rows.ts";

/**
 * The tracin cell's own: its table also quotes each contribution (`text`), which the other
 * attribution cells do not. 3: a contribution without a title is quoted by its text alone (it
 * began " — "). A bump re-traces every query once; the scores are what they were.
 */
export const TRACIN_VERSION = "4"; // 4: the loss gradient `summed` (factors.ts): near-certain queries' scores change

export { DUPLICATE_CONTENT } from "./duplicate.ts";

export interface TracinParams {
  /** The model cell (finetune, base-model) whose behaviour is traced. */
  model: string;
  /** The rows that trained it: must be exactly the contributions in the model's lineage. */
  train: string;
  /** The queries (held-out rows, or executed inferences). */
  test: string;
  topK?: number;
  mode?: TracinMode;
  /** "predicted" (default): explain the output the model gave; "label": the query's own label. */
  target?: "predicted" | "label";
  projection?: { dim: number; seed: number };
  /**
   * Which of the model's checkpoints TracIn sums over: "all" (default), "last", or their step
   * indices as the manifest records them. A subset is an approximation worth comparing against
   * (the Influence explorer switches between a pipeline's tracin cells).
   */
  checkpoints?: "all" | "last" | number[];
}

/**
 * Influence of every training contribution on every query, as one long table:
 *  - level "contribution": the top-k proponents (rank 1…k) and opponents (rank −1…−k);
 *  - level "contributor" and "datanet": the net influence of each group, with its share of the
 *    positive total (share = max(score, 0) / Σ max(score, 0); null when nothing is positive).
 * `sql` cells split it into influence_topk, contributor_influence and datanet_influence.
 */
export function tracinCell(p: TracinParams): Cell {
  checkOptions("tracin", tracinOptions, p);
  const params = { topK: 20, mode: "exact" as TracinMode, target: "predicted" as const, ...p };
  if (params.mode === "projection" && !params.projection) params.projection = { dim: 32, seed: 0 };
  const subset = params.checkpoints ?? "all";
  return {
    kind: "tracin",
    version: TRACIN_VERSION,
    params,
    inputs: [p.model, p.train, p.test],
    source: () => attributionSource(),
    async run(ctx) {
      // Rows of queries an earlier run traced under the same model, training rows and settings
      // are taken over; only the rest (new inferences, above all) are traced.
      const currentModel = await modelOf(ctx, params.model);
      const prior = await priorTrace(ctx, { version: TRACIN_VERSION, paramsJson: canonicalJson(params), model: params.model, train: params.train, test: params.test, currentModel });
      const all = ctx.inputs[params.test]!.relation;
      const test = { name: params.test, relation: prior ? `(select * from ${all} where id not in (select id from ${prior.reused}))` : all };
      const [{ n: fresh }] = (await ctx.ws.rows<{ n: bigint }>(`select count(*) as n from ${test.relation}`)) as [{ n: bigint }];
      if (prior) ctx.log(`${prior.count} queries keep the rows an earlier run traced (${prior.why}); ${fresh} to trace`);
      const rows = influenceRows();
      if (fresh > 0n) {
        const train = { name: params.train, relation: ctx.inputs[params.train]!.relation };
        const prepared = await loadAttribution(ctx.ws, currentModel, train, test);
        await traceInto(rows, ctx, params, prepared, pickCheckpoints(prepared.checkpoints, subset, prepared.manifest.id), train.relation);
        // Inferences of other models in the queries (a model before its retrain, never settled; a
        // base called directly) are each traced through the model that executed them, against the
        // contributions its lineage names: attribution follows the output back to its own data.
        for (const id of await otherModels(ctx.ws, test.relation, prepared.manifest.id)) {
          const other = await lineageAttribution(ctx.ws, id, test);
          const checkpoints = "why" in other ? null : pickCheckpointsOrNull(other.checkpoints, subset);
          if ("why" in other || !checkpoints) {
            ctx.log(`inferences of model ${id.slice(0, 12)} are not attributed: ${"why" in other ? other.why : `it has no checkpoint ${JSON.stringify(subset)}`}`);
            continue;
          }
          await traceInto(rows, ctx, params, other, checkpoints, other.trainRelation);
        }
      }
      const table = "__tracebook_influence";
      await stageInfluenceRows(ctx.ws, table, rows);
      // One group of rows per query; those taken over are copied from the earlier output, in its
      // order, beside these (materialize), and versioned by the digests kept beside it.
      return {
        query: `select * from ${table} order by query, case level when 'contribution' then 0 when 'contributor' then 1 else 2 end, (rank < 0), abs(rank)`,
        groups: { column: "query", unchanged: prior ? { artifact: prior.artifact, keys: prior.reused } : undefined },
      };
    },
  };
}

type Prepared = Awaited<ReturnType<typeof loadAttribution>>;

/** TracIn of one model's queries against the rows that trained it (`trainRelation`): the influence table's rows, appended to `rows`. */
async function traceInto(rows: InfluenceRows, ctx: CellContext, params: Required<Pick<TracinParams, "mode" | "topK" | "target">> & TracinParams, prepared: Prepared, checkpoints: Prepared["checkpoints"], trainRelation: string) {
  const { manifest, model, final, trainSet, queries } = prepared;
  if (!queries.y.length) return;
  const predicted = await predict(model, final, queries);
  if (params.target === "label" && queries.y.some((v) => v < 0)) throw new Error(`input "${params.test}" has queries without a label; use target: "predicted"`);
  const y = params.target === "label" ? queries.y : predicted.classIndex;
  const credit = creditOf(trainSet);
  ctx.log(`TracIn ${params.mode} over ${plural(checkpoints.length, "checkpoint")} of model ${manifest.id.slice(0, 12)}: ${plural(trainSet.y.length, "contribution")} × ${plural(queries.y.length, "query", "queries")}`);
  const result = await tracin({
    model, checkpoints, mode: params.mode, projection: params.projection, topK: params.topK, signal: ctx.signal,
    train: { x: trainSet.x, y: trainSet.y, groupSizes: credit.groupSizes, groups: credit.groups },
    queries: { x: queries.x, y },
    onProgress: (d, t) => ctx.progress(d, t, "shards"),
  });
  ctx.log(`${result.pairs} pairs in ${result.seconds.toFixed(1)} s (${Math.round(result.pairs / result.seconds)} pairs/s, ${result.engine})`);
  const classes = manifest.spec.classes;
  const call = traceCall(rows, { modelId: manifest.id, mode: params.mode, checkpoints: checkpoints.map((c) => c.index).join(","), contributors: credit.contributors, datanets: credit.datanets });
  const cited = new Set<number>();
  queries.refs.forEach((q, j) => {
    const head = call.head(q.id, classes[predicted.classIndex[j]!]!, predicted.confidence[j]!, queries.labels[j] || null);
    const top = result.top[j]!;
    const contribution = (c: { index: number; score: number }, rank: number) => {
      call.contribution(head, c.index, c.score, rank);
      cited.add(c.index);
    };
    top.proponents().forEach((c, r) => contribution(c, r + 1));
    top.opponents().forEach((c, r) => contribution(c, -(r + 1)));
    for (const [level, names, sums] of [["contributor", credit.contributors, result.groupSums[0]!], ["datanet", credit.datanets, result.groupSums[1]!]] as const) {
      rankGroups(names, sums, j).forEach((g, r) => call.group(head, level, g.name, g.score, g.share, r + 1));
    }
  });
  // The text of each contribution cited, rendered for those only.
  const texts = await snippets(ctx.ws, trainRelation, [...new Set([...cited].map((i) => trainSet.refs[i]!.id))]);
  for (const i of cited) {
    const ref = trainSet.refs[i]!;
    call.cite(i, ref.id, ref.contributor, ref.datanet, texts.get(ref.id) ?? "");
  }
}

/** The checkpoints a tracin cell sums over; an index the model does not have is an error naming those it has. */
export function pickCheckpoints<C extends { index: number }>(all: C[], subset: "all" | "last" | number[], modelId: string): C[] {
  if (subset === "all") return all;
  if (subset === "last") return all.slice(-1);
  const missing = subset.filter((i) => !all.some((c) => c.index === i));
  if (missing.length) throw new Error(`tracin: model ${modelId.slice(0, 12)} has no checkpoint ${missing.join(", ")} (it has ${all.map((c) => c.index).join(", ")})`);
  return all.filter((c) => subset.includes(c.index));
}

/** The same subset of another model's checkpoints, or null when it lacks one of the indices named. */
function pickCheckpointsOrNull<C extends { index: number }>(all: C[], subset: "all" | "last" | number[]): C[] | null {
  return Array.isArray(subset) && subset.some((i) => !all.some((c) => c.index === i)) ? null : pickCheckpoints(all, subset, "");
}

/** Σ_k η_k ‖∇ℓ(θ_k, z)‖² for every training contribution: high for mislabelled or atypical rows. */
export function selfInfluenceCell(p: { model: string; train: string; mode?: TracinMode; projection?: { dim: number; seed: number } }): Cell {
  checkOptions("selfInfluence", selfInfluenceOptions, p);
  const params = { mode: "exact" as TracinMode, ...p };
  return {
    kind: "self-influence",
    version: ATTRIBUTION_VERSION,
    params,
    inputs: [p.model, p.train],
    source: () => attributionSource(),
    async run(ctx) {
      const { manifest, model, checkpoints, trainSet } = await prepareAttribution(ctx, p.model, p.train, null);
      const scores = await selfInfluence({ model, checkpoints, mode: params.mode, projection: params.projection ?? { dim: 32, seed: 0 }, train: trainSet, signal: ctx.signal });
      const table = "__tracebook_self_influence";
      await stageRows(ctx.ws, table, [["contribution", "VARCHAR"], ["contributor", "VARCHAR"], ["datanet", "VARCHAR"], ["label", "VARCHAR"], ["score", "DOUBLE"]],
        trainSet.refs.map((r, i) => [r.id, r.contributor, r.datanet, trainSet.labels[i]!, scores[i]!]));
      return { query: `select *, ? as model_id from ${table} order by score desc, contribution`, params: [manifest.id] };
    },
  };
}

export async function prepareAttribution(ctx: CellContext, modelCell: string, trainCell: string, testCell: string | null) {
  const input = (name: string) => ({ name, relation: ctx.inputs[name]!.relation });
  return loadAttribution(ctx.ws, await modelOf(ctx, modelCell), input(trainCell), testCell ? input(testCell) : null);
}

/**
 * A stored model with the rows that trained it (and queries, when given) as examples: what
 * TracIn needs. `train` must be exactly the contributions in the model's lineage.
 */
export async function loadAttribution(ws: Workspace, id: string, train: { name: string; relation: string }, test: { name: string; relation: string } | null) {
  const loaded = await loadForTracin(ws.home, id);
  const { manifest } = loaded;
  if (!manifest.featurizer) throw new Error(`model ${id.slice(0, 12)} has no featurizer`);
  const classes = manifest.spec.classes;
  const trainSet = await loadExamples(ws, train.relation, manifest.featurizer, classes, `input "${train.name}"`, { cache: true });
  // Attribution is over what entered the model, no more, no less: the lineage says what that was.
  if (manifest.snapshot && trainingRoot(trainSet) !== manifest.snapshot.root) {
    throw new Error(`input "${train.name}" (${trainSet.y.length} rows) is not the data model ${id.slice(0, 12)} was trained on (${manifest.snapshot.contributions} contributions, root ${manifest.snapshot.root.slice(0, 12)})`);
  }
  let queryRelation = test?.relation ?? "";
  if (test) {
    // A usage table may hold inferences of several models: attribute those of this model.
    if ((await columnsOf(ws, queryRelation)).includes("model_id")) queryRelation = `(select * from ${queryRelation} where model_id = ${quoteLiteral(id)})`;
  }
  const queries = test ? await loadExamples(ws, queryRelation, manifest.featurizer, classes, `input "${test.name}"`, { unlabelled: true }) : null;
  return { ...loaded, trainSet, queries: queries as LoadedExamples };
}

/**
 * A stored model with the rows its lineage names and its queries from `test`: TracIn for a model
 * no cell currently outputs, such as the model before a curator's rejection retrained it.
 */
export async function lineageAttribution(ws: Workspace, id: string, test: { name: string; relation: string }) {
  const train = await lineageTrain(ws, id);
  if ("why" in train) return train;
  return { ...(await loadAttribution(ws, id, train, test)), trainRelation: train.relation };
}

export async function predict(model: Awaited<ReturnType<typeof loadForTracin>>["model"], final: Awaited<ReturnType<typeof loadForTracin>>["final"], q: LoadedExamples) {
  const base = toTensors(model.base), weights = toTensors(final);
  try {
    const p = await classProbabilities(model.spec, q.x, weights, model.lora ? { base, lora: model.lora } : undefined);
    return argmaxRows(p, model.spec.classes.length);
  } finally {
    tf.dispose([...Object.values(base), ...Object.values(weights)]);
  }
}

/**
 * A short human-readable rendering of each training row, for tables people read; of the rows
 * with these ids only, when given (whitespace is collapsed over a row's whole text, so rendering
 * every row costs 0.6 s on real mail: a run tracing one new inference cites 40 of them).
 */
export async function snippets(ws: Workspace, relation: string, ids?: readonly string[]): Promise<Map<string, string>> {
  if (ids && !ids.length) return new Map();
  const cols = await columnsOf(ws, relation);
  const title = cols.includes("title") ? "coalesce(title, '')" : "''";
  const text = cols.includes("text") ? "coalesce(text, '')" : "''";
  const rows = await ws.rows<{ id: string; s: string }>(
    `select id, case when q = '' then 'label ' || label else left(q, 160) end as s
     from (select id, label, trim(regexp_replace(concat_ws(' — ', nullif(trim(${title}), ''), nullif(trim(${text}), '')), '\\s+', ' ', 'g')) as q
           from ${relation}${ids ? " where id in (select unnest(?::varchar[]))" : ""})`,
    ids ? [listValue([...ids])] : [],
  );
  return new Map(rows.map((r) => [r.id, r.s]));
}
