import { contributionId } from "../../datanet/hash.ts";
import { bandKeys, jaccard, minhashSeeds, shingles, signature } from "../minhash.ts";
import { cosine, norm, simhashBands } from "../simhash.ts";
import type { ExactDuplicateRule, NearDuplicateRule } from "../ruleset.ts";
import { day, short, type Flag, type RuleContext, type RuleRow } from "../flags.ts";

/**
 * Duplicates. The contribution id is the content hash including the label, so the same content
 * under the same label is one contribution already (ingest keeps the extra copies in
 * `submissions`, credited to nobody). What is left to find:
 *  - exact: the same payload (whitespace aside) under another label — a conflict: one label is
 *    wrong — or under the same label with other spacing; and the same contribution earlier in
 *    another Datanet (this copy earns nothing);
 *  - near: payloads that differ by a few words or a little noise (MinHash / SimHash, verified).
 */

/**
 * sha256 of the payload alone, label aside, with runs of whitespace in text collapsed: a copy
 * re-typed with other spacing or line breaks is the same payload (its id, which hashes the exact
 * text, differs, so ingest could not catch it).
 */
const payloadHash = (r: RuleRow): string => contributionId({ title: squeeze(r.title), text: squeeze(r.text), features: r.features, label: "" });
const squeeze = (t: string | null) => (t === null ? null : t.replace(/\s+/gu, " ").trim());

export async function exactDuplicateRule(rule: ExactDuplicateRule, ctx: RuleContext): Promise<Flag[]> {
  const out: Flag[] = [];
  const groups = new Map<string, RuleRow[]>();
  for (const r of ctx.rows) {
    const h = payloadHash(r);
    const g = groups.get(h);
    if (g) g.push(r);
    else groups.set(h, [r]);
  }
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    const labels = new Set(g.map((r) => r.label));
    if (labels.size > 1) {
      // A conflict: every copy is flagged, each naming another — the curator must see all labels to pick the right one.
      for (const r of g) {
        const others = g.filter((o) => o !== r);
        const first = others[0]!;
        const theirs = [...new Set(others.map((o) => JSON.stringify(o.label)))].join(", ");
        out.push({
          contribution: r.id, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: "conflict", related: first.id, value: g.length,
          reason: `same payload as ${short(first.id)} (${first.contributor}${others.length > 1 ? ` and ${others.length - 1} more` : ""}) labelled ${theirs}, here ${JSON.stringify(r.label)}: at most one label is right; keep the right one, reject the others`,
        });
      }
      continue;
    }
    // Same label, other spacing: the first submitted is the original, the later ones copies.
    const first = g[0]!;
    for (const r of g.slice(1)) {
      out.push({
        contribution: r.id, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: "duplicate", related: first.id, value: g.length,
        reason: `same payload as ${short(first.id)} (${first.contributor}, ${day(first.submittedAt)}) up to spacing, same label: a copy adds no information and splits credit; reject it`,
      });
    }
  }
  if (!rule.acrossDatanets) return out;
  // The same contribution (same id) in another Datanet, submitted there first.
  const mine = new Map(ctx.rows.map((r) => [r.id, r]));
  const elsewhere = await ctx.ws.rows<{ id: string; datanet: string; contributor: string; submitted_at: Date }>(
    `select c.id, c.datanet, c.contributor, c.submitted_at from contributions c
     where c.datanet <> ? and c.status <> 'rejected' and c.id in (select id from contributions where datanet = ?)
     order by c.submitted_at, c.datanet`,
    [ctx.spec.name, ctx.spec.name],
  );
  const flagged = new Set<string>();
  for (const e of elsewhere) {
    const r = mine.get(e.id);
    const at = new Date(e.submitted_at).getTime();
    if (!r || flagged.has(r.id) || !(at < r.submittedAt || (at === r.submittedAt && e.datanet < ctx.spec.name))) continue;
    flagged.add(r.id);
    out.push({
      contribution: r.id, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: "duplicate", related: e.id, value: null,
      reason: `the same contribution is in Datanet "${e.datanet}", submitted earlier (${day(at)}) by ${e.contributor}: this copy earns nothing; reject it if it was copied from there`,
    });
  }
  return out;
}

interface Match { earlier: number; similarity: number }

