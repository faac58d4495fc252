import type { Workspace } from "../store/workspace.ts";
import { Rng } from "../compute/random.ts";
import { cellHistories } from "../graph/runs.ts";
import { artifactPath } from "../graph/artifacts.ts";
import { InputError } from "../datanet/errors.ts";
import type { Payload } from "../factory/featurize.ts";
import { columnOrNull, columnsOf } from "../store/columns.ts";
import { quoteLiteral } from "../store/export.ts";
import { stageRows } from "../store/stage.ts";
import { Explainer, type ExplainSource, type Explanation } from "./explain.ts";
import { cellsAsRun, explainSource } from "./source.ts";
import { lineageTrain } from "./lineage.ts";
import { lossGradientOf } from "./receipts.ts";
import type { LossGradient } from "./factors.ts";

/** Scores and shares agree when within this relative difference: float32 sums in another order. */
const TOLERANCE = 1e-4;
/**
 * Shares also agree within this absolute difference: a share is a fraction of the contributor
 * pool, and a tiny one (3.2e-4 of it) came out 6e-8 apart on the TF.js and onnxruntime engines
 * for a near-certain prediction, where float32 loses the loss gradient's last digits.
 */
const SHARE_TOLERANCE = 1e-6;

export interface Recomputation {
  receipts: string;
  influence: string;
  /** Receipts recomputed, of how many, drawn with this seed. */
  sampled: number;
  of: number;
  seed: number;
  mismatched: { query: string; why: string }[];
  seconds: number;
}

/** The parts of a receipt a recomputation compares. */
export interface Receipt {
  prediction: string;
  /** `loss_gradient` since attribution version 3; a receipt without it was made `subtracted` (factors.ts). */
  attribution?: { loss_gradient?: LossGradient };
  top_contributions: { id: string; contributor: string | null; datanet: string | null; score: number }[];
  contributor_shares: { contributor: string; score: number; share: number }[];
  datanet_shares: { datanet: string; score: number; share: number }[];
}

/**
 * Recompute a seeded sample of a pipeline's attribution receipts from first principles: each
 * sampled inference's input, as its tracin cell read it, through the model's checkpoints against
 * the training rows (TracIn again, not a stored table read back). Its prediction, its top
 * contributions in order with their scores, and its contributor and Datanet shares must be what
 * the receipt says. A reviewer's check that the claim follows from the lineage.
 */
