import { canonicalJson, merkleRoot, sha256 } from "../graph/fingerprint.ts";
import type { Workspace } from "../store/workspace.ts";
import { repeatedRows } from "../store/repeated-rows.ts";
import { InputError } from "../datanet/errors.ts";
import { formatAmount } from "./amounts.ts";

/**
 * Closing an epoch makes its settlement final. Until then a statement is provisional: every run
 * of the reward split re-splits the current model's inferences, so a curator's `keep` (a new
 * validator), a forced rerun on another engine (scores that differ in the last bits, so amounts
 * that differ by a base unit) or a retrain's late inference changes what was already shown as
 * paid. Once closed, no run changes the epoch's reward lines, statement or penalties, no new
 * inference is recorded in it, and the closure keeps the Merkle root of its lines, so a reviewer
 * can check they are the ones it was closed with.
 */
export interface Closure {
  pipeline: string;
  epoch: string;
  closed_at: string;
  closed_by: string;
  inferences: number;
  /** Integer base units. */
  fees: bigint;
  lines: number;
  lines_root: string;
}

/** The leaf of one reward line in a closure's root (its policy included: one closure covers every policy's lines). */
export function closureLeaf(l: { policy: string; inference_id: string; receipt_hash: string; recipient: string; role: string; amount: bigint | string; reason: string }): string {
  return sha256(canonicalJson([l.policy, l.inference_id, l.receipt_hash, l.recipient, l.role, l.amount.toString(), l.reason]));
}

/** A reward line as a closure hashes it (amount in integer base units). */
export interface EpochLine { policy: string; inference_id: string; receipt_hash: string; recipient: string; role: string; amount: string; reason: string }

/** The reward lines of a pipeline's epoch as they are now, each recipient's together, largest first. */
export async function epochLineRows(ws: Workspace, pipeline: string, epoch: string): Promise<EpochLine[]> {
  // An inference's id and receipt on each of its lines, a recipient's name on each of its: read through repeatedRows.
  return repeatedRows<EpochLine>(ws,
    `select policy, inference_id, receipt_hash, recipient, role, amount::varchar as amount, reason from rewards where pipeline = ? and epoch = ?
     order by recipient, rewards.amount desc, inference_id, role, policy`, [pipeline, epoch], ["policy", "inference_id", "receipt_hash", "recipient", "role", "reason"]);
}

/** The reward lines of a pipeline's epoch as they are now: their count and Merkle root. */
export async function epochLines(ws: Workspace, pipeline: string, epoch: string): Promise<{ lines: number; root: string }> {
  const rows = await epochLineRows(ws, pipeline, epoch);
  return { lines: rows.length, root: merkleRoot(rows.map(closureLeaf)) };
}

/** A closed epoch's lines as they are now, and whether they are still the ones it was closed with. */
export async function closureHolds(ws: Workspace, c: Closure): Promise<{ lines: number; root: string; holds: boolean }> {
  const now = await epochLines(ws, c.pipeline, c.epoch);
  return { ...now, holds: now.root === c.lines_root && now.lines === c.lines };
}

/** The closed epochs of a pipeline, by epoch. */
export async function closedEpochs(ws: Workspace, pipeline: string): Promise<Map<string, Closure>> {
  const rows = await ws.rows<Omit<Closure, "fees" | "inferences" | "lines"> & { fees: string; inferences: number | bigint; lines: number | bigint }>(
    `select pipeline, epoch, strftime(closed_at, '%Y-%m-%dT%H:%M:%S.%gZ') as closed_at, closed_by, inferences, fees::varchar as fees, lines, lines_root
     from epoch_closures where pipeline = ? order by epoch`, [pipeline]);
  return new Map(rows.map((r) => [r.epoch, { ...r, inferences: Number(r.inferences), lines: Number(r.lines), fees: BigInt(r.fees) }]));
}

