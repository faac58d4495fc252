import type { Cell, CellContext } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { rewardSplitOptions } from "./options.ts";
import { nowUtc, type Workspace } from "../store/workspace.ts";
import { stageRows } from "../store/stage.ts";
import { columnsOf } from "../store/columns.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { currentModels } from "../factory/catalog.ts";
import { formatAmount } from "./amounts.ts";
import { DEFAULT_POLICY, parsePolicy, type SplitPolicy } from "./policy.ts";
import { splitFee, type Part } from "./split.ts";
import { DUPLICATE_CONTENT } from "../attribution/duplicate.ts";
import { archiveReceipts, NOT_ATTRIBUTED } from "./archive.ts";
import { judgePenalties, judgedScopes, penaltyKey, persistPenalties, scopeNets, type Penalties } from "./penalties.ts";
import { closedStatement, statementOf, type StatementLine } from "./statement.ts";
import { approvalsSeq, keptSplits, recordSplitState, splitSettings, type SplitState } from "./reuse.ts";
import { closedEpochs } from "./closures.ts";
import { plural } from "../graph/plural.ts";
import { repeatedRows } from "../store/repeated-rows.ts";

export interface RewardSplitParams {
  /** The inferences cell (the usage ledger's rows for this workload). */
  usage: string;
  /** The tracin cell over `usage`. */
  influence: string;
  /** The receipts cell over `influence`. */
  receipts: string;
  policy?: SplitPolicy;
  /** Who receives the model creator's share; default `creator:<pipeline>`. */
  creator?: string;
}

/**
 * 2: the approval trail is a source (a curator's `keep` adds a validator without changing a
 * status), and a validator counts once per contribution however many approvals it recorded.
 * 3: a penalty is decided per epoch and model (the net over that model's inferences), not over
 * every model the epoch's inferences went through.
 * 4: the usage table keeps inferences settled earlier by models since retrained
 * (`settled_earlier`): never split again, their lines kept, and their epochs' statements shown
 * even when no other inference is in them.
 * 5: a scope's nets are summed exactly in DuckDB (penalties.ts), the statement is summed there
 * from the lines held, and an inference whose lines would come out the same is not split again
 * (reuse.ts).
 */
const REWARDS_VERSION = "5";

/** Staged: the inferences this run settles (id, epoch, model_id, fee), and of them those it splits again (id). */
const SPLIT = "__tracebook_split", RESPLIT = "__tracebook_resplit";

interface UsageRow { id: string; model_id: string; fee: string; epoch: string; settled_earlier: boolean }
interface Line extends Part { epoch: string; inference: string; receipt: string }

/**
 * Split the fee of every executed inference by the policy and the inference's attribution
 * receipt; write the lines (`rewards`), the per-epoch statement (`settlements`) and the
 * reputation records of penalised contributors (per epoch and model: penalties.ts), in one
 * transaction, replacing what an earlier run of this cell wrote for the same inferences (so a
 * replay leaves totals unchanged); only the inferences whose lines would come out differently are
 * split again (reuse.ts), so settling one more costs about one inference. Lines an earlier run
 * settled for inferences this run does not split — executed by a model since retrained (a
 * curator's rejection, new data), which the usage table marks `settled_earlier` — stay, and stay
 * in the epoch's statement: a paid fee stays paid as its receipt said. Inferences of a closed epoch (closures.ts) are not split again: its
 * lines, statement and penalties stay as they were closed. The cell's table is the statement,
 * including models that were never executed (zero, and why).
 */
