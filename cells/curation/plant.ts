import type { Workspace } from "../store/workspace.ts";
import { Rng } from "../compute/random.ts";
import { ingest, loadDatanetSpec } from "../datanet/ingest.ts";
import { contributionId } from "../datanet/hash.ts";
import { splitOf } from "../datanet/split.ts";
import { InputError } from "../datanet/errors.ts";
import type { ContributionInput } from "../datanet/types.ts";

/**
 * Plant known errors in a copy of a Datanet, seeded, to measure how well the review queue finds
 * them (bench/curation.ts). The original is never touched; the copy is a new Datanet with the
 * same contract, split seed and contributors, imported through ingest like any other.
 *
 *  - flip: a training row's label changed to another label drawn uniformly. The label is part
 *    of the content hash and the split is keyed on it, so a flip can move a row to the test
 *    split; a flip that would is redrawn among the remaining labels (and the row skipped if none
 *    stays in training), so exactly `flipFraction` of the training rows are flipped and trained on.
 *  - duplicate: another contributor's payload submitted again. Same-label bit-identical copies
 *    are absorbed at ingest (same id), so a copy that becomes a contribution differs trivially:
 *    text with a line break added at the end, same label; feature vectors, which have no trivial
 *    variant, under another label.
 *  - near-duplicate: a copy a little altered, same label, by another contributor — text with one
 *    word in 50 replaced by another word of the same text (only texts of ≥ 50 words: a shorter
 *    one has no room to be "near" anything); features with Gaussian noise of σ = 1% of the
 *    vector's range, clipped to that range.
 * Copies are dated a day after their original, so the original is the earlier one.
 */
export interface PlantOptions {
  seed: number;
  /** Share of the training rows whose label is flipped. */
  flipFraction: number;
  /** Share of the rows copied as duplicates, and as near-duplicates. */
  duplicateFraction: number;
  nearDuplicateFraction: number;
  /** Name of the copy (default `<source>-planted`); an existing one is replaced. */
  target?: string;
}

export type PlantedKind = "flip" | "duplicate" | "near-duplicate";

export interface Planted {
  kind: PlantedKind;
  /** The planted contribution's id in the copy. */
  id: string;
  /** The row it was made from. */
  of: string;
  label: string;
  originalLabel: string;
  contributor: string;
}

interface SourceRow {
  id: string; contributor: string; title: string | null; text: string | null; features: number[] | null;
  label: string; split: string; submitted_at: Date; source: string;
}

const DAY = 86_400_000;
const WORD = /[\p{L}\p{N}]+/gu;

