import { DUPLICATE_CONTENT } from "../../cells/attribution/cells.ts";
import { round6 } from "./amount.ts";

export interface PenaltyStability {
  epoch: string;
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
 * order (query, then key), so the same rows give the same figures.
 */
export function penaltyStability(rows: readonly { query: string; key: string; score: number }[], epochOf: ReadonlyMap<string, string>): PenaltyStability[] {
  const byEpoch = new Map<string, Map<string, { key: string; score: number }[]>>();
  for (const r of rows) {
    if (r.key === DUPLICATE_CONTENT) continue; // nobody's: never paid, never penalised
    const epoch = epochOf.get(r.query);
    if (epoch === undefined) continue;
    const queries = byEpoch.get(epoch) ?? new Map<string, { key: string; score: number }[]>();
    byEpoch.set(epoch, queries);
    const list = queries.get(r.query);
    if (list) list.push({ key: r.key, score: r.score });
    else queries.set(r.query, [{ key: r.key, score: r.score }]);
  }
  return [...byEpoch].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([epoch, queries]) => {
    const ids = [...queries.keys()].sort();
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
      epoch, inferences: ids.length, left_out: n, left_out_share: round6(total > 0 ? topMass / total : 0), penalised: now.size,
      lifted: [...now].filter((c) => !without.has(c)).sort(), added: [...without].filter((c) => !now.has(c)).sort(),
    };
  });
}
