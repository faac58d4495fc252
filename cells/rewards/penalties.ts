import type { Workspace } from "../store/workspace.ts";
import { DUPLICATE_CONTENT } from "../attribution/duplicate.ts";

/**
 * Penalties: a contributor whose net influence over an epoch's inferences by one model is
 * negative earns nothing from them, and gets a `reputation` record. The scope is the epoch and
 * the model because the sign of that net follows the model: where its influence mass sits (which
 * outputs it was asked for, how confident it was) and which rows trained it. Within an epoch a
 * curator's decision retrains the model and the lines settled for the earlier model's inferences
 * stay as they were paid; a net over both models would record as penalised a contributor those
 * lines paid.
 *
 * A scope is decided again on every run while its model is current (all its inferences are in
 * the usage table, and their lines are replaced). Once the model is retrained its lines stay, and
 * an inference of it settled later (executed before the retrain, settled after) is split under
 * the penalties already decided for its scope: lines and records never disagree.
 */

export interface PenaltyScope {
  epoch: string;
  model: string;
  /** Contributors who earn nothing from the scope's inferences. */
  excluded: Set<string>;
  /** Every contributor's net over this run's inferences of the scope (empty when `decided`). */
  net: Map<string, number>;
  /** How many of this run's inferences the scope holds. */
  inferences: number;
  /** Decided by an earlier run, when the model's first lines in the epoch were settled: kept as it is. */
  decided: boolean;
}

export type Penalties = Map<string, PenaltyScope>;

/** The key of one scope: an epoch and the model whose inferences in it are judged together. */
export function penaltyKey(epoch: string, model: string): string {
  return `${epoch}\u0000${model}`;
}

/**
 * The penalty scopes of this run's inferences. `settledBefore` holds the scopes with lines an
 * earlier run settled for inferences not in this run (a retrained model's); those an earlier run
 * recorded as decided keep their penalties.
 */
export async function judgePenalties(
  ws: Workspace, pipeline: string,
  usage: readonly { id: string; epoch: string; model_id: string }[],
  scoresOf: (inference: string) => readonly { key: string; score: number }[],
  settledBefore: ReadonlySet<string>,
): Promise<Penalties> {
  const out: Penalties = new Map();
  for (const u of usage) {
    const k = penaltyKey(u.epoch, u.model_id);
    const scope = out.get(k) ?? { epoch: u.epoch, model: u.model_id, excluded: new Set<string>(), net: new Map<string, number>(), inferences: 0, decided: false };
    out.set(k, scope);
    scope.inferences++;
    for (const r of scoresOf(u.id)) if (r.key !== DUPLICATE_CONTENT) scope.net.set(r.key, (scope.net.get(r.key) ?? 0) + r.score);
  }
  const frozen = [...out.values()].filter((s) => settledBefore.has(penaltyKey(s.epoch, s.model)));
  const decided = frozen.length ? await decidedScopes(ws, pipeline, frozen) : new Map<string, Set<string>>();
  for (const [k, s] of out) {
    const kept = decided.get(k);
    if (kept) Object.assign(s, { excluded: kept, net: new Map(), decided: true });
    else s.excluded = new Set([...s.net].filter(([, v]) => v < 0).map(([c]) => c));
  }
  return out;
}

/** Of these scopes, those a run recorded as decided, with the contributors it penalised. */
async function decidedScopes(ws: Workspace, pipeline: string, scopes: readonly PenaltyScope[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const s of scopes) {
    const [row] = await ws.rows("select 1 from penalty_scopes where pipeline = ? and epoch = ? and model_id = ?", [pipeline, s.epoch, s.model]);
    if (!row) continue; // settled before scopes were recorded: judged now, over this run's inferences
    const penalised = await ws.rows<{ contributor: string }>("select contributor from reputation where pipeline = ? and epoch = ? and model_id = ?", [pipeline, s.epoch, s.model]);
    out.set(penaltyKey(s.epoch, s.model), new Set(penalised.map((r) => r.contributor)));
  }
  return out;
}

/**
 * Write the scopes this run decided and their records, replacing what an earlier run decided for
 * them; inside the caller's transaction. A scope decided earlier is left as it is. Records
 * written before penalties were per model (model '') for these epochs judged several models'
 * inferences as one: this run judges them again.
 */
export async function persistPenalties(ws: Workspace, pipeline: string, penalties: Penalties, epochs: readonly string[], at: string): Promise<void> {
  for (const epoch of epochs) await ws.run("delete from reputation where pipeline = ? and epoch = ? and model_id = ''", [pipeline, epoch]);
  for (const s of penalties.values()) {
    if (s.decided) continue;
    await ws.run("delete from reputation where pipeline = ? and epoch = ? and model_id = ?", [pipeline, s.epoch, s.model]);
    await ws.run("delete from penalty_scopes where pipeline = ? and epoch = ? and model_id = ?", [pipeline, s.epoch, s.model]);
    await ws.run("insert into penalty_scopes values (?, ?, ?, ?, ?, ?::timestamp)", [pipeline, s.epoch, s.model, s.inferences, s.excluded.size, at]);
    for (const c of [...s.excluded].sort()) {
      const v = s.net.get(c)!;
      const n = s.inferences;
      await ws.run("insert into reputation (pipeline, epoch, model_id, contributor, net_influence, record, recorded_at) values (?, ?, ?, ?, ?, ?, ?::timestamp)",
        [pipeline, s.epoch, s.model, c, v, `net influence ${v.toExponential(3)} over the ${n} inference${n === 1 ? "" : "s"} of model ${s.model.slice(0, 16)} in epoch ${s.epoch} is negative: earns nothing from them`, at]);
    }
  }
}

export interface RecordedScope {
  epoch: string;
  /** '' for records from before penalties were per model. */
  model_id: string;
  /** How many inferences the penalties were decided over; null for records from before. */
  inferences: number | null;
  penalised: { contributor: string; record: string }[];
}

/** The penalties a pipeline recorded, per epoch and model (one epoch, or all): what a statement shows beside its lines. */
export async function recordedPenalties(ws: Workspace, pipeline: string, epoch?: string): Promise<RecordedScope[]> {
  const where = epoch === undefined ? "" : "and r.epoch = ?";
  const rows = await ws.rows<{ epoch: string; model_id: string; contributor: string; record: string; inferences: number | null }>(
    `select r.epoch, r.model_id, r.contributor, r.record, s.inferences from reputation r
     left join penalty_scopes s on s.pipeline = r.pipeline and s.epoch = r.epoch and s.model_id = r.model_id
     where r.pipeline = ? ${where} order by r.epoch, r.model_id, r.contributor`, epoch === undefined ? [pipeline] : [pipeline, epoch]);
  const out = new Map<string, RecordedScope>();
  for (const r of rows) {
    const k = penaltyKey(r.epoch, r.model_id);
    const s = out.get(k) ?? { epoch: r.epoch, model_id: r.model_id, inferences: r.inferences === null ? null : Number(r.inferences), penalised: [] };
    out.set(k, s);
    s.penalised.push({ contributor: r.contributor, record: r.record });
  }
  return [...out.values()];
}
