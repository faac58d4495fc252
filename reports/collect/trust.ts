import type { Workspace } from "../../cells/store/workspace.ts";
import type { QualityRun, TrustFacts } from "../facts.ts";
import { round6 } from "./amount.ts";
import { shellWord } from "./provenance.ts";
import { int, modelIn, name, num, seed, tableFile, tableVersion } from "./tables.ts";
import { collectCounterfactuals } from "./counterfactuals.ts";

/** The quality-evaluation cell kinds (cells/quality/) a report quotes. */
const KINDS = ["loco", "lds", "mislabel"] as const;
type Kind = (typeof KINDS)[number];

/** The curation queue's scores in the order the mislabel cell writes them; others follow by name. */
const SCORE_ORDER = ["label-error score", "self-influence", "loss"];

interface Found { run: QualityRun; file: string; params: Record<string, unknown> }

/**
 * How far the model's influence scores agree with retraining: the latest succeeded loco, lds and
 * mislabel runs, in any pipeline of the workspace, whose table names this model. The evaluation
 * runs in its own pipeline (e.g. mail-quality, reusing the mail pipeline's model cell), so it is
 * found by model id in the run log, not among the report's cells.
 */
export async function collectTrust(ws: Workspace, pipeline: string, modelId: string): Promise<TrustFacts> {
  const runs = await ws.rows<{ pipeline: string; cell: string; kind: Kind; params_json: string; fingerprint: string; data_version: string; artifact: string | null }>(
    `select pipeline, cell, kind, params_json, fingerprint, data_version, artifact from runs
     where kind in (${KINDS.map(() => "?").join(", ")}) and status = 'succeeded' and data_version is not null
     order by finished_at desc nulls last, started_at desc, id`, [...KINDS]);
  const found = new Map<Kind, Found>();
  const others = new Set<string>();
  const modelOf = new Map<string, string | null>();
  let latestPipeline: string | null = null;
  for (const r of runs) {
    latestPipeline ??= r.pipeline;
    const file = tableFile(ws, r);
    if (!file) continue;
    if (!modelOf.has(r.data_version)) modelOf.set(r.data_version, await modelIn(ws, file));
    const id = modelOf.get(r.data_version);
    if (id !== modelId) {
      if (id) others.add(id);
      continue;
    }
    if (found.has(r.kind)) continue;
    found.set(r.kind, {
      run: { pipeline: r.pipeline, cell: r.cell, fingerprint: r.fingerprint, data_version: r.data_version, recomputed_data_version: await tableVersion(ws, file) },
      file, params: JSON.parse(r.params_json) as Record<string, unknown>,
    });
  }
  const evaluating = found.values().next().value?.run.pipeline ?? latestPipeline ?? `${pipeline}-quality`;
  return {
    model_id: modelId,
    command: `npx tracebook run ${shellWord(evaluating)}`,
    other_models: others.size,
    loco: found.has("loco") ? await locoFacts(ws, found.get("loco")!) : null,
    lds: found.has("lds") ? await ldsFacts(ws, found.get("lds")!) : null,
    mislabel: found.has("mislabel") ? await mislabelFacts(ws, found.get("mislabel")!) : null,
    counterfactuals: await collectCounterfactuals(ws, modelId),
  };
}

async function locoFacts(ws: Workspace, f: Found): Promise<NonNullable<TrustFacts["loco"]>> {
  // `select *`: tables written before the replicate seed have no spearman_mean_delta.
  const rows = await ws.rows<Record<string, unknown>>("select * exclude (contributor) from read_parquet(?) where row in ('ceiling', 'summary')", [f.file]);
  const ceiling = rows.find((r) => r.row === "ceiling");
  const order = modeOrder(f.params);
  return {
    run: f.run,
    contributors: Math.max(0, ...rows.map((r) => int(r.contributors))),
    ceiling: ceiling ? { seeds: name(ceiling.mode), spearman: num(ceiling.spearman) } : null,
    modes: rows.filter((r) => r.row === "summary")
      .map((r) => ({ mode: name(r.mode), spearman: num(r.spearman), spearman_mean_delta: num(r.spearman_mean_delta) }))
      .sort((a, b) => order(a.mode) - order(b.mode) || a.mode.localeCompare(b.mode)),
  };
}

async function ldsFacts(ws: Workspace, f: Found): Promise<NonNullable<TrustFacts["lds"]>> {
  const rows = await ws.rows<Record<string, unknown>>("select * from read_parquet(?)", [f.file]);
  const order = modeOrder(f.params);
  return {
    run: f.run,
    fraction: typeof f.params.fraction === "number" && f.params.fraction > 0 && f.params.fraction < 1 ? round6(f.params.fraction) : null,
    modes: rows.filter((r) => r.source === "ours")
      .map((r) => ({ mode: name(r.mode), lds: num(r.lds), subsets: int(r.subsets), examples: int(r.examples) }))
      .sort((a, b) => order(a.mode) - order(b.mode) || a.mode.localeCompare(b.mode)),
    published: rows.filter((r) => r.source === "published")
      .map((r) => ({ method: name(r.mode), lds: num(r.lds) }))
      .sort((a, b) => (a.lds ?? -Infinity) - (b.lds ?? -Infinity) || a.method.localeCompare(b.method)),
  };
}

async function mislabelFacts(ws: Workspace, f: Found): Promise<NonNullable<TrustFacts["mislabel"]>> {
  const rows = await ws.rows<Record<string, unknown>>("select * from read_parquet(?) order by score, top_pct", [f.file]);
  const scores = [...new Set(rows.map((r) => name(r.score)))]
    .sort((a, b) => (SCORE_ORDER.indexOf(a) + 1 || 99) - (SCORE_ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b));
  const first = rows[0] ?? {};
  return {
    run: f.run,
    rows: int(first.rows),
    flipped: int(first.flipped),
    fraction: num(first.fraction) ?? 0,
    flip_seed: seed(first.flip_seed),
    scores: scores.map((s) => {
      const of = rows.filter((r) => name(r.score) === s);
      return {
        score: s,
        auc: num(of[0]?.auc),
        recall: of.map((r) => ({ top_pct: num(r.top_pct) ?? 0, k: int(r.k), recall: num(r.recall), found: int(r.found) })),
      };
    }),
  };
}

/** Modes in the order the cell's params list them (exact first, as the cell compares them). */
function modeOrder(params: Record<string, unknown>): (mode: string) => number {
  const names = Array.isArray(params.modes) ? params.modes.map((m) => String((m as { name?: unknown }).name)) : [];
  return (mode) => (names.indexOf(mode) + 1) || names.length + 1;
}
