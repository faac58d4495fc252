import type { Status } from "../datanet/types.ts";
import { SEVERITIES, type Flag, type Severity } from "./flags.ts";

/**
 * The review queue: which contributions a curator should look at first.
 *
 *  1. Rows with rule flags, most severe first (error, conflict, duplicate), then by the
 *     label-error score within a severity.
 *  2. Then every other scored row by its label-error score, highest first.
 *  3. Then rows with neither, by id (nothing known against them).
 *
 * Contributor-level flags (rate limits) are not rows: they are returned beside the queue.
 */
export interface LabelScore {
  contribution: string;
  label: string;
  trained: boolean;
  predicted: string;
  p_label: number;
  rival: string;
  p_rival: number;
  self_influence: number;
  loss: number;
  other_label: number;
  score: number;
}

export interface QueueCandidate {
  id: string;
  contributor: string;
  label: string;
  status: Status;
}

export interface QueueItem {
  rank: number;
  contribution: string;
  contributor: string;
  label: string;
  status: Status;
  /** The most severe flag, "label" for a row that is only scored, null for neither. */
  severity: Severity | "label" | null;
  flags: Flag[];
  score: LabelScore | null;
  /** Share of the scored rows (in %) whose self-influence is at least this row's: small = unusually high. */
  selfInfluenceTop: number | null;
  /** Every reason, most severe first, then what the model says about the label. */
  why: string;
}

export function rankQueue(candidates: readonly QueueCandidate[], flags: readonly Flag[], scores: ReadonlyMap<string, LabelScore>): QueueItem[] {
  const byRow = new Map<string, Flag[]>();
  for (const f of flags) {
    if (f.contribution === null) continue;
    const list = byRow.get(f.contribution);
    if (list) list.push(f);
    else byRow.set(f.contribution, [f]);
  }
  const top = topShares([...scores.values()].map((s) => [s.contribution, s.self_influence] as const));
  const items = candidates.map((c): QueueItem => {
    const fl = (byRow.get(c.id) ?? []).slice().sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
    const score = scores.get(c.id) ?? null;
    const pct = top.get(c.id) ?? null;
    const severity = fl[0]?.severity ?? (score ? "label" : null);
    const parts = fl.map((f) => `[${f.rule}] ${f.reason}`);
    if (score) parts.push(describeScore(score, pct));
    return {
      rank: 0, contribution: c.id, contributor: c.contributor, label: c.label, status: c.status, severity, flags: fl, score,
      selfInfluenceTop: pct, why: parts.join(" · "),
    };
  });
  const tier = (i: QueueItem) => (i.flags.length ? SEVERITIES.indexOf(i.flags[0]!.severity) : i.score ? SEVERITIES.length : SEVERITIES.length + 1);
  items.sort((a, b) => tier(a) - tier(b) || (b.score?.score ?? -Infinity) - (a.score?.score ?? -Infinity) || a.contribution.localeCompare(b.contribution));
  items.forEach((item, i) => (item.rank = i + 1));
  return items;
}

/** What the model says about a row's label, in one clause a curator can act on. */
export function describeScore(s: LabelScore, selfInfluenceTop: number | null): string {
  const si = selfInfluenceTop === null ? "" : `; self-influence in the top ${selfInfluenceTop >= 1 ? selfInfluenceTop.toFixed(0) : selfInfluenceTop.toPrecision(1)}%`;
  const lead = s.p_rival > s.p_label
    ? `label error? the model gives ${JSON.stringify(s.rival)} ${s.p_rival.toFixed(3)} and the label ${JSON.stringify(s.label)} ${s.p_label.toFixed(3)}`
    : `the model gives the label ${JSON.stringify(s.label)} ${s.p_label.toFixed(3)} (next ${JSON.stringify(s.rival)} ${s.p_rival.toFixed(3)})`;
  const advice = s.p_rival > s.p_label ? ": check the label; reject it if wrong" : "";
  return `${lead} (loss ${s.loss.toFixed(2)}${si}, score ${s.score.toFixed(2)})${advice}`;
}

/** For each row, the share (in %) of rows whose value is at least its own; ties share it. */
function topShares(values: readonly (readonly [string, number])[]): Map<string, number> {
  const sorted = values.slice().sort((a, b) => b[1] - a[1]);
  const out = new Map<string, number>();
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j]![1] === sorted[i]![1]) j++;
    for (let k = i; k < j; k++) out.set(sorted[k]![0], (100 * j) / sorted.length);
    i = j;
  }
  return out;
}