export function rewardSplit(p: RewardSplitParams): Cell {
  checkOptions("rewardSplit", rewardSplitOptions, p);
  const policy = parsePolicy(p.policy ?? DEFAULT_POLICY, "rewardSplit.policy");
  return {
    kind: "reward-split",
    computes: false,
    version: REWARDS_VERSION,
    params: { ...p, policy: p.policy ?? DEFAULT_POLICY },
    inputs: [p.usage, p.influence, p.receipts],
    // Validators are paid from the approval records, read outside the graph. Most records change a
    // status too (and so the snapshot upstream), but a `keep` does not: the trail is a source.
    // A closure changes no line, but the statement says which epochs are final: a source too.
    async source(ws, pipeline) {
      const [t] = await ws.rows<{ n: bigint; last: bigint | null }>("select count(*) as n, max(seq) as last from validations where verdict = 'approved'");
      const [c] = await ws.rows<{ closed: string | null }>("select string_agg(epoch, ',' order by epoch) as closed from epoch_closures where pipeline = ?", [pipeline]);
      return { version: sha256(`approvals\n${t!.n}\n${t!.last ?? ""}\nclosed\n${c?.closed ?? ""}`), describe: "the approval trail or the closed epochs" };
    },
    async run(ctx) {
      const creator = p.creator ?? `creator:${ctx.pipeline}`;
      const rel = (name: string) => ctx.inputs[name]!.relation;
      // Read first: an approval recorded while this run splits is the next run's to read.
      const approvals = await approvalsSeq(ctx.ws);
      // A usage table from before the ledger kept settled inferences (or a workload's own) has no such column: none is.
      const earlierColumn = (await columnsOf(ctx.ws, rel(p.usage))).includes("settled_earlier") ? "coalesce(settled_earlier, false)" : "false";
      const all = (await ctx.ws.rows<UsageRow>(`select id, model_id, fee::varchar as fee, epoch, ${earlierColumn} as settled_earlier from ${rel(p.usage)} order by id`)).map((u) => ({ ...u, fee: BigInt(u.fee) }));
      // A closed epoch's settlement is final (closures.ts): its lines, statement and penalties stay as closed.
      const closures = await closedEpochs(ctx.ws, ctx.pipeline);
      const open = all.filter((u) => !closures.has(u.epoch));
      // What this run settles: not what an earlier run settled for a model since retrained (its lines stay, below).
      const usage = open.filter((u) => !u.settled_earlier);
      const final = [...new Set(all.filter((u) => closures.has(u.epoch)).map((u) => u.epoch))].sort();
      if (final.length) ctx.log(`${plural(all.length - open.length, "inference")} of closed epochs (${final.join(", ")}) keep the lines they were closed with`);
      await stageRows(ctx.ws, SPLIT, [["id", "VARCHAR"], ["epoch", "VARCHAR"], ["model_id", "VARCHAR"], ["fee", "VARCHAR"]], usage.map((u) => [u.id, u.epoch, u.model_id, u.fee.toString()]));

      // Inferences earlier runs settled in these epochs that this run does not split (a retrained
      // model's): their lines stay as they were paid; their scopes keep the penalties decided for them (penalties.ts).
      const epochs = [...new Set(open.map((u) => u.epoch))].sort();
      const earlierFees = await settledEarlier(ctx.ws, ctx.pipeline, policy.id, epochs);
      const settledBefore = new Set([...earlierFees.values()].map((f) => penaltyKey(f.epoch, f.model_id)));
      // What earlier runs judged per scope: the penalties kept for settled scopes, and what moved since (reuse.ts).
      const judged = await judgedScopes(ctx.ws, ctx.pipeline);
      const penalties = judgePenalties(usage, await scopeNets(ctx.ws, SPLIT, rel(p.influence)), settledBefore, judged);
      const decided = [...penalties.values()].filter((s) => s.decided);
      if (decided.length) {
        const count = decided.reduce((sum, s) => sum + s.inferences, 0);
        ctx.log(`${plural(count, "inference")} of models since retrained ${count === 1 ? "is" : "are"} split under the penalties decided when their epoch's first lines were settled (${decided.map((s) => `${s.epoch} × model ${s.model.slice(0, 12)}`).join(", ")})`);
      }

      // Of the rest, only what would split differently from the lines already written is split again (reuse.ts).
      const settings = splitSettings(REWARDS_VERSION, p.policy ?? DEFAULT_POLICY, creator);
      const reuse = await keptSplits(ctx, { policy: policy.id, settings, split: SPLIT, receipts: rel(p.receipts), influence: rel(p.influence), penalties, judged });
      const resplit = usage.filter((u) => !reuse.kept.has(u.id));
      ctx.log(reuse.kept.size ? `${plural(reuse.kept.size, "inference keeps", "inferences keep")} the lines an earlier run split for them (${reuse.why}); ${resplit.length} split now` : `${plural(resplit.length, "inference")} split (${reuse.why})`);
      await stageRows(ctx.ws, RESPLIT, [["id", "VARCHAR"]], resplit.map((u) => [u.id]));
      // Each query's rows in the table's order (a split's tie-break); strings decoded once each, not once a row
      // (560,000 rows when 20,000 inferences are split at once: 2.9 s as row objects).
      const influence = await repeatedRows<{ query: string; key: string; score: number }>(ctx.ws,
        `select query, key, score from ${rel(p.influence)} where level = 'contributor' and query in (select id from ${RESPLIT})`, undefined, ["query", "key"]);
      // Of each receipt, its hash and the contributions it cites (their validators are paid), taken out of the JSON by DuckDB.
      const receipts = new Map((await ctx.ws.rows<{ query: string; receipt_hash: string; cited: string[] | null }>(
        `select query, receipt_hash, json_extract_string(receipt, '$.top_contributions[*].id') as cited from ${rel(p.receipts)} where query in (select id from ${RESPLIT})`)).map((r) => [r.query, r]));
      const byQuery = groupBy(influence, (r) => r.query);
      const cited = new Map(resplit.map((u) => [u.id, receipts.get(u.id)?.cited ?? []]));
      const approved = await approvalsOf(ctx.ws, [...new Set([...cited.values()].flat())]);
      const lines: Line[] = [];
      for (const u of resplit) {
        const receipt = receipts.get(u.id);
        const parts = splitFee({
          fee: u.fee, policy, creator,
          validators: validatorWeights(approved, cited.get(u.id)!),
          influence: (byQuery.get(u.id) ?? []).filter((r) => r.key !== DUPLICATE_CONTENT)
            .map((r, i) => ({ contribution: `contributor:${r.key}`, contributor: r.key, score: r.score, order: i })),
          excluded: penalties.get(penaltyKey(u.epoch, u.model_id))!.excluded,
        });
        for (const part of parts) lines.push({ ...part, epoch: u.epoch, inference: u.id, receipt: receipt?.receipt_hash ?? NOT_ATTRIBUTED });
      }
      const models = await currentModels(ctx.ws, ctx.pipeline);
      const executed = new Set(usage.map((u) => u.model_id));
      const idle = models.filter((m) => !executed.has(m.id));
      if (earlierFees.size) ctx.log(`${plural(earlierFees.size, "inference")} of models since retrained ${earlierFees.size === 1 ? "keeps" : "keep"} the lines settled for them earlier`);
      const totals = epochTotals([...usage, ...earlierFees.values()]);
      const { statement, recipients } = await persist(ctx, { policy: policy.id, state: { settings, approvalsSeq: approvals }, lines, epochs, idle, penalties, receipts: rel(p.receipts) });
      const fees = usage.reduce((s, u) => s + u.fee, 0n);
      ctx.log(`${plural(usage.length, "inference")}, fees ${formatAmount(fees)} paid out exactly to ${plural(recipients, "recipient")}; ` +
        `${plural([...penalties.values()].reduce((n, s) => n + s.excluded.size, 0), "penalty", "penalties")} (contributor, epoch, model); ${plural(idle.length, "model")} never executed`);
      for (const epoch of epochs) {
        const top = statement.filter((l) => l.epoch === epoch && l.amount > 0n).sort((a, b) => (b.amount > a.amount ? 1 : b.amount < a.amount ? -1 : 0)).slice(0, 6);
        ctx.log(`statement ${epoch} (${policy.id}): ${top.map((l) => `${l.recipient} ${formatAmount(l.amount)}`).join(", ")}, … — \`tracebook rewards ${ctx.pipeline} --epoch ${epoch}\``);
      }
      for (const e of final) totals.set(e, { inferences: closures.get(e)!.inferences, fees: closures.get(e)!.fees });
      const closed = await closedStatement(ctx.ws, ctx.pipeline, policy.id, final);
      await stageRows(ctx.ws, "__tracebook_statement", [["epoch", "VARCHAR"], ["recipient", "VARCHAR"], ["role", "VARCHAR"], ["amount", "VARCHAR"], ["inferences", "INTEGER"], ["reason", "VARCHAR"],
        ["epoch_inferences", "INTEGER"], ["epoch_fees", "VARCHAR"], ["closed_at", "VARCHAR"], ["closed_by", "VARCHAR"], ["lines_root", "VARCHAR"]],
        [...statement, ...closed].map((s) => [s.epoch, s.recipient, s.role, s.amount.toString(), s.inferences, s.reason, totals.get(s.epoch)!.inferences, totals.get(s.epoch)!.fees.toString(),
          closures.get(s.epoch)?.closed_at ?? null, closures.get(s.epoch)?.closed_by ?? null, closures.get(s.epoch)?.lines_root ?? null]));
      // epoch_inferences and epoch_fees: every inference the statement settles in its epoch and
      // their fees from the ledger, so a reader can reconcile the statement without the ledger;
      // closed_at, closed_by and lines_root: a closed epoch's statement is final, and its lines
      // hash to that root, which a recipient's proof leads to (null: open, provisional).
      return {
        query: `select epoch, recipient, role, amount::decimal(38, 0) as amount, inferences, reason, ? as policy,
                epoch_inferences, epoch_fees::decimal(38, 0) as epoch_fees, closed_at, closed_by, lines_root
                from __tracebook_statement order by epoch, amount::hugeint desc, role, recipient`,
        params: [policy.id],
      };
    },
  };
}