export async function plantErrors(ws: Workspace, source: string, o: PlantOptions): Promise<{ datanet: string; planted: Planted[] }> {
  const spec = await loadDatanetSpec(ws, source);
  if (!spec) throw new InputError(`unknown Datanet "${source}"`);
  const target = o.target ?? `${source}-planted`;
  const rows = await ws.rows<SourceRow>(
    "select id, contributor, title, text, features, label, split, submitted_at, source from contributions where datanet = ? and status <> 'rejected' order by id",
    [source]);
  const labels = spec.labels?.length ? spec.labels : [...new Set(rows.map((r) => r.label))].sort();
  const contributors = [...new Set(rows.map((r) => r.contributor))].sort();
  if (labels.length < 2) throw new InputError(`Datanet "${source}" has fewer than two labels: nothing to flip to`);
  const rng = Rng.derive(o.seed, `plant:${source}`);
  const planted: Planted[] = [];
  const inputs: ContributionInput[] = [];
  const others = (label: string) => labels.filter((l) => l !== label);
  const another = <T>(xs: T[], not: T) => { const c = xs.filter((x) => x !== not); return c[rng.int(0, c.length - 1)]!; };
  const input = (r: SourceRow, patch: Partial<ContributionInput>, source: string): ContributionInput => ({
    contributor: r.contributor, label: r.label, title: r.title, text: r.text, features: r.features, submittedAt: new Date(r.submitted_at), source, ...patch,
  });
  const idOf = (i: ContributionInput) => contributionId({ title: i.title, text: i.text, features: i.features, label: i.label });

  // Flips: a seeded draw of training rows, each flipped to a label that keeps it in training.
  const train = rows.filter((r) => r.split === "train");
  const want = Math.round(train.length * o.flipFraction);
  const flipped = new Map<string, ContributionInput>();
  for (const r of rng.shuffle(train.slice())) {
    if (flipped.size >= want) break;
    for (const label of rng.shuffle(others(r.label))) {
      const candidate = input(r, { label }, `planted flip of ${r.id}: ${r.label} → ${label}`);
      if (splitOf(idOf(candidate), spec.splitSeed, spec.testFraction) !== "train") continue;
      flipped.set(r.id, candidate);
      planted.push({ kind: "flip", id: idOf(candidate), of: r.id, label, originalLabel: r.label, contributor: r.contributor });
      break;
    }
  }
  for (const r of rows) inputs.push(flipped.get(r.id) ?? input(r, {}, r.source));

  // Copies are made from rows that were not flipped, so each planted row carries one error.
  const intact = rows.filter((r) => !flipped.has(r.id));
  const copy = (kind: PlantedKind, n: number, pool: SourceRow[], make: (r: SourceRow) => Partial<ContributionInput>) => {
    for (const r of rng.shuffle(pool.slice()).slice(0, n)) {
      const c = input(r, { contributor: another(contributors, r.contributor), submittedAt: new Date(new Date(r.submitted_at).getTime() + DAY), ...make(r) }, `planted ${kind} of ${r.id}`);
      inputs.push(c);
      planted.push({ kind, id: idOf(c), of: r.id, label: c.label, originalLabel: r.label, contributor: c.contributor });
    }
  };
  const nDup = Math.round(rows.length * o.duplicateFraction), nNear = Math.round(rows.length * o.nearDuplicateFraction);
  if (spec.kind === "text") {
    copy("duplicate", nDup, intact, (r) => ({ text: `${r.text ?? ""}\n` }));
    copy("near-duplicate", nNear, intact.filter((r) => ((r.text ?? "").match(WORD) ?? []).length >= 50), (r) => ({ text: nearText(r.text!, rng) }));
  } else {
    copy("duplicate", nDup, intact, (r) => ({ label: another(labels, r.label) }));
    copy("near-duplicate", nNear, intact, (r) => ({ features: noisy(r.features!, rng) }));
  }
  await ingest(ws, { ...spec, name: target, source: `planted:${source}:seed=${o.seed}`, description: `${source} with planted errors (seed ${o.seed})` }, inputs, {
    mode: (await loadDatanetSpec(ws, target)) ? "replace" : "create", status: "approved", validator: "tracebook.plant",
    statusReason: `copy of ${source} with planted errors, for evaluation`, importer: "tracebook.plant@1",
  });
  return { datanet: target, planted };
}

/** One word in 50 (at least one) replaced by another word of the same text. */
function nearText(text: string, rng: Rng): string {
  const words = [...text.matchAll(WORD)];
  const n = Math.max(1, Math.floor(words.length / 50));
  const at = new Set(rng.shuffle(words.map((_, i) => i)).slice(0, n));
  let out = "", last = 0;
  words.forEach((m, i) => {
    if (!at.has(i)) return;
    const other = words[rng.int(0, words.length - 1)]![0];
    out += text.slice(last, m.index) + (other === m[0] ? `${other}x` : other);
    last = m.index! + m[0].length;
  });
  return out + text.slice(last);
}

/** Gaussian noise of σ = 1% of the vector's range, clipped to the range. */
function noisy(features: number[], rng: Rng): number[] {
  const lo = Math.min(...features), hi = Math.max(...features), sigma = 0.01 * (hi - lo || 1);
  return features.map((v) => Math.min(hi, Math.max(lo, v + rng.normal() * sigma)));
}
