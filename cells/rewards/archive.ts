import fs from "node:fs";
import { artifactPath } from "../graph/artifacts.ts";
import { quoteLiteral } from "../store/export.ts";
import type { Workspace } from "../store/workspace.ts";

/** A reward line's receipt column when the inference's model was not attributed: no receipt to keep. */
export const NOT_ATTRIBUTED = "none: model not attributed";

/**
 * Keep the receipts that reward lines of `pipeline` cite, from a receipts table (a relation with
 * query, model_id, receipt_hash, receipt): the next run replaces that table and gc collects its
 * file, but a fee paid on a receipt must stay checkable. Call inside the transaction that writes
 * the lines.
 */
export async function archiveReceipts(ws: Workspace, pipeline: string, relation: string, at: string): Promise<void> {
  await ws.run(
    `insert into attribution_receipts
     select receipt_hash, ?, any_value(query), any_value(model_id), any_value(receipt), ?::timestamp from ${relation}
     where receipt_hash in (select receipt_hash from rewards where pipeline = ?)
       and receipt_hash not in (select receipt_hash from attribution_receipts)
     group by receipt_hash`, [pipeline, at, pipeline]);
}

/**
 * Archive the cited receipts the archive lacks from every receipts output still on disk: lines
 * settled before the archive existed. gc calls it before it collects the files that hold them
 * (nothing else removes them), and the readers of receipts (reports, `tracebook receipt`) before
 * they look; a pipeline run need not.
 * Cheap when nothing is missing (one query). Returns how many were added and how many cited
 * receipts are nowhere to be found.
 */
export async function catchUpReceipts(ws: Workspace, at: string): Promise<{ added: number; lost: number }> {
  const missing = async () => (await ws.rows<{ pipeline: string; receipt_hash: string }>(
    `select distinct pipeline, receipt_hash from rewards
     where receipt_hash <> ? and receipt_hash not in (select receipt_hash from attribution_receipts)`, [NOT_ATTRIBUTED]));
  const wanted = await missing();
  if (!wanted.length) return { added: 0, lost: 0 };
  const runs = await ws.rows<{ pipeline: string; data_version: string }>(
    "select distinct pipeline, data_version from runs where kind = 'receipts' and status = 'succeeded' and data_version is not null order by pipeline, data_version");
  const pipelines = new Set(wanted.map((w) => w.pipeline));
  for (const run of runs) {
    const file = artifactPath(ws, run.data_version);
    if (!pipelines.has(run.pipeline) || !fs.existsSync(file)) continue;
    await archiveReceipts(ws, run.pipeline, `(select * from read_parquet(${quoteLiteral(file)}))`, at);
  }
  // Only cited receipts the archive lacked are inserted: what is still missing was nowhere.
  const lost = (await missing()).length;
  return { added: wanted.length - lost, lost };
}