/**
 * Close a pipeline's epoch: every inference recorded in it must be settled and every policy's
 * statement must pay out its fees exactly; then the closure is recorded with the root of the
 * lines, in one transaction. Closing twice is refused: a closed epoch stays closed.
 */
export async function closeEpoch(ws: Workspace, pipeline: string, epoch: string, o: { by: string; at: string }): Promise<Closure> {
  return ws.transaction(async () => {
    const done = (await closedEpochs(ws, pipeline)).get(epoch);
    if (done) throw new InputError(`epoch ${epoch} of pipeline ${pipeline} was closed at ${done.closed_at} by ${done.closed_by}: a closed epoch stays closed`);
    const [t] = await ws.rows<{ n: bigint; fees: string | null; unsettled: bigint; first: string | null }>(
      `select count(*) as n, sum(fee)::varchar as fees, count(*) filter (where id not in (select inference_id from rewards where pipeline = ?)) as unsettled,
              min(id) filter (where id not in (select inference_id from rewards where pipeline = ?)) as first
       from inferences where pipeline = ? and epoch = ?`, [pipeline, pipeline, pipeline, epoch]);
    if (!t || t.n === 0n) throw new InputError(`no inference of pipeline ${pipeline} is recorded in epoch ${epoch}: nothing to close`);
    if (t.unsettled > 0n) {
      const which = t.n === 1n ? `the inference of epoch ${epoch} is` : `${t.unsettled} of the ${t.n} inferences of epoch ${epoch} ${t.unsettled === 1n ? "is" : "are"}`;
      throw new InputError(`${which} not settled yet (${t.first}${t.unsettled > 1n ? ", …" : ""}): ` +
        `run \`tracebook run ${pipeline}\` first, so the closed statement pays every one`);
    }
    const fees = BigInt(t.fees ?? "0");
    const policies = await ws.rows<{ policy: string; paid: string }>(
      "select policy, sum(amount)::varchar as paid from settlements where pipeline = ? and epoch = ? group by policy order by policy", [pipeline, epoch]);
    if (!policies.length) throw new InputError(`epoch ${epoch} of pipeline ${pipeline} has no settlement statement: run \`tracebook run ${pipeline}\` first`);
    const off = policies.filter((p) => BigInt(p.paid) !== fees);
    if (off.length) {
      throw new InputError(`the statement of epoch ${epoch} under ${off.map((p) => `${p.policy} pays out ${formatAmount(BigInt(p.paid))}`).join(", ")}, ` +
        `not the ${formatAmount(fees)} its inferences paid: run \`tracebook run ${pipeline}\` first`);
    }
    const { lines, root } = await epochLines(ws, pipeline, epoch);
    await ws.run("insert into epoch_closures values (?, ?, ?::timestamp, ?, ?, ?::hugeint, ?, ?)", [pipeline, epoch, o.at, o.by, Number(t.n), fees.toString(), lines, root]);
    return { pipeline, epoch, closed_at: o.at, closed_by: o.by, inferences: Number(t.n), fees, lines, lines_root: root };
  });
}

/**
 * A check for new inferences, one at a time: refused in an epoch its pipeline closed (a closed
 * statement pays exactly what it paid). Reads each pipeline's closures once.
 */
export function epochsOpen(ws: Workspace): (r: { pipeline: string | null; epoch: string; id: string }) => Promise<void> {
  const cache = new Map<string, Map<string, Closure>>();
  return async (r) => {
    if (r.pipeline === null) return;
    let closed = cache.get(r.pipeline);
    if (!closed) cache.set(r.pipeline, (closed = await closedEpochs(ws, r.pipeline)));
    const c = closed.get(r.epoch);
    if (c) {
      throw new InputError(`epoch ${r.epoch} of pipeline ${r.pipeline} was closed at ${c.closed_at} by ${c.closed_by}: ` +
        `inference ${r.id} cannot be recorded in it (record it in an open epoch: --epoch)`);
    }
  };
}
