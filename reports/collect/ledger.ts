import type { Workspace } from "../../cells/store/workspace.ts";
import { canonicalJson, merkleRoot, sha256 } from "../../cells/graph/fingerprint.ts";
import { parsePolicy, DEFAULT_POLICY, type SplitPolicy } from "../../cells/rewards/policy.ts";
import { stageRows } from "../../cells/store/stage.ts";
import { repeatedRows } from "../../cells/store/repeated-rows.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { closedEpochs, closureHolds } from "../../cells/rewards/closures.ts";
import type { EpochStatement, ReportFacts, StatementLine } from "../facts.ts";
import type { ReportCells } from "./cells.ts";
import { amount, sumUnits } from "./amount.ts";

/** A settled inference: a row of the usage cell, as the ledger recorded it. */
export interface Settled {
  id: string;
  model_id: string;
  fee: bigint;
  epoch: string;
  executed_at: string;
  record: string;
  /** How it came in: "cli", "api", "workload:<pipeline>.<cell>". */
  source: string;
}

export interface RewardLine {
  epoch: string;
  inference_id: string;
  receipt_hash: string;
  recipient: string;
  role: string;
  amount: bigint;
  reason: string;
}

export interface Ledger {
  policy: string;
  epochs: string[];
  settled: Settled[];
  lines: RewardLine[];
  unsettled: number;
  statement: EpochStatement[];
  neverExecuted: ReportFacts["never_executed"];
}

/** Temp table holding the settled inference ids, for joins in the other collectors. */
export const SETTLED_IDS = "__report_settled";

/**
 * The money side: the inferences the reward cell settled in the chosen epochs, their reward
 * lines and the statement, each total checked against the others to the base unit.
 */
export async function collectLedger(ws: Workspace, pipeline: string, cells: ReportCells, wanted?: string[]): Promise<Ledger> {
  const policy = parsePolicy((cells.rewards.params.policy ?? DEFAULT_POLICY) as SplitPolicy, `cell ${cells.rewards.cell} policy`).id;
  const known = (await ws.rows<{ epoch: string }>("select distinct epoch from settlements where pipeline = ? and policy = ? order by epoch", [pipeline, policy])).map((r) => r.epoch);
  const unknown = (wanted ?? []).filter((e) => !known.includes(e));
  if (unknown.length) {
    throw new InputError(`pipeline "${pipeline}" has no settlement in epoch ${unknown.map((e) => `"${e}"`).join(", ")} (settled epochs: ${known.join(", ") || "none"})`);
  }
  if (!known.length) throw new InputError(`pipeline "${pipeline}" has no settlement under policy ${policy}: run \`tracebook run ${pipeline}\` first`);
  const epochs = wanted?.length ? [...new Set(wanted)].sort() : known;
  const inEpochs = `(${epochs.map(() => "?").join(", ")})`;

  // What the reward cell settled: every inference with reward lines in these epochs — the usage
  // cell's rows and, after a retrain, the earlier models' (their lines stay); the ledger row is the record of each.
  const settled = (await ws.rows<{ id: string; model_id: string; fee: string; epoch: string; executed_at: string; payload_sha256: string; prediction: string; caller: string; source: string }>(
    `select i.id, i.model_id, i.fee::varchar as fee, i.epoch, strftime(i.executed_at, '%Y-%m-%dT%H:%M:%S.%gZ') as executed_at, i.payload_sha256, i.prediction, i.caller, i.source
     from inferences i where i.epoch in ${inEpochs}
       and i.id in (select inference_id from rewards where pipeline = ? and policy = ? and epoch in ${inEpochs}) order by i.id`, [...epochs, pipeline, policy, ...epochs]))
    .map((r) => ({
      id: r.id, model_id: r.model_id, fee: BigInt(r.fee), epoch: r.epoch, executed_at: r.executed_at, source: r.source,
      record: sha256(canonicalJson([r.id, r.model_id, r.payload_sha256, r.prediction, r.fee, r.caller, r.epoch, r.executed_at])),
    }));
  await stageRows(ws, SETTLED_IDS, [["id", "VARCHAR"]], settled.map((s) => [s.id]));
  const [{ n: unsettled } = { n: 0n }] = await ws.rows<{ n: bigint }>(
    `select count(*) as n from inferences where pipeline = ? and epoch in ${inEpochs} and id not in (select id from ${SETTLED_IDS})`, [pipeline, ...epochs]);

  const lines = (await repeatedRows<Omit<RewardLine, "amount"> & { amount: string }>(ws,
    `select epoch, inference_id, receipt_hash, recipient, role, amount::varchar as amount, reason from rewards
     where pipeline = ? and policy = ? and epoch in ${inEpochs} order by epoch, inference_id, role, recipient`, [pipeline, policy, ...epochs],
    ["epoch", "inference_id", "receipt_hash", "recipient", "role", "reason"]))
    .map((l) => ({ ...l, amount: BigInt(l.amount) }));
  const settlements = (await ws.rows<{ epoch: string; recipient: string; role: string; amount: string; inferences: number; reason: string }>(
    `select epoch, recipient, role, amount::varchar as amount, inferences, reason from settlements
     where pipeline = ? and policy = ? and epoch in ${inEpochs}`, [pipeline, policy, ...epochs]))
    .map((s) => ({ ...s, amount: BigInt(s.amount), inferences: Number(s.inferences) }));

  const closures = await closedEpochs(ws, pipeline);
  const statement: EpochStatement[] = [];
  for (const e of epochs) {
    const st = epochStatement(e, policy, settled.filter((s) => s.epoch === e), lines.filter((l) => l.epoch === e), settlements.filter((s) => s.epoch === e));
    const c = closures.get(e);
    if (!c) {
      statement.push(st);
      continue;
    }
    // Closed: its lines hashed again, every policy's, as the closure hashed them.
    const now = await closureHolds(ws, c);
    statement.push({ ...st, closure: { closed_at: c.closed_at, closed_by: c.closed_by, inferences: c.inferences, lines: c.lines, lines_root: c.lines_root, recomputed_lines: now.lines, recomputed_root: now.root } });
  }
  const models = await modelCellsById(ws, cells);
  const neverExecuted = settlements.filter((s) => s.role === "model").map((s) => {
    const prefix = s.recipient.replace(/^model:/, "");
    const m = models.find((x) => x.id.startsWith(prefix));
    return { epoch: s.epoch, recipient: s.recipient, cell: m?.cell ?? null, model_id: m?.id ?? null, reason: s.reason };
  }).sort((a, b) => a.epoch.localeCompare(b.epoch) || a.recipient.localeCompare(b.recipient));
  return { policy, epochs, settled, lines, unsettled: Number(unsettled), statement, neverExecuted };
}

