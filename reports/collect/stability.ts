import { DUPLICATE_CONTENT } from "../../cells/attribution/duplicate.ts";
import { round6 } from "./amount.ts";
import { penaltyKey } from "../../cells/rewards/penalties.ts";

/** Which penalty scope an inference falls in: its epoch and the model that executed it. */
export type ScopeOf = ReadonlyMap<string, { epoch: string; model_id: string }>;

export interface PenaltyStability {
  epoch: string;
  /** The model whose inferences in the epoch the penalties were decided over. Absent from facts written before penalties were per model. */
  model_id?: string;
  /** Settled inferences of the model in the epoch. */
  inferences: number;
  /** How many inferences were left out: the 1% (rounded up) with the most influence mass. */
  left_out: number;
  /** Their share of the epoch's influence mass (Σ |contributor score|). */
  left_out_share: number;
  penalised: number;
  /** Penalised now, not without those inferences. */
  lifted: string[];
  /** Not penalised now, penalised without them. */
  added: string[];
}

/**
 * How far the "net influence over the epoch is negative" penalty rests on a few inferences. A
 * TracIn score grows with the query's loss gradient, so the least confident predictions carry
 * most of the influence mass, and the sign of a contributor's epoch sum can hang on them. Per
 * epoch: leave out the 1% of inferences with the most mass (Σ over contributors of |score|),
 * recompute every net, and list the penalties that would go and come. Sums run in a fixed
 * order (query, then key), so the same rows give the same figures. Per penalty scope: an epoch and
 * the model whose inferences in it the penalties are decided over (cells/rewards/penalties.ts).
 */
export function penaltyStability(rows: readonly { query: string; key: string; score: number }[], scopeOf: ScopeOf): PenaltyStability[] {
  return rowsByScope(rows, scopeOf).map(([{ epoch, model_id }, list]) => {
    const queries = new Map<string, { key: string; score: number }[]>();
    for (const r of list) {
      const q = queries.get(r.query);
      if (q) q.push(r);
      else queries.set(r.query, [r]);
    }
    const ids = [...queries.keys()]; // in query order already
    const mass = new Map(ids.map((q) => [q, queries.get(q)!.reduce((s, r) => s + Math.abs(r.score), 0)]));
    const n = Math.ceil(ids.length / 100);
    const top = new Set([...ids].sort((a, b) => mass.get(b)! - mass.get(a)! || (a < b ? -1 : 1)).slice(0, n));
    /** The contributors whose net over the kept inferences is negative. */
    const penalised = (keep: (q: string) => boolean) => {
      const sums = new Map<string, number>();
      for (const q of ids) if (keep(q)) for (const r of queries.get(q)!) sums.set(r.key, (sums.get(r.key) ?? 0) + r.score);
      return new Set([...sums].filter(([, v]) => v < 0).map(([k]) => k));
    };
    const now = penalised(() => true), without = penalised((q) => !top.has(q));
    const total = [...mass.values()].reduce((s, v) => s + v, 0);
    const topMass = [...top].reduce((s, q) => s + mass.get(q)!, 0);
    return {
      epoch, model_id, inferences: ids.length, left_out: n, left_out_share: round6(total > 0 ? topMass / total : 0), penalised: now.size,
      lifted: [...now].filter((c) => !without.has(c)).sort(), added: [...without].filter((c) => !now.has(c)).sort(),
    };
  });
}

export interface PenaltySides {
  epoch: string;
  /** As in PenaltyStability. */
  model_id?: string;
  /**
   * The epoch's settled inferences by predicted output, most frequent first, with the share of the
   * epoch's influence mass (Σ |contributor score|) their inferences carry.
   */
  predictions: { prediction: string; inferences: number; mass_share: number }[];
  /**
   * Contributors by the one output they help: their net over the inferences predicted so is
   * positive and over every other output's negative. `helps: null` gathers the rest.
   */
  sides: { helps: string | null; contributors: number; penalised: number }[];
}

/**
 * Which side of the outputs the epoch's penalties fall on. On a classifier a contribution tends
 * to help the predictions of its own label and oppose the others, so a contributor's epoch net is
 * its support on one side minus its opposition on the rest, and its sign follows where the
 * influence mass sits (how often each output was asked for, how confident the model was) rather
 * than whether the data hurt. On the mail corpus every spam-side contributor is penalised while
 * ham predictions carry 80% of the mass, and after one retrain, with spam predictions carrying
 * 87%, every ham-side one. Per epoch with two or more predicted outputs: the inferences and mass
 * share per output, and per output the contributors who help only it and how many of them were
 * penalised. Sums run in a fixed order (query, then key), as penaltyStability's do; per penalty
 * scope (epoch and model), as penaltyStability's are.
 */
