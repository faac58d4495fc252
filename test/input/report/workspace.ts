// Builds the workspace the report tests read: a small "notes" Datanet, the report pipeline
// run on it (with `quality`, its quality evaluation and a what-if question too), then one curator's rejection of a contribution that trained the model (so the
// data-quality section has a flag to show).
import { ingest, loadDatanetSpec } from "../../../cells/datanet/ingest.ts";
import { decide } from "../../../cells/datanet/decisions.ts";
import { runPipeline } from "../../../cells/graph/scheduler.ts";
import type { Workspace } from "../../../cells/store/workspace.ts";
import { separableDatanet } from "../../helpers/datanets.ts";
import { tempWorkspace } from "../../helpers/workspace.ts";
import reportPipeline from "./report.pipeline.ts";
import qualityPipeline from "./quality.pipeline.ts";
import { whatIf } from "../../../cells/quality/what-if.ts";

export interface ExtraRow { text: string; label: "spam" | "ham"; contributor: string; title?: string }

export interface ReportWorkspace {
  ws: Workspace;
  /** The contribution the curator rejected after training. */
  rejected: string;
}

/**
 * `extra` rows (hostile ones, say) are imported into "notes" beside the seeded separable rows,
 * so they train the model and show up in influence, quality flags and payouts.
 */
export async function reportWorkspace(options: { extra?: ExtraRow[]; reason?: string; validator?: string; quality?: boolean } = {}): Promise<ReportWorkspace> {
  const ws = await tempWorkspace();
  await separableDatanet(ws, "notes", 120);
  if (options.extra?.length) {
    await ingest(ws, (await loadDatanetSpec(ws, "notes"))!, options.extra.map((r, i) => ({
      ...r, submittedAt: new Date("2024-01-02T00:00:00Z"), source: `extra#${i}`,
    })), { mode: "append", status: "approved", validator: "test", importer: "test@1" });
  }
  const run = await runPipeline(ws, reportPipeline);
  if (run.failed.length) throw new Error(`report fixture pipeline: ${run.failed.join(", ")} failed`);
  // Before the rejection below: a rejection changes the snapshot, and the quality pipeline
  // would evaluate a retrained model rather than the one that was paid.
  if (options.quality) {
    const q = await runPipeline(ws, qualityPipeline);
    if (q.failed.length) throw new Error(`report fixture quality pipeline: ${q.failed.join(", ")} failed`);
    // And a question asked of the paid model, as `tracebook what-if pay --contributor c1` asks it.
    await whatIf(ws, reportPipeline, { without: { contributors: ["c1"] } });
  }
  // A contribution that trained the model (it is in the train split), rejected afterwards.
  const [row] = await ws.rows<{ id: string }>(
    "select id from contributions where datanet = 'notes' and split = 'train' order by length(coalesce(text, '')) desc, id limit 1");
  await decide(ws, { ids: [row!.id], verdict: "rejected", validator: options.validator ?? "curator:ann", reason: options.reason ?? "duplicate of a newsletter", datanet: "notes" });
  return { ws, rejected: row!.id };
}