/** Per epoch: the inferences the statement settles (this run's and earlier ones') and their fees as the ledger records them. */
function epochTotals(settled: { epoch: string; fee: bigint }[]): Map<string, { inferences: number; fees: bigint }> {
  const out = new Map<string, { inferences: number; fees: bigint }>();
  for (const { epoch, fee } of settled) {
    const t = out.get(epoch) ?? { inferences: 0, fees: 0n };
    out.set(epoch, { inferences: t.inferences + 1, fees: t.fees + fee });
  }
  return out;
}

/**
 * Inferences earlier runs of this cell settled in these epochs that this run does not split (those
 * not in the staged split set), with their fees and models from the ledger: one query, the lines
 * joined to their records.
 */
async function settledEarlier(ws: Workspace, pipeline: string, policy: string, epochs: string[]): Promise<Map<string, { epoch: string; fee: bigint; model_id: string }>> {
  const fees = new Map<string, { epoch: string; fee: bigint; model_id: string }>();
  if (!epochs.length) return fees;
  const rows = await ws.rows<{ epoch: string; inference_id: string; fee: string; model_id: string }>(
    `select distinct r.epoch, r.inference_id, i.fee::varchar as fee, i.model_id
     from rewards r join inferences i on i.id = r.inference_id
     where r.pipeline = ? and r.policy = ? and r.epoch in (${epochs.map(() => "?").join(", ")})
       and r.inference_id not in (select id from ${SPLIT}) order by r.inference_id`, [pipeline, policy, ...epochs]);
  for (const r of rows) fees.set(r.inference_id, { epoch: r.epoch, fee: BigInt(r.fee), model_id: r.model_id });
  return fees;
}

