/**
 * The edit distance people's typos have: insertions, deletions, substitutions, and two adjacent
 * letters swapped counting once ("mial" for "mail"), the optimal string alignment variant of
 * Damerau–Levenshtein (no substring is edited twice). Plain Levenshtein, which the library we
 * used computes, counts a swap twice, so a limit loose enough to catch swaps also offered
 * "notes" for "nope"; none of the well-kept distance packages counts swaps.
 */
export function typoDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (!a.length || !b.length) return a.length + b.length;
  const m = b.length;
  // Three rows: the one before last (for swaps), the last, and this one.
  let before = new Array<number>(m + 1).fill(0);
  let last = Array.from({ length: m + 1 }, (_, j) => j);
  let row = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(last[j]! + 1, row[j - 1]! + 1, last[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row[j] = d;
    }
    [before, last, row] = [last, row, before];
  }
  return last[m]!;
}

/**
 * The name among `names` that a mistyped `name` most likely meant, or undefined when none is
 * close: up to a third of the name may be off (at least one edit), never all of it; else the only
 * name it begins, up to a separator. Case is ignored, as people type it; of two equally near,
 * the first listed.
 */
export function nearest(name: string, names: readonly string[]): string | undefined {
  const typed = name.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const candidate of names) {
    if (candidate === name) continue;
    const distance = typoDistance(typed, candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  if (!name || !best) return undefined;
  const limit = Math.min(Math.max(1, Math.floor(best.name.length / 3)), best.name.length - 1);
  if (best.distance <= limit) return best.name;
  // A name typed short: the one name that goes on from it after a separator ("mail" for the
  // Datanet "mail-spam"), too long a way off to be a typo. Two such names: no guess.
  const longer = names.filter((c) => c.toLowerCase().startsWith(typed) && /^[-_.:/]/.test(c.slice(typed.length)));
  return longer.length === 1 ? longer[0] : undefined;
}

/** `did you mean "x"? ` for the nearest name, else nothing: to open the parenthesis of an error that lists the names. */
export function didYouMean(name: string, names: readonly string[]): string {
  const near = nearest(name, names);
  return near === undefined ? "" : `did you mean "${near}"? `;
}
