/**
 * The first `limit` items of a list a page offers as options, and `keep` too wherever it falls
 * (the item picked or linked): a select of every match draws one element each, 21,201 of them in
 * seconds, and nobody scrolls them; a search narrows the list instead.
 */
export function shortList<T>(items: readonly T[], limit: number, keep?: T | null): T[] {
  if (items.length <= limit) return [...items];
  const head = items.slice(0, limit);
  if (keep != null && !head.includes(keep) && items.includes(keep)) head.push(keep);
  return head;
}
