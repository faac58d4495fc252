import type { ContributionRef } from "../factory/store.ts";
import { didYouMean } from "../graph/nearest.ts";

/** Names listed when a removal names none of a model's: enough to see the pattern, not a page of them. */
const NAMES_SHOWN = 12;

/** What a counterfactual leaves out of the training rows: every row matching any of the lists. */
export interface Removal {
  contributors?: string[];
  datanets?: string[];
  /** Contribution ids (content hashes), in full or as unique prefixes of at least 8 hex characters. */
  ids?: string[];
}

/** The same removal whatever the order or repetition of its lists: one fingerprint for one question. */
export function canonicalRemoval(r: Removal): Required<Removal> {
  const norm = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string" || !s.trim())) throw new Error(`counterfactual: without.${field} must be a list of non-empty names`);
    return [...new Set((v as string[]).map((s) => (field === "ids" ? s.trim().toLowerCase() : s.trim())))].sort();
  };
  const out = { contributors: norm(r.contributors, "contributors"), datanets: norm(r.datanets, "datanets"), ids: norm(r.ids, "ids") };
  for (const id of out.ids) if (!/^[0-9a-f]{8,64}$/.test(id)) throw new Error(`counterfactual: without.ids: ${JSON.stringify(id)} is not a contribution id (64 hex characters, or a prefix of at least 8)`);
  if (!out.contributors.length && !out.datanets.length && !out.ids.length) throw new Error("counterfactual: say what to leave out (without: { contributors, datanets, ids })");
  return out;
}

/** One line that says what is left out, for logs and tables. */
export function describeRemoval(r: Required<Removal>): string {
  const part = (label: string, v: string[]) => (v.length ? [`${label} ${v.join(", ")}`] : []);
  return [...part(r.contributors.length > 1 ? "contributors" : "contributor", r.contributors), ...part(r.datanets.length > 1 ? "Datanets" : "Datanet", r.datanets),
    // A curator's selection can name hundreds of rows: a count and the first few, not a wall of ids.
    ...(r.ids.length > 5 ? [`${r.ids.length} contributions (${r.ids.slice(0, 3).map((i) => i.slice(0, 12)).join(", ")}, …)`]
      : part(r.ids.length > 1 ? "contributions" : "contribution", r.ids.map((i) => i.slice(0, 12))))].join("; ");
}

/** The asked ids (full, or prefixes) that match no training row: what a curator's selection held out. */
export function untrainedIds(refs: readonly ContributionRef[], ids: readonly string[]): string[] {
  return ids.filter((prefix) => !refs.some((ref) => ref.id.startsWith(prefix)));
}

/**
 * The training rows a removal leaves out, and those it keeps. A name or id that matches no
 * training row is an error naming it (a typo would otherwise answer "nothing changes"), and so is
 * an id prefix shared by two contributions, or a removal that would leave nothing to train on.
 */
export function splitRows(refs: readonly ContributionRef[], r: Required<Removal>): { removed: number[]; kept: number[] } {
  const contributors = new Set(r.contributors), datanets = new Set(r.datanets);
  const seen = new Set<string>();
  const idHits = new Map<string, Set<string>>(r.ids.map((p) => [p, new Set()]));
  const removed: number[] = [], kept: number[] = [];
  refs.forEach((ref, i) => {
    let out = false;
    if (contributors.has(ref.contributor)) { seen.add(`c:${ref.contributor}`); out = true; }
    if (datanets.has(ref.datanet)) { seen.add(`d:${ref.datanet}`); out = true; }
    for (const [prefix, hits] of idHits) if (ref.id.startsWith(prefix)) { hits.add(ref.id); out = true; }
    (out ? removed : kept).push(i);
  });
  const missingContributors = r.contributors.filter((c) => !seen.has(`c:${c}`)), missingDatanets = r.datanets.filter((d) => !seen.has(`d:${d}`));
  const missing = [...missingContributors.map((c) => `contributor ${JSON.stringify(c)}`),
    ...missingDatanets.map((d) => `Datanet ${JSON.stringify(d)}`),
    ...r.ids.filter((p) => !idHits.get(p)!.size).map((p) => `contribution ${p}`)];
  if (missing.length) {
    // A mistyped name is the usual cause: say the nearest, and the names there are to choose from.
    const known = (missed: string[], names: string[], what: string) => {
      if (!missed.length) return [];
      const near = missed.length === 1 ? didYouMean(missed[0]!, names) : "";
      const shown = names.slice(0, NAMES_SHOWN).join(", ") + (names.length > NAMES_SHOWN ? `, … (${names.length} in all)` : "");
      return [`${near}${what}: ${shown}`];
    };
    const hints = [...known(missingContributors, [...new Set(refs.map((x) => x.contributor))].sort(), "its contributors"),
      ...known(missingDatanets, [...new Set(refs.map((x) => x.datanet))].sort(), "its Datanets")];
    throw new Error(`counterfactual: ${missing.join(", ")} contributed no training row of this model${hints.length ? ` (${hints.join("; ")})` : ""}`);
  }
  const ambiguous = r.ids.filter((p) => idHits.get(p)!.size > 1);
  if (ambiguous.length) throw new Error(`counterfactual: id prefix ${ambiguous.join(", ")} matches several contributions: give more characters`);
  if (!kept.length) throw new Error(`counterfactual: leaving out ${describeRemoval(r)} leaves no training row`);
  return { removed, kept };
}