export async function recomputeReceipts(ws: Workspace, pipeline: string, receiptsCell: string, o: { sample: number; seed: number }): Promise<Recomputation> {
  const t0 = performance.now();
  const cells = await cellsAsRun(ws, pipeline);
  const cell = cells.get(receiptsCell);
  if (cell?.kind !== "receipts") throw new InputError(`pipeline "${pipeline}" has no receipts cell "${receiptsCell}" in its run log`);
  const { influence, top = 5 } = cell.params as { influence: string; top?: number };
  const history = await cellHistories(ws, pipeline);
  const output = (name: string) => {
    const v = history.get(name)?.lastSucceeded?.data_version;
    if (!v) throw new InputError(`cell ${name} of ${pipeline} has no output: run \`tracebook run ${pipeline}\` first`);
    return artifactPath(ws, v);
  };
  // Drawn from every query; only the sample's receipts are read (their JSON is most of the
  // table: 84 MB at 21,201 inferences, 1.6 s of a report only to read it).
  const receiptsFile = output(receiptsCell);
  const all = await ws.rows<{ query: string }>("select query from read_parquet(?) order by query", [receiptsFile]);
  const chosen = new Rng(o.seed).shuffle(all.map((r) => r.query)).slice(0, o.sample).sort();
  await stageRows(ws, "__tracebook_recompute_ids", [["id", "VARCHAR"]], chosen.map((q) => [q]));
  const receipts = new Map((await ws.rows<{ query: string; receipt: string; model_id: string }>(
    "select query, receipt, model_id from read_parquet(?) where query in (select id from __tracebook_recompute_ids)", [receiptsFile])).map((r) => [r.query, r]));

  const source = await explainSource(ws, pipeline, cells, influence);
  // Each sampled inference's input as the tracin cell read it (a query table has text or features).
  const queryFile = output(source.params.test);
  const columns = await columnsOf(ws, `(select * from read_parquet(${quoteLiteral(queryFile)}))`);
  // The sample's rows only: a reviewer's sample of 20 need not read every query's text.
  const inputs = await ws.rows<{ id: string; title: string | null; text: string | null; features: number[] | null; label: string | null }>(
    `select id, ${["title", "text", "features", "label"].map((c) => columnOrNull(columns, c)).join(", ")} from read_parquet(?)
     where id in (select id from __tracebook_recompute_ids)`, [queryFile]);
  const byId = new Map(inputs.map((r) => [r.id, r]));
  const payload = (q: string): Payload => {
    const r = byId.get(q);
    if (!r) throw new Error(`inference ${q.slice(0, 12)} has a receipt but no row in ${source.params.test}`);
    return r.features ? { features: Array.from(r.features) } : { title: r.title, text: r.text };
  };

  // Each receipt by the model it names: the cell's own, or another model traced through its lineage.
  const explanations = new Map<string, Explanation>();
  const mismatched: { query: string; why: string }[] = [];
  const parsed = new Map(chosen.map((q) => [q, JSON.parse(receipts.get(q)!.receipt) as Receipt]));
  // A cell that traced each query's own label is asked as that label.
  const asLabel = (source.params.target ?? "predicted") === "label";
  for (const modelId of [...new Set(chosen.map((q) => receipts.get(q)!.model_id))].sort()) {
    const mine = chosen.filter((q) => receipts.get(q)!.model_id === modelId);
    // Each recomputed as it was made: with the loss gradient it names (lossGradientOf).
    const got = await explainThrough(ws, source, modelId, mine.map((q) => ({
      payload: payload(q), as: asLabel ? byId.get(q)?.label ?? undefined : undefined, lossGradient: lossGradientOf(parsed.get(q)!),
    })), top);
    if ("why" in got) for (const q of mine) mismatched.push({ query: q, why: `its model ${modelId.slice(0, 12)} cannot be traced: ${got.why}` });
    else got.forEach((e, j) => explanations.set(mine[j]!, e));
  }
  for (const q of chosen) {
    const why = explanations.has(q) ? disagreement(parsed.get(q)!, explanations.get(q)!, top) : null;
    if (why) mismatched.push({ query: q, why });
  }
  mismatched.sort((a, b) => (a.query < b.query ? -1 : 1));
  return { receipts: receiptsCell, influence, sampled: chosen.length, of: all.length, seed: o.seed, mismatched, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Inputs explained as the pipeline's tracin cell (`source`) would trace them through model
 * `modelId`: the cell's own model, or another (an inference executed before a retrain) through
 * the contributions its lineage names, with the same settings, the model loaded once. Inputs
 * asked as a label go one at a time; the others in one call per loss gradient (`summed` unless
 * given: an older receipt's is `subtracted`). `why` when that model cannot be traced here.
 */
export async function explainThrough(ws: Workspace, source: ExplainSource, modelId: string, inputs: { payload: Payload; as?: string; lossGradient?: LossGradient }[], top: number): Promise<Explanation[] | { why: string }> {
  let from = source;
  if (modelId !== source.modelId) {
    const train = await lineageTrain(ws, modelId);
    if ("why" in train) return train;
    from = { ...source, modelId, train: { ...train, dataVersion: `lineage of ${modelId}` } };
  }
  const explainer = await Explainer.load(ws, from);
  const out: Explanation[] = new Array(inputs.length);
  const at = inputs.map((_, j) => j);
  for (const lossGradient of ["summed", "subtracted"] as const) {
    const group = at.filter((j) => (inputs[j]!.lossGradient ?? "summed") === lossGradient);
    if (!group.length) continue;
    if (!group.some((j) => inputs[j]!.as !== undefined)) {
      const got = (await explainer.explain(group.map((j) => inputs[j]!.payload), { top, lossGradient })).explanations;
      group.forEach((j, k) => (out[j] = got[k]!));
    } else for (const j of group) out[j] = (await explainer.explain([inputs[j]!.payload], { top, as: inputs[j]!.as, lossGradient })).explanations[0]!;
  }
  return out;
}

/** What differs between a receipt and its recomputation, or null (exported for its tests). */
export function disagreement(r: Receipt, e: Explanation, top: number): string | null {
  const close = (a: number, b: number) => Math.abs(a - b) <= TOLERANCE * Math.max(Math.abs(a), Math.abs(b), 1e-12);
  if (r.prediction !== e.prediction) return `prediction: receipt ${r.prediction}, recomputed ${e.prediction}`;
  const mine = e.proponents.slice(0, top);
  if (mine.map((c) => c.contribution).join() !== r.top_contributions.map((c) => c.id).join()) {
    return `top contributions: receipt ${r.top_contributions.map((c) => c.id.slice(0, 8)).join(", ")}, recomputed ${mine.map((c) => c.contribution.slice(0, 8)).join(", ")}`;
  }
  const off = r.top_contributions.findIndex((c, i) => !close(c.score, mine[i]!.score));
  if (off >= 0) return `score of ${r.top_contributions[off]!.id.slice(0, 8)}: receipt ${r.top_contributions[off]!.score}, recomputed ${mine[off]!.score}`;
  for (const [level, theirs, ours] of [
    ["contributor", r.contributor_shares.map((s) => ({ name: s.contributor, share: s.share })), e.contributors],
    ["datanet", r.datanet_shares.map((s) => ({ name: s.datanet, share: s.share })), e.datanets],
  ] as const) {
    const positive = ours.filter((g) => g.share !== null && g.share > 0);
    if (positive.map((g) => g.name).join("\u0000") !== theirs.map((s) => s.name).join("\u0000")) return `${level}s with a share: receipt ${theirs.length}, recomputed ${positive.length} (or in another order)`;
    const i = theirs.findIndex((s, k) => !close(s.share, positive[k]!.share!) && Math.abs(s.share - positive[k]!.share!) > SHARE_TOLERANCE);
    if (i >= 0) return `${level} ${theirs[i]!.name} share: receipt ${theirs[i]!.share}, recomputed ${positive[i]!.share}`;
  }
  return null;
}
