import type { CellContext } from "../graph/cell.ts";
import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import type { Workspace } from "../store/workspace.ts";
import { stageRows } from "../store/stage.ts";
import type { Penalties } from "./penalties.ts";

/**
 * What a split reads besides the inference, its receipt, approvals and penalties: the code
 * version, the policy and the creator, as one digest. An earlier run's lines are only reused
 * under the same.
 */
export function splitSettings(version: string, policy: unknown, creator: string): string {
  return sha256(canonicalJson({ version, policy, creator }));
}

/** The state a run of a pipeline's split leaves beside its lines (reward_splits), in its transaction. */
export interface SplitState {
  settings: string;
  /** The last approval record (validations.seq) the run's validators were read up to. */
  approvalsSeq: bigint;
}

/** The last approval record: validators are paid from approvals, and a new one may change a split. */
export async function approvalsSeq(ws: Workspace): Promise<bigint> {
  const [r] = await ws.rows<{ last: bigint | null }>("select max(seq) as last from validations where verdict = 'approved'");
  return BigInt(r?.last ?? 0);
}

/** Record, inside the run's transaction, what the lines it leaves were split under. */
export async function recordSplitState(ws: Workspace, pipeline: string, policy: string, state: SplitState, at: string): Promise<void> {
  await ws.run("delete from reward_splits where pipeline = ? and policy = ?", [pipeline, policy]);
  await ws.run("insert into reward_splits values (?, ?, ?, ?, ?::timestamp)", [pipeline, policy, state.settings, state.approvalsSeq, at]);
}

/**
 * The inferences of `split` (a staged relation: id, epoch, model_id, fee) whose lines an earlier
 * run already wrote exactly as this run would: splitting one is a pure function of its fee, the
 * settings, its receipt (which holds every positive contributor score the pool is divided by and
 * the contributions whose validators are paid), the approvals of those contributions and which of
 * its positive contributors its scope penalises. An inference keeps its lines when
 *  - the pipeline's last split ran under the same settings (reward_splits, written with the lines),
 *  - its lines all cite its current receipt and sum to its fee,
 *  - no contribution its receipt cites was approved since (approvals pay validators),
 *  - no contributor it scores positively was penalised or cleared since in its scope.
 * Everything else is split again: newly executed inferences above all, so that settling one more
 * costs about one inference, not the epoch. A forced run splits everything.
 */
export async function keptSplits(
  ctx: CellContext, q: { policy: string; settings: string; split: string; receipts: string; influence: string; penalties: Penalties; judged: Map<string, Set<string>> },
): Promise<{ kept: Set<string>; why: string }> {
  if (ctx.forced) return { kept: new Set(), why: "a forced run splits every inference again" };
  const [state] = await ctx.ws.rows<{ settings: string; approvals_seq: bigint }>(
    "select settings, approvals_seq from reward_splits where pipeline = ? and policy = ?", [ctx.pipeline, q.policy]);
  if (!state) return { kept: new Set(), why: "no earlier split under this policy" };
  if (state.settings !== q.settings) return { kept: new Set(), why: "the split's code, policy or creator changed" };

  // Contributors whose penalty in a scope moved since the run that wrote the lines: the records
  // hold what that run decided (a scope decided earlier and kept cannot move).
  const moved: unknown[][] = [];
  for (const [k, s] of q.penalties) {
    const before = q.judged.get(k);
    // A scope no run judged yet holds no inference with lines: nothing of it to keep.
    if (s.decided || !before) continue;
    for (const c of s.excluded) if (!before.has(c)) moved.push([s.epoch, s.model, c]);
    for (const c of before) if (!s.excluded.has(c)) moved.push([s.epoch, s.model, c]);
  }
  const [{ n: approved }] = await ctx.ws.rows<{ n: bigint }>(
    "select count(distinct contribution) as n from validations where verdict = 'approved' and seq > ?", [state.approvals_seq]) as [{ n: bigint }];
  const unless: string[] = [];
  if (approved > 0n) {
    unless.push(`exists (select 1 from validations v where v.verdict = 'approved' and v.seq > ${BigInt(state.approvals_seq)}
                  and list_contains(json_extract_string(r.receipt, '$.top_contributions[*].id'), v.contribution))`);
  }
  if (moved.length) {
    await stageRows(ctx.ws, "__tracebook_penalty_moved", [["epoch", "VARCHAR"], ["model_id", "VARCHAR"], ["contributor", "VARCHAR"]], moved);
    unless.push(`exists (select 1 from ${q.influence} i join __tracebook_penalty_moved m on m.contributor = i.key
                  where i.query = s.id and i.level = 'contributor' and i.score > 0 and m.epoch = s.epoch and m.model_id = s.model_id)`);
  }
  const rows = await ctx.ws.rows<{ id: string }>(
    `with lines as (
       select inference_id, min(receipt_hash) as first, max(receipt_hash) as last, sum(amount) as paid
       from rewards where pipeline = ? and policy = ? group by inference_id)
     select s.id from ${q.split} s
     join lines l on l.inference_id = s.id
     join ${q.receipts} r on r.query = s.id
     where l.first = l.last and l.first = r.receipt_hash and l.paid = s.fee::hugeint
       ${unless.map((u) => `and not ${u}`).join("\n       ")}`,
    [ctx.pipeline, q.policy]);
  const why = [`receipt unchanged`, approved > 0n ? `none of ${approved} contributions approved since cited` : "no approval since",
    moved.length ? `none of ${moved.length} penalties that moved touches it` : "no penalty moved"];
  // None kept: say what keeping needs, not the conditions as if they held.
  if (!rows.length) return { kept: new Set(), why: `none has its receipt unchanged${approved > 0n || moved.length ? ", no cited contribution approved since and no penalty moved that touches it" : ""}` };
  return { kept: new Set(rows.map((r) => r.id)), why: why.join(", ") };
}
