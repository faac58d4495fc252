/**
 * Rank statistics for judging attribution: Spearman correlation (ties get their average rank,
 * as in scipy.stats.spearmanr), ROC AUC (the Mann–Whitney statistic, ties counted half) and
 * recall in the top k.
 */

/** Average ranks, 1-based: equal values share the mean of the ranks they span. */
export function ranks(xs: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: xs.length }, (_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1]!] === xs[idx[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[idx[k]!] = r;
    i = j + 1;
  }
  return out;
}

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`pearson: ${a.length} values against ${b.length}`);
  const n = a.length;
  if (n < 2) return NaN;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa === 0 || sbb === 0 ? NaN : sab / Math.sqrt(saa * sbb);
}

/** Spearman's ρ: Pearson correlation of the average ranks. NaN when either side is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(ranks(a), ranks(b));
}

/** ROC AUC of `scores` for the positives: P(score of a positive > score of a negative), ties ½. */
export function auc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const r = ranks(scores);
  let sum = 0, p = 0;
  for (let i = 0; i < scores.length; i++) if (positive[i]) { sum += r[i]!; p++; }
  const n = scores.length - p;
  if (p === 0 || n === 0) return NaN;
  return (sum - (p * (p + 1)) / 2) / (p * n);
}

/** Share of the positives among the `k` highest scores (ties broken by lower index). */
export function recallAtK(scores: ArrayLike<number>, positive: ArrayLike<boolean>, k: number): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const total = Array.from(positive as ArrayLike<boolean>).filter(Boolean).length;
  if (total === 0) return NaN;
  return idx.slice(0, k).filter((i) => positive[i]).length / total;
}
