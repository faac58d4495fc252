import type { LoadedExamples } from "../factory/examples.ts";
import { DUPLICATE_CONTENT } from "./duplicate.ts";

/** Who a training row's influence is credited to, as the groups TracIn keeps sums for. */
export interface Credit {
  /** Per training row: its contributor, or DUPLICATE_CONTENT for a later copy of content given before. */
  creditTo: string[];
  /** Sorted group names: contributors (DUPLICATE_CONTENT among them where there are copies), Datanets. */
  contributors: string[];
  datanets: string[];
  /** Per grouping (contributor, Datanet): the group index of each training row. */
  groups: [Int32Array, Int32Array];
  groupSizes: [number, number];
}

/** Earlier submission first; then Datanet name, then row order, so the owner is deterministic. */
function submittedBefore(a: { datanet: string }, b: { datanet: string }, at: (number | null)[], ia: number, ib: number): boolean {
  const ta = at[ia] ?? Infinity, tb = at[ib] ?? Infinity;
  return ta !== tb ? ta < tb : a.datanet !== b.datanet ? a.datanet < b.datanet : ia < ib;
}

/**
 * The same content (same id: the content hash) in two Datanets credits only its first
 * submission; the later copies' influence goes to a group that is nobody's, so duplicating
 * content never earns more.
 */
export function creditOf(trainSet: Pick<LoadedExamples, "refs" | "submittedAt">): Credit {
  const owner = new Map<string, number>();
  trainSet.refs.forEach((r, i) => {
    const prev = owner.get(r.id);
    if (prev === undefined || submittedBefore(trainSet.refs[i]!, trainSet.refs[prev]!, trainSet.submittedAt, i, prev)) owner.set(r.id, i);
  });
  const creditTo = trainSet.refs.map((r, i) => (owner.get(r.id) === i ? r.contributor : DUPLICATE_CONTENT));
  const contributors = [...new Set(creditTo)].sort();
  const datanets = [...new Set(trainSet.refs.map((r) => r.datanet))].sort();
  const ci = new Map(contributors.map((c, i) => [c, i])), di = new Map(datanets.map((d, i) => [d, i]));
  return {
    creditTo, contributors, datanets, groupSizes: [contributors.length, datanets.length],
    groups: [Int32Array.from(creditTo, (c) => ci.get(c)!), Int32Array.from(trainSet.refs, (r) => di.get(r.datanet)!)],
  };
}

/** One grouping's net scores for one query, highest first (then by name), with each group's share of the positive total. */
export function rankGroups(names: readonly string[], sums: Float64Array, query: number): { name: string; score: number; share: number | null }[] {
  const scores = names.map((_, g) => sums[query * names.length + g]!);
  const positive = scores.reduce((s, v) => s + Math.max(v, 0), 0);
  return names.map((_, g) => g).sort((a, b) => scores[b]! - scores[a]! || names[a]!.localeCompare(names[b]!))
    .map((g) => ({ name: names[g]!, score: scores[g]!, share: positive > 0 ? Math.max(scores[g]!, 0) / positive : null }));
}