export async function nearDuplicateRule(rule: NearDuplicateRule, ctx: RuleContext): Promise<Flag[]> {
  const rows = ctx.rows;
  const { bands, bandKeys, similarity, measure } = ctx.spec.kind === "text" ? textIndex(rule, rows) : featureIndex(rule, rows);
  const limit = ctx.spec.kind === "text" ? rule.threshold : rule.cosine;
  // For each row, the earlier row at or above the threshold to report: one under another label if
  // any (a label conflict matters more than a copy), else the most similar (ties: the earliest).
  // Rows are visited in submission order; each band keeps, per key, the latest `maxCompare`
  // rows seen, so a row is compared with at most bands × maxCompare earlier ones, and no global
  // pair set is ever held.
  const best = new Map<number, Match>();
  const hashes = new Map<number, string>();
  const hashOf = (i: number) => hashes.get(i) ?? hashes.set(i, payloadHash(rows[i]!)).get(i)!;
  const index = Array.from({ length: bands }, () => new Map<string, number[]>());
  for (let j = 0; j < rows.length; j++) {
    const keys = bandKeys(j);
    if (!keys) continue;
    const candidates = new Set<number>();
    keys.forEach((k, b) => {
      const list = index[b]!.get(k);
      if (list) for (const i of list) candidates.add(i);
    });
    for (const i of [...candidates].sort((a, b) => a - b)) {
      const s = similarity(i, j);
      // Identical payloads are the exact-duplicate rule's finding; do not report them twice.
      if (s < limit || hashOf(i) === hashOf(j)) continue;
      const prev = best.get(j);
      const conflict = rows[i]!.label !== rows[j]!.label, prevConflict = prev !== undefined && rows[prev.earlier]!.label !== rows[j]!.label;
      if (!prev || (conflict && !prevConflict) || (conflict === prevConflict && s > prev.similarity)) best.set(j, { earlier: i, similarity: s });
    }
    keys.forEach((k, b) => {
      const list = index[b]!.get(k);
      if (!list) index[b]!.set(k, [j]);
      else {
        list.push(j);
        if (list.length > rule.maxCompare) list.shift();
      }
    });
  }
  const out: Flag[] = [];
  const conflictOriginals = new Map<number, number>(); // earlier row → a later row that disagrees with it
  for (const [j, m] of [...best.entries()].sort((x, y) => x[0] - y[0])) {
    const r = rows[j]!, e = rows[m.earlier]!;
    const conflict = r.label !== e.label;
    if (conflict && !conflictOriginals.has(m.earlier)) conflictOriginals.set(m.earlier, j);
    const sim = `${measure} ${m.similarity.toFixed(3)} ≥ ${limit}`;
    out.push({
      contribution: r.id, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: conflict ? "conflict" : "duplicate", related: e.id, value: m.similarity,
      reason: conflict
        ? `near-duplicate of ${short(e.id)} (${e.contributor}, ${day(e.submittedAt)}; ${sim}) labelled ${JSON.stringify(e.label)} there, ${JSON.stringify(r.label)} here: one label is wrong; keep the right one, reject the other`
        : `near-duplicate of ${short(e.id)} (${e.contributor}, ${day(e.submittedAt)}; ${sim}): a copy adds no information and splits credit; reject it unless it adds something`,
    });
  }
  // The earlier side of a label conflict is as suspect as the later one: flag it too.
  for (const [i, j] of conflictOriginals) {
    if (best.has(i) && rows[best.get(i)!.earlier]!.label !== rows[i]!.label) continue; // already flagged as a conflict
    const r = rows[i]!, l = rows[j]!;
    out.push({
      contribution: r.id, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: "conflict", related: l.id, value: best.get(j)!.similarity,
      reason: `a later near-duplicate ${short(l.id)} (${l.contributor}; ${measure} ${best.get(j)!.similarity.toFixed(3)}) is labelled ${JSON.stringify(l.label)}, this one ${JSON.stringify(r.label)}: one label is wrong; keep the right one, reject the other`,
    });
  }
  return out;
}

function textIndex(rule: NearDuplicateRule, rows: RuleRow[]) {
  const sets = rows.map((r) => shingles(`${r.title ?? ""}\n${r.text ?? ""}`, rule.shingle));
  const seeds = minhashSeeds(rule.hashes, rule.seed);
  const sigs = sets.map((s) => signature(s, seeds));
  return {
    bands: rule.bands,
    bandKeys: (i: number) => (sets[i]!.length ? bandKeys(sigs[i]!, rule.bands) : null),
    similarity: (i: number, j: number) => jaccard(sets[i]!, sets[j]!),
    measure: `Jaccard over ${rule.shingle}-word shingles`,
  };
}

function featureIndex(rule: NearDuplicateRule, rows: RuleRow[]) {
  const vectors = rows.map((r) => r.features ?? new Float32Array(0));
  const dims = Math.max(0, ...vectors.map((v) => v.length));
  const norms = vectors.map(norm);
  // Rows of another length were flagged by the schema rule; they take no part here.
  const usable = (i: number) => vectors[i]!.length === dims && norms[i]! > 0;
  const words = simhashBands(vectors.map((v, i) => (usable(i) ? v : new Float32Array(0))), dims, rule.bits, rule.bitBands, rule.seed);
  return {
    bands: rule.bitBands,
    bandKeys: (i: number) => (usable(i) ? Array.from(words[i]!, (w) => w.toString(36)) : null),
    similarity: (i: number, j: number) => cosine(vectors[i]!, vectors[j]!, norms[i]!, norms[j]!),
    measure: "cosine",
  };
}
