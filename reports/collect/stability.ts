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
  return rowsByScope(rows, scopeOf).map(({ scope: { epoch, model_id }, queries, keys, query, key, score }) => {
    const mass = new Float64Array(queries.length);
    for (let i = 0; i < query.length; i++) mass[query[i]!]! += Math.abs(score[i]!);
    const n = Math.ceil(queries.length / 100);
    // Queries are ranked in string order, so the tie-break on the id is one on the rank.
    const top = Array.from(queries.keys()).sort((a, b) => mass[b]! - mass[a]! || a - b).slice(0, n);
    const left = new Uint8Array(queries.length);
    for (const q of top) left[q] = 1;
    /** The contributors whose net over the kept inferences is negative. */
    const penalised = (keepAll: boolean) => {
      const sums = new Float64Array(keys.length), seen = new Uint8Array(keys.length);
      for (let i = 0; i < query.length; i++) {
        if (!keepAll && left[query[i]!]) continue;
        sums[key[i]!]! += score[i]!;
        seen[key[i]!] = 1;
      }
      return new Set(keys.filter((_, k) => seen[k] && sums[k]! < 0));
    };
    const now = penalised(true), without = penalised(false);
    const total = mass.reduce((s, v) => s + v, 0);
    const topMass = top.reduce((s, q) => s + mass[q]!, 0);
    return {
      epoch, model_id, inferences: queries.length, left_out: n, left_out_share: round6(total > 0 ? topMass / total : 0), penalised: now.size,
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
  for (const { scope: { epoch, model_id }, queries, keys, query, key, score, rows: list } of rowsByScope(rows, scopeOf)) {
    if (list.some((r) => r.prediction === null)) continue; // no predicted output to take sides on
    // Outputs numbered as they first come in the rows (the order their masses are summed in).
    const outputs: string[] = [];
    const numbered = new Map<string, number>();
    const output = new Int32Array(list.length);
    list.forEach((r, i) => {
      let o = numbered.get(r.prediction!);
      if (o === undefined) numbered.set(r.prediction!, (o = outputs.push(r.prediction!) - 1));
      output[i] = o;
    });
    // A query's output is that of its last row (they agree: a prediction is the query's).
    const outputOf = new Int32Array(queries.length);
    for (let i = 0; i < query.length; i++) outputOf[query[i]!] = output[i]!;
    const counts = new Int32Array(outputs.length);
    for (const o of outputOf) counts[o]!++;
    const asked = outputs.filter((_, o) => counts[o]! > 0);
    if (asked.length < 2) continue;
    const mass = new Float64Array(outputs.length);
    for (let i = 0; i < query.length; i++) mass[output[i]!]! += Math.abs(score[i]!);
    const totalMass = mass.reduce((t, v) => t + v, 0);
    const P = outputs.length;
    const nets = new Float64Array(keys.length * P), seen = new Uint8Array(keys.length * P); // contributor × output
    for (let i = 0; i < query.length; i++) {
      nets[key[i]! * P + output[i]!]! += score[i]!;
      seen[key[i]! * P + output[i]!] = 1;
    }
    const recorded = new Set(penalties.filter((p) => p.epoch === epoch && (p.model_id === model_id || p.model_id === "")).map((p) => p.contributor));
    const sides = new Map<string | null, { contributors: number; penalised: number }>();
    keys.forEach((name, k) => {
      // The outputs this key has rows under (at least one: keys come from the rows).
      const own = outputs.map((_, o) => o).filter((o) => seen[k * P + o]);
      const positive = own.filter((o) => nets[k * P + o]! > 0);
      const helps = positive.length === 1 && own.every((o) => o === positive[0] || nets[k * P + o]! < 0) ? outputs[positive[0]!]! : null;
      const s = sides.get(helps) ?? { contributors: 0, penalised: 0 };
      sides.set(helps, s);
      s.contributors++;
      if (recorded.has(name)) s.penalised++;
    });
    const countOf = (p: string) => counts[numbered.get(p)!]!;
    const byCount = (a: string, b: string) => countOf(b) - countOf(a) || order(a, b);
    out.push({
      epoch, model_id,
      predictions: asked.sort(byCount).map((prediction) => ({
        prediction, inferences: countOf(prediction), mass_share: round6(totalMass > 0 ? mass[numbered.get(prediction)!]! / totalMass : 0),
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

/** One penalty scope's rows, in the fixed order every sum here runs in (query, then key), as ranks. */
interface ScopeRows<R> {
  scope: { epoch: string; model_id: string };
  /** Its distinct queries and keys, in string order: a row names them by rank. */
  queries: string[];
  keys: string[];
  /** Per row, in order: the query's rank, the key's, the score, the row. */
  query: Int32Array;
  key: Int32Array;
  score: Float64Array;
  rows: R[];
}

/**
 * Each scope's rows (by epoch, then model), sorted by query then key: the fixed order every sum
 * here runs in. Rows of inferences outside the scopes, and of the duplicate-content group
 * (nobody's: never paid, never penalised), are left out. Sums then run over ranks in typed
 * arrays: at 21,201 inferences (590,000 contributor rows) maps keyed by strings took 0.7-1.2 s
 * for each of the two analyses.
 */
function rowsByScope<R extends { query: string; key: string; score: number }>(rows: readonly R[], scopeOf: ScopeOf): ScopeRows<R>[] {
  // The report runs both analyses over the same rows: they are ranked once.
  const kept = ranks.get(rows);
  if (kept?.scopeOf === scopeOf) return kept.scoped as ScopeRows<R>[];
  const scoped = scopeRows(rows, scopeOf);
  ranks.set(rows, { scopeOf, scoped });
  return scoped;
}

const ranks = new WeakMap<readonly object[], { scopeOf: ScopeOf; scoped: readonly unknown[] }>();

function scopeRows<R extends { query: string; key: string; score: number }>(rows: readonly R[], scopeOf: ScopeOf): ScopeRows<R>[] {
  const byScope = new Map<string, { scope: { epoch: string; model_id: string }; list: R[] }>();
  const listOf = new Map<string, R[] | null>(); // a query's scope, looked up once per query
  for (const r of rows) {
    if (r.key === DUPLICATE_CONTENT) continue;
    let list = listOf.get(r.query);
    if (list === undefined) {
      const scope = scopeOf.get(r.query);
      list = null;
      if (scope !== undefined) {
        const k = penaltyKey(scope.epoch, scope.model_id);
        const s = byScope.get(k) ?? { scope: { epoch: scope.epoch, model_id: scope.model_id }, list: [] };
        byScope.set(k, s);
        list = s.list;
      }
      listOf.set(r.query, list);
    }
    list?.push(r);
  }
  return [...byScope].sort(([a], [b]) => order(a, b)).map(([, { scope, list }]) => ranked(scope, list));
}

const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The rows in the order `order(a.query, b.query) || order(a.key, b.key)` gives them, ties as they
 * came: the distinct queries and keys ranked once, the rows placed by query rank (a counting
 * sort), each query's few rows then sorted by key rank (insertion sort, stable).
 */
function ranked<R extends { query: string; key: string; score: number }>(scope: ScopeRows<R>["scope"], list: R[]): ScopeRows<R> {
  const n = list.length;
  const queryOf = new Map<string, number>(), keyOf = new Map<string, number>();
  for (const r of list) {
    queryOf.set(r.query, 0);
    keyOf.set(r.key, 0);
  }
  const queries = [...queryOf.keys()].sort(order), keys = [...keyOf.keys()].sort(order);
  queries.forEach((v, i) => queryOf.set(v, i));
  keys.forEach((v, i) => keyOf.set(v, i));
  const q = new Int32Array(n), k = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    q[i] = queryOf.get(list[i]!.query)!;
    k[i] = keyOf.get(list[i]!.key)!;
  }
  const start = new Int32Array(queries.length + 1);
  for (let i = 0; i < n; i++) start[q[i]! + 1]!++;
  for (let j = 0; j < queries.length; j++) start[j + 1]! += start[j]!;
  const at = start.slice(0, -1), placed = new Int32Array(n);
  for (let i = 0; i < n; i++) placed[at[q[i]!]!++] = i;
  for (let j = 0; j < queries.length; j++) {
    for (let a = start[j]! + 1; a < start[j + 1]!; a++) {
      const row = placed[a]!;
      let b = a;
      for (; b > start[j]! && k[placed[b - 1]!]! > k[row]!; b--) placed[b] = placed[b - 1]!;
      placed[b] = row;
    }
  }
  const rows = new Array<R>(n), query = new Int32Array(n), key = new Int32Array(n), score = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    const i = placed[a]!;
    rows[a] = list[i]!;
    query[a] = q[i]!;
    key[a] = k[i]!;
    score[a] = list[i]!.score;
  }
  return { scope, queries, keys, rows, query, key, score };
}
