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
 * the lines. Returns how many were added.
 */
export async function archiveReceipts(ws: Workspace, pipeline: string, relation: string, at: string): Promise<number> {
  const [r] = await ws.rows<{ n: bigint }>(
    `select count(*) as n from (select distinct receipt_hash from ${relation}
       where receipt_hash in (select receipt_hash from rewards where pipeline = ?)
         and receipt_hash not in (select receipt_hash from attribution_receipts))`, [pipeline]);
  if (!r || r.n === 0n) return 0;
  await ws.run(
    `insert into attribution_receipts
     select receipt_hash, ?, any_value(query), any_value(model_id), any_value(receipt), ?::timestamp from ${relation}
     where receipt_hash in (select receipt_hash from rewards where pipeline = ?)
       and receipt_hash not in (select receipt_hash from attribution_receipts)
     group by receipt_hash`, [pipeline, at, pipeline]);
  return Number(r.n);
}

/**
 * Archive the cited receipts the archive lacks from every receipts output still on disk: lines
 * settled before the archive existed, before gc collects the files that hold their receipts.
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
  let added = 0;
  for (const run of runs) {
    const file = artifactPath(ws, run.data_version);
    if (!fs.existsSync(file)) continue;
    if (!wanted.some((w) => w.pipeline === run.pipeline)) continue;
    await ws.transaction(async () => {
      added += await archiveReceipts(ws, run.pipeline, `(select * from read_parquet(${quoteLiteral(file)}))`, at);
    });
  }
  return { added, lost: (await missing()).length };
}