export function penaltySides(
  rows: readonly { query: string; key: string; score: number; prediction: string | null }[],
  scopeOf: ScopeOf,
  /** The penalties recorded (reputation); model_id '' (recorded before penalties were per model): the whole epoch. */
  penalties: readonly { epoch: string; model_id: string; contributor: string }[],
): PenaltySides[] {
  const out: PenaltySides[] = [];
  for (const [{ epoch, model_id }, all] of rowsByScope(rows, scopeOf)) {
    if (all.some((r) => r.prediction === null)) continue; // no predicted output to take sides on
    const list = all as { query: string; key: string; score: number; prediction: string }[];
    const outputOf = new Map(list.map((r) => [r.query, r.prediction]));
    const counts = new Map<string, number>();
    for (const p of outputOf.values()) counts.set(p, (counts.get(p) ?? 0) + 1);
    if (counts.size < 2) continue;
    const mass = new Map<string, number>();
    for (const r of list) mass.set(r.prediction, (mass.get(r.prediction) ?? 0) + Math.abs(r.score));
    const totalMass = [...mass.values()].reduce((t, v) => t + v, 0);
    const nets = new Map<string, Map<string, number>>(); // contributor → output → net
    for (const r of list) {
      const m = nets.get(r.key) ?? new Map<string, number>();
      nets.set(r.key, m);
      m.set(r.prediction, (m.get(r.prediction) ?? 0) + r.score);
    }
    const recorded = new Set(penalties.filter((p) => p.epoch === epoch && (p.model_id === model_id || p.model_id === "")).map((p) => p.contributor));
    const sides = new Map<string | null, { contributors: number; penalised: number }>();
    for (const [key, m] of nets) {
      const positive = [...m].filter(([, v]) => v > 0);
      const helps = positive.length === 1 && [...m].every(([p, v]) => p === positive[0]![0] || v < 0) ? positive[0]![0] : null;
      const s = sides.get(helps) ?? { contributors: 0, penalised: 0 };
      sides.set(helps, s);
      s.contributors++;
      if (recorded.has(key)) s.penalised++;
    }
    const byCount = (a: string, b: string) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0);
    out.push({
      epoch, model_id,
      predictions: [...counts.keys()].sort(byCount).map((prediction) => ({
        prediction, inferences: counts.get(prediction)!, mass_share: round6(totalMass > 0 ? mass.get(prediction)! / totalMass : 0),
      })),
      // Outputs in the order of the predictions; the mixed group last.
      sides: [...sides].sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : byCount(a, b))).map(([helps, s]) => ({ helps, ...s })),
    });
  }
  return out;
}

/**
 * Whether an epoch's sides show the mass effect: every penalised contributor helps one output,
 * and each such output's predictions carry less of the influence mass than every output whose
 * helpers kept their pay. The outputs hit (lightest first), or null when the facts do not show it.
 */
export function massBoundPenalties(e: PenaltySides): PenaltySides["predictions"] | null {
  const of = new Map(e.predictions.map((p) => [p.prediction, p]));
  const hit = e.sides.filter((x) => x.helps !== null && x.penalised > 0).map((x) => of.get(x.helps!)!);
  const spared = e.sides.filter((x) => x.helps !== null && x.penalised === 0).map((x) => of.get(x.helps!)!);
  const mixedHit = e.sides.some((x) => x.helps === null && x.penalised > 0);
  if (mixedHit || !hit.length || !spared.length) return null;
  if (!hit.every((h) => spared.every((s) => h.mass_share < s.mass_share))) return null;
  return hit.sort((a, b) => a.mass_share - b.mass_share);
}

/**
 * Each scope's rows (by epoch, then model), sorted by query then key: the fixed order every sum
 * here runs in. Rows of inferences outside the scopes, and of the duplicate-content group
 * (nobody's: never paid, never penalised), are left out.
 */
function rowsByScope<R extends { query: string; key: string }>(rows: readonly R[], scopeOf: ScopeOf): [{ epoch: string; model_id: string }, R[]][] {
  const byScope = new Map<string, { scope: { epoch: string; model_id: string }; list: R[] }>();
  for (const r of rows) {
    const scope = scopeOf.get(r.query);
    if (scope === undefined || r.key === DUPLICATE_CONTENT) continue;
    const k = penaltyKey(scope.epoch, scope.model_id);
    const s = byScope.get(k);
    if (s) s.list.push(r);
    else byScope.set(k, { scope: { epoch: scope.epoch, model_id: scope.model_id }, list: [r] });
  }
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byScope].sort(([a], [b]) => order(a, b)).map(([, { scope, list }]) => [scope, list.sort((a, b) => order(a.query, b.query) || order(a.key, b.key))]);
}
