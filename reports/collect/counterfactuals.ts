import type { Workspace } from "../../cells/store/workspace.ts";
import { canonicalRemoval, describeRemoval } from "../../cells/quality/removal.ts";
import { isWhatIfCell } from "../../cells/quality/questions.ts";
import type { CounterfactualFact } from "../facts.ts";
import { int, name, num, tableFile, tableVersion } from "./tables.ts";

/**
 * Every answer to "what if these contributions had never been given?" on this model: the latest
 * succeeded run of each counterfactual cell (a pipeline's own, or a `tracebook what-if` question)
 * whose table names it. Found by model id in the run log, as the other evaluations are; ordered by
 * what they left out, so a report does not depend on when each question was asked.
 */
export async function collectCounterfactuals(ws: Workspace, modelId: string): Promise<CounterfactualFact[]> {
  const runs = await ws.rows<{ pipeline: string; cell: string; params_json: string; fingerprint: string; data_version: string; artifact: string | null }>(
    `select pipeline, cell, params_json, fingerprint, data_version, artifact from runs
     where kind = 'counterfactual' and status = 'succeeded' and data_version is not null
     order by finished_at desc nulls last, started_at desc, id`);
  const seen = new Set<string>();
  const out: CounterfactualFact[] = [];
  for (const r of runs) {
    const key = `${r.pipeline}\u0000${r.cell}`;
    if (seen.has(key)) continue;
    const file = tableFile(ws, r);
    if (!file) continue;
    // One read for the summary, the query count and the model (every row of the table names the one it was asked of).
    const [s] = await ws.rows<Record<string, unknown>>(
      "select *, (count(*) filter (where row = 'query') over ())::integer as n_queries from read_parquet(?) qualify row = 'summary'", [file]);
    if (!s || s.model_id !== modelId) continue;
    seen.add(key);
    const n = Number(s.n_queries);
    const params = JSON.parse(r.params_json) as { without?: unknown; replicateSeed?: unknown };
    out.push({
      run: { pipeline: r.pipeline, cell: r.cell, fingerprint: r.fingerprint, data_version: r.data_version, recomputed_data_version: await tableVersion(ws, file) },
      asked_with: isWhatIfCell(r.cell) ? "what-if" : "pipeline",
      // What was left out: the summary's removal (ids a preview set aside are not in it), else the question's.
      without: name(removal(typeof s.without === "string" ? JSON.parse(s.without) : params.without)),
      removed: int(s.removed_contributions), removed_contributors: int(s.removed_contributors), kept: int(s.kept_contributions),
      // Tables written before the column existed say nothing about the base: null, not 0.
      removed_in_base: s.removed_in_base === undefined || s.removed_in_base === null ? null : int(s.removed_in_base),
      measured_on: name(s.measured_on), measured_rows: int(s.measured_rows),
      accuracy: { with: num(s.accuracy_before), without: num(s.accuracy_after), seed: num(s.accuracy_seed) },
      loss: { with: num(s.loss_before), without: num(s.loss_after), seed: num(s.loss_seed) },
      seed_check: typeof params.replicateSeed === "number" && Number.isSafeInteger(params.replicateSeed) ? params.replicateSeed : null,
      queries: n, flips: int(s.flips), flips_seed: s.flips_seed === null || s.flips_seed === undefined ? null : int(s.flips_seed),
      spearman: num(s.spearman), flips_found: int(s.flips_found),
    });
  }
  return out.sort((a, b) => b.removed - a.removed || a.without.localeCompare(b.without) || a.run.pipeline.localeCompare(b.run.pipeline) || a.run.cell.localeCompare(b.run.cell));
}

/** The removal in words; a table from an unknown params shape still gets a line. */
function removal(without: unknown): string {
  try {
    return describeRemoval(canonicalRemoval(without as Parameters<typeof canonicalRemoval>[0]));
  } catch {
    return JSON.stringify(without ?? null);
  }
}
