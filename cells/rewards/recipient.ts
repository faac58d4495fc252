import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { closedEpochs } from "./closures.ts";
import { didYouMean } from "../graph/nearest.ts";

/** One recipient's side of a pipeline's settlement in one epoch. */
export interface RecipientEpoch {
  epoch: string;
  /** When the epoch was closed and by whom; null while it is open (provisional). */
  closed: { at: string; by: string } | null;
  /** Per role (a curator can be paid as validator and as contributor): total base units and inferences. */
  roles: { role: string; amount: string; inferences: number }[];
  /** The largest lines, each with the inference, the model that executed it and the receipt it cites. */
  lines: { inference_id: string; model_id: string; role: string; amount: string; receipt_hash: string; reason: string }[];
  /** How many lines there are in all. */
  line_count: number;
  /** Penalties on this recipient, per model whose inferences in the epoch the net ran over. */
  penalties: { model_id: string; net_influence: number; record: string }[];
}

/**
 * What one recipient (a contributor, validator, creator, the protocol) was paid by a pipeline,
 * epoch by epoch, and why: the totals per role, the largest reward lines with the inference and
 * receipt each cites (for `tracebook receipt`), and the penalties that kept it from a model's
 * inferences. A reviewer's question about one name, answered from the lines themselves.
 */
export async function recipientStatement(ws: Workspace, pipeline: string, recipient: string, o: { epoch?: string; limit?: number } = {}): Promise<RecipientEpoch[]> {
  const limit = o.limit ?? 10;
  const inEpoch = o.epoch === undefined ? "" : "and r.epoch = ?";
  const args = (extra: (string | number)[] = []) => (o.epoch === undefined ? [pipeline, recipient, ...extra] : [pipeline, recipient, o.epoch, ...extra]);
  const roles = await ws.rows<{ epoch: string; role: string; amount: string; inferences: bigint }>(
    `select r.epoch, r.role, sum(r.amount)::varchar as amount, count(distinct r.inference_id) as inferences from rewards r
     where r.pipeline = ? and r.recipient = ? ${inEpoch} group by all order by r.epoch, r.role`, args());
  const lines = await ws.rows<RecipientEpoch["lines"][number] & { epoch: string; n: bigint }>(
    `select * exclude (k) from (
       select r.epoch, r.inference_id, i.model_id, r.role, r.amount::varchar as amount, r.receipt_hash, r.reason,
              count(*) over (partition by r.epoch) as n,
              row_number() over (partition by r.epoch order by r.amount desc, r.inference_id, r.role) as k
       from rewards r join inferences i on i.id = r.inference_id
       where r.pipeline = ? and r.recipient = ? ${inEpoch}) where k <= ? order by epoch, k`, args([limit]));
  const penalties = await ws.rows<{ epoch: string; model_id: string; net_influence: number; record: string }>(
    `select r.epoch, r.model_id, r.net_influence, r.record from reputation r where r.pipeline = ? and r.contributor = ? ${inEpoch} order by r.epoch, r.model_id`, args());
  const epochs = [...new Set([...roles, ...penalties].map((x) => x.epoch))].sort();
  if (!epochs.length) {
    const names = (await ws.rows<{ name: string }>(
      "select recipient as name from rewards where pipeline = ? union select contributor from reputation where pipeline = ?", [pipeline, pipeline])).map((r) => r.name);
    throw new InputError(`"${recipient}" was neither paid nor penalised by pipeline ${pipeline}${o.epoch === undefined ? "" : ` in epoch ${o.epoch}`} ` +
      `(${didYouMean(recipient, names)}recipients are names such as a contributor, curator:…, creator:${pipeline}, protocol; \`tracebook rewards ${pipeline}\` lists them)`);
  }
  const closures = await closedEpochs(ws, pipeline);
  return epochs.map((epoch) => {
    const c = closures.get(epoch);
    const mine = lines.filter((l) => l.epoch === epoch);
    return {
      epoch,
      closed: c ? { at: c.closed_at, by: c.closed_by } : null,
      roles: roles.filter((r) => r.epoch === epoch).map((r) => ({ role: r.role, amount: r.amount, inferences: Number(r.inferences) })),
      lines: mine.map(({ epoch: _e, n: _n, ...l }) => l),
      line_count: Number(mine[0]?.n ?? 0),
      penalties: penalties.filter((p) => p.epoch === epoch).map(({ epoch: _e, ...p }) => p),
    };
  });
}
