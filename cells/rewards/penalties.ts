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

/** Per scope (penaltyKey), each contributor's net influence over the scope's inferences. */
export type ScopeNets = Map<string, Map<string, { net: number; negative: boolean }>>;

/**
 * Each contributor's net over the contributor-level influence rows of the inferences in `split`
 * (a relation with id, epoch, model_id), per scope, summed in DuckDB so that JS never reads the
 * rows. The sum is exact: every score is taken as a DECIMAL(38, s), whose sums do not depend on
 * the order of the rows (a double sum does, and a net near zero could change sign with the
 * thread count), with s the most digits after the point that cannot overflow, from the largest
 * score and the row count. `negative` is the sign of that exact sum; `net` its double, for the
 * record.
 */
export async function scopeNets(ws: Workspace, split: string, influence: string): Promise<ScopeNets> {
  const rows = `(select i.key, i.score, s.epoch, s.model_id from ${influence} i join ${split} s on s.id = i.query
                 where i.level = 'contributor' and i.key <> ?)`;
  const [range] = await ws.rows<{ top: number | null; n: bigint }>(`select max(abs(score)) as top, count(*) as n from ${rows}`, [DUPLICATE_CONTENT]);
  const scale = exactScale(range?.top ?? 0, Number(range?.n ?? 0));
  const nets = await ws.rows<{ epoch: string; model_id: string; key: string; net: number; negative: boolean }>(
    `select epoch, model_id, key, total::double as net, total < 0 as negative
     from (select epoch, model_id, key, sum(score::decimal(38, ${scale})) as total from ${rows} group by all)`, [DUPLICATE_CONTENT]);
  const out: ScopeNets = new Map();
  for (const r of nets) {
    const k = penaltyKey(r.epoch, r.model_id);
    const scope = out.get(k) ?? new Map();
    out.set(k, scope);
    scope.set(r.key, { net: r.net, negative: r.negative });
  }
  return out;
}

/**
 * Digits after the point for an exact sum of `n` scores of at most `top` in size in a
 * DECIMAL(38, s): the sum's integer part needs d digits, with n·top < 10^d, and one more is
 * kept spare. Between 0 (enormous scores) and 36.
 */
export function exactScale(top: number, n: number): number {
  const bound = top * n;
  if (!Number.isFinite(bound)) throw new Error(`influence scores too large to sum (${top} × ${n} rows)`);
  const digits = bound < 1 ? 1 : Math.floor(Math.log10(bound)) + 1;
  const scale = 38 - digits - 1;
  if (scale < 0) throw new Error(`influence scores too large to sum exactly (${top} × ${n} rows)`);
  return Math.min(36, scale);
}

/**
 * The penalty scopes of this run's inferences, from the nets of scopeNets. `settledBefore` holds
 * the scopes with lines an earlier run settled for inferences not in this run (a retrained
 * model's); those an earlier run recorded as decided keep their penalties.
 */
export function judgePenalties(
  usage: readonly { id: string; epoch: string; model_id: string }[],
  nets: ScopeNets,
  settledBefore: ReadonlySet<string>,
  /** judgedScopes(ws, pipeline): what earlier runs decided per scope. */
  judged: Map<string, Set<string>>,
): Penalties {
  const out: Penalties = new Map();
  for (const u of usage) {
    const k = penaltyKey(u.epoch, u.model_id);
    const scope = out.get(k) ?? { epoch: u.epoch, model: u.model_id, excluded: new Set<string>(), net: new Map<string, number>(), inferences: 0, decided: false };
    out.set(k, scope);
    scope.inferences++;
  }
  // A scope with lines settled for inferences not in this run keeps what a run decided for it; one
  // settled before scopes were recorded is judged now, over this run's inferences.
  for (const [k, s] of out) {
    const kept = settledBefore.has(k) ? judged.get(k) : undefined;
    if (kept) {
      Object.assign(s, { excluded: kept, decided: true });
      continue;
    }
    const scope = nets.get(k) ?? new Map();
    s.net = new Map([...scope].map(([c, v]) => [c, v.net]));
    s.excluded = new Set([...scope].filter(([, v]) => v.negative).map(([c]) => c));
  }
  return out;
}

/**
 * Every scope of the pipeline a run judged (penalty_scopes), with the contributors it penalised:
 * what the lines of the scope's inferences were split under. One query, whatever the number of
 * scopes.
 */
export async function judgedScopes(ws: Workspace, pipeline: string): Promise<Map<string, Set<string>>> {
  const rows = await ws.rows<{ epoch: string; model_id: string; contributor: string | null }>(
    `select s.epoch, s.model_id, r.contributor from penalty_scopes s
     left join reputation r on r.pipeline = s.pipeline and r.epoch = s.epoch and r.model_id = s.model_id where s.pipeline = ?`, [pipeline]);
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = penaltyKey(r.epoch, r.model_id);
    const penalised = out.get(k) ?? new Set<string>();
    out.set(k, penalised);
    if (r.contributor !== null) penalised.add(r.contributor);
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
