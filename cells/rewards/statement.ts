import type { Workspace } from "../store/workspace.ts";
import { formatAmount } from "./amounts.ts";

/** One line of an epoch's statement: a recipient's total in a role, how many inferences it came from, and why. */
export interface StatementLine { epoch: string; recipient: string; role: string; amount: bigint; inferences: number; reason: string }

/** How many of a recipient's largest lines its statement line quotes. */
const REASONS = 3;

/**
 * The statement of these epochs from the reward lines the workspace holds for them (this run's
 * and those kept from earlier runs): per epoch, recipient and role, the total, the inferences
 * behind it and the largest lines as reasons (amount descending, then inference id). Summed in
 * DuckDB, so a statement over a million lines reads a few hundred rows into JS. `idle`: models
 * never executed, listed with zero in each epoch (nothing earns for existing).
 */
export async function statementOf(ws: Workspace, pipeline: string, policy: string, epochs: readonly string[], idle: readonly { id: string; cell: string }[]): Promise<StatementLine[]> {
  if (!epochs.length) return [];
  const lines = `(select * from rewards where pipeline = ? and policy = ? and epoch in (${epochs.map(() => "?").join(", ")}))`;
  const params = [pipeline, policy, ...epochs];
  const totals = await ws.rows<{ epoch: string; recipient: string; role: string; amount: string; inferences: bigint }>(
    `select epoch, recipient, role, sum(amount)::varchar as amount, count(distinct inference_id) as inferences from ${lines} group by all order by all`, params);
  // Ordered by the line's amount (a HUGEINT), not by its text: "0.0014" must come before "0.000399".
  const top = await ws.rows<{ epoch: string; recipient: string; role: string; units: string; inference_id: string; receipt_hash: string; reason: string }>(
    `select epoch, recipient, role, amount::varchar as units, inference_id, receipt_hash, reason from ${lines}
     qualify row_number() over (partition by epoch, recipient, role order by amount desc, inference_id) <= ${REASONS}
     order by epoch, recipient, role, amount desc, inference_id`, params);
  const reasons = new Map<string, string[]>();
  for (const l of top) {
    const k = `${l.epoch}\u0000${l.recipient}\u0000${l.role}`;
    const list = reasons.get(k) ?? [];
    reasons.set(k, list);
    list.push(`${formatAmount(BigInt(l.units))} from inference ${l.inference_id.slice(0, 12)} (receipt ${l.receipt_hash.slice(0, 12)}): ${l.reason}`);
  }
  const out: StatementLine[] = totals.map((t) => ({
    epoch: t.epoch, recipient: t.recipient, role: t.role, amount: BigInt(t.amount), inferences: Number(t.inferences),
    reason: reasons.get(`${t.epoch}\u0000${t.recipient}\u0000${t.role}`)!.join("; "),
  }));
  for (const epoch of epochs) for (const m of idle) out.push({ epoch, recipient: `model:${m.id.slice(0, 16)}`, role: "model", amount: 0n, inferences: 0, reason: `${m.cell} was never executed in epoch ${epoch}: nothing earns for existing` });
  return out;
}

/** The statements of closed epochs, as they were closed (the settlements table, which no run rewrites for them). */
export async function closedStatement(ws: Workspace, pipeline: string, policy: string, epochs: string[]): Promise<StatementLine[]> {
  if (!epochs.length) return [];
  const rows = await ws.rows<Omit<StatementLine, "amount"> & { amount: string }>(
    `select epoch, recipient, role, amount::varchar as amount, inferences, reason from settlements
     where pipeline = ? and policy = ? and epoch in (${epochs.map(() => "?").join(", ")})`, [pipeline, policy, ...epochs]);
  return rows.map((r) => ({ ...r, inferences: Number(r.inferences), amount: BigInt(r.amount) }));
}