/**
 * Who approved each contribution, each validator once per contribution, in one query. Once:
 * approving (or keeping) the same row again is not more validation work, and must not buy a
 * larger share of every fee that cites it.
 */
async function approvalsOf(ws: Workspace, contributions: string[]): Promise<Map<string, string[]>> {
  await stageRows(ws, "__tracebook_cited", [["id", "VARCHAR"]], contributions.map((c) => [c]));
  const rows = await ws.rows<{ contribution: string; validator: string }>(
    "select distinct contribution, validator from validations where verdict = 'approved' and contribution in (select id from __tracebook_cited) order by all");
  return new Map([...groupBy(rows, (r) => r.contribution)].map(([id, rs]) => [id, rs.map((r) => r.validator)]));
}

/** Validators of the cited contributions, weighted by how many of the cited contributions each approved. */
function validatorWeights(approvals: Map<string, string[]>, cited: string[]): { validator: string; weight: number }[] {
  const weight = new Map<string, number>();
  for (const id of new Set(cited)) for (const v of approvals.get(id) ?? []) weight.set(v, (weight.get(v) ?? 0) + 1);
  return [...weight].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([validator, w]) => ({ validator, weight: w }));
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/**
 * Write this run's lines in place of the earlier lines of the inferences it split (those of
 * RESPLIT), archive their receipts, and rewrite the statement of the open epochs from the lines
 * the workspace then holds, the penalties this run decided and the state it split under: one
 * transaction. Before it commits, every inference this run settles must be paid exactly its fee
 * by the lines it leaves, kept and new alike.
 */
