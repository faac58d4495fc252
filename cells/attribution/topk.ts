/**
 * Per query, the k largest (proponents) and k smallest (opponents) scores seen so far, in
 * memory proportional to k, whatever the number of training rows streamed through it.
 * Ties are broken by the lower training index, so results do not depend on shard order.
 */
export class TopK {
  private readonly best: { score: number; index: number }[] = [];
  private readonly worst: { score: number; index: number }[] = [];

  constructor(private readonly k: number) {}

  offer(score: number, index: number): void {
    if (score > 0) insert(this.best, this.k, score, index, (a, b) => a > b);
    else if (score < 0) insert(this.worst, this.k, score, index, (a, b) => a < b);
  }

  proponents(): readonly { score: number; index: number }[] {
    return this.best;
  }

  opponents(): readonly { score: number; index: number }[] {
    return this.worst;
  }
}

/** Keep `list` sorted by `before` (then index), at most k long. */
function insert(list: { score: number; index: number }[], k: number, score: number, index: number, before: (a: number, b: number) => boolean): void {
  if (k === 0) return;
  if (list.length === k) {
    const last = list[k - 1]!;
    if (!(before(score, last.score) || (score === last.score && index < last.index))) return;
    list.pop();
  }
  let i = list.length;
  while (i > 0) {
    const prev = list[i - 1]!;
    if (before(score, prev.score) || (score === prev.score && index < prev.index)) i--;
    else break;
  }
  list.splice(i, 0, { score, index });
}