/** One epoch's statement, each recipient's total beside the sum of its reward lines. */
function epochStatement(epoch: string, policy: string, settled: Settled[], lines: RewardLine[], settlements: { recipient: string; role: string; amount: bigint; inferences: number; reason: string }[]): EpochStatement {
  const key = (recipient: string, role: string) => `${role}\u0000${recipient}`;
  const byRecipient = new Map<string, bigint>();
  for (const l of lines) byRecipient.set(key(l.recipient, l.role), (byRecipient.get(key(l.recipient, l.role)) ?? 0n) + l.amount);
  const out: StatementLine[] = settlements.map((s) => ({
    recipient: s.recipient, role: s.role, amount: amount(s.amount), inferences: s.inferences,
    lines_total: amount(byRecipient.get(key(s.recipient, s.role)) ?? 0n), reason: s.reason,
  }));
  // Reward lines paying someone the statement omits: listed with a statement amount of 0, so they show as a mismatch.
  const listed = new Set(settlements.map((s) => key(s.recipient, s.role)));
  for (const [k, total] of byRecipient) {
    if (listed.has(k)) continue;
    const [role, recipient] = k.split("\u0000") as [string, string];
    out.push({ recipient, role, amount: amount(0n), inferences: 0, lines_total: amount(total), reason: "not in the settlement statement" });
  }
  out.sort((a, b) => cmpUnits(b.amount.units, a.amount.units) || a.role.localeCompare(b.role) || a.recipient.localeCompare(b.recipient));
  const fees = sumUnits(settled.map((s) => s.fee));
  const paid = sumUnits(out.map((l) => BigInt(l.amount.units)));
  const linesTotal = sumUnits(lines.map((l) => l.amount));
  const reconciles = fees === paid && paid === linesTotal && out.every((l) => l.amount.units === l.lines_total.units);
  return { epoch, policy, inferences: settled.length, fees: amount(fees), paid: amount(paid), reconciles, lines: out };
}

function cmpUnits(a: string, b: string): number {
  const x = BigInt(a), y = BigInt(b);
  return x > y ? 1 : x < y ? -1 : 0;
}

async function modelCellsById(ws: Workspace, cells: ReportCells): Promise<{ cell: string; id: string }[]> {
  const out: { cell: string; id: string }[] = [];
  for (const c of cells.models) {
    const [row] = await ws.rows<{ model_id: string }>("select distinct model_id from read_parquet(?)", [c.artifact]);
    if (row) out.push({ cell: c.cell, id: row.model_id });
  }
  return out;
}

/** Merkle roots that pin the ledger records and the reward lines behind a report. */
export function ledgerRoots(l: Ledger): { ledger: string; lines: string } {
  return {
    ledger: merkleRoot(l.settled.map((s) => s.record)),
    lines: merkleRoot(l.lines.map((x) => sha256(canonicalJson([x.epoch, x.inference_id, x.receipt_hash, x.recipient, x.role, x.amount.toString(), x.reason])))),
  };
}

/**
 * The settled inferences by how they came in, largest first: a seeded workload's can be replayed
 * from its seed; a caller's (`cli`, `api`) exist only as the ledger recorded them.
 */
export function ledgerSources(settled: readonly Settled[]): NonNullable<ReportFacts["lineage"]["ledger"]["sources"]> {
  const by = new Map<string, { inferences: number; fees: bigint }>();
  for (const s of settled) {
    const t = by.get(s.source) ?? { inferences: 0, fees: 0n };
    by.set(s.source, { inferences: t.inferences + 1, fees: t.fees + s.fee });
  }
  return [...by].sort(([a, x], [b, y]) => y.inferences - x.inferences || (a < b ? -1 : 1))
    .map(([source, t]) => ({ source, inferences: t.inferences, fees: amount(t.fees) }));
}