async function persist(ctx: CellContext, w: {
  policy: string; state: SplitState; lines: Line[]; epochs: string[]; idle: { id: string; cell: string }[]; penalties: Penalties; receipts: string;
}): Promise<{ statement: StatementLine[]; recipients: number }> {
  const at = nowUtc();
  await stageRows(ctx.ws, "__tracebook_reward_lines", [["epoch", "VARCHAR"], ["inference_id", "VARCHAR"], ["receipt_hash", "VARCHAR"], ["recipient", "VARCHAR"], ["role", "VARCHAR"], ["amount", "VARCHAR"], ["reason", "VARCHAR"]],
    w.lines.map((l) => [l.epoch, l.inference, l.receipt, l.recipient, l.role, l.amount.toString(), l.reason]));
  return ctx.ws.transaction(async () => {
    await ctx.ws.run(`delete from rewards where pipeline = ? and policy = ? and inference_id in (select id from ${RESPLIT})`, [ctx.pipeline, w.policy]);
    await ctx.ws.run(`insert into rewards select ?, ?, epoch, inference_id, receipt_hash, recipient, role, amount::hugeint, reason from __tracebook_reward_lines`, [ctx.pipeline, w.policy]);
    await archiveReceipts(ctx.ws, ctx.pipeline, w.receipts, at); // a paid line's receipt outlives the receipts cell's table
    const [check] = await ctx.ws.rows<{ wrong: bigint; first: string | null; recipients: bigint }>(
      `with paid as (select s.id, s.fee::hugeint as fee, coalesce(sum(r.amount), 0) as amount from ${SPLIT} s
                     left join rewards r on r.pipeline = ? and r.policy = ? and r.inference_id = s.id group by all)
       select (select count(*) from paid where amount <> fee) as wrong, (select min(id) from paid where amount <> fee) as first,
              (select count(distinct recipient) from rewards where pipeline = ? and policy = ? and inference_id in (select id from ${SPLIT})) as recipients`,
      [ctx.pipeline, w.policy, ctx.pipeline, w.policy]);
    // splitFee guarantees it for new lines and keptSplits checked the kept ones: a bug otherwise, and nothing is written.
    if (check!.wrong > 0n) throw new Error(`internal: the lines of ${check!.wrong} inferences do not sum to their fees (first: ${check!.first})`);
    const statement = await statementOf(ctx.ws, ctx.pipeline, w.policy, w.epochs, w.idle);
    for (const epoch of w.epochs) await ctx.ws.run("delete from settlements where pipeline = ? and policy = ? and epoch = ?", [ctx.pipeline, w.policy, epoch]);
    for (const s of statement) {
      await ctx.ws.run("insert into settlements values (?, ?, ?, ?, ?, ?::hugeint, ?, ?, ?::timestamp)", [ctx.pipeline, w.policy, s.epoch, s.recipient, s.role, s.amount.toString(), s.inferences, s.reason, at]);
    }
    // Only the epochs this run split inferences in are judged again (an epoch of kept lines keeps its records).
    await persistPenalties(ctx.ws, ctx.pipeline, w.penalties, [...new Set([...w.penalties.values()].map((s) => s.epoch))], at);
    await recordSplitState(ctx.ws, ctx.pipeline, w.policy, w.state, at);
    return { statement, recipients: Number(check!.recipients) };
  });
}
