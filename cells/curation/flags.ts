import type { Workspace } from "../store/workspace.ts";
import type { DatanetSpec, Status } from "../datanet/types.ts";
import type { RuleKind } from "./ruleset.ts";
import { rowsWithVectors } from "../store/vector-rows.ts";

/**
 * How urgent a flag is, most urgent first. The queue sorts by it before any score:
 *  - error: the row breaks the Datanet's contract (schema, empty, oversize, label outside the set);
 *  - conflict: the same or nearly the same payload under another label — one of them is wrong;
 *  - duplicate: a copy under the same label — adds no information and splits credit;
 *  - notice: about a contributor, not a row (rate limit).
 */
export const SEVERITIES = ["error", "conflict", "duplicate", "notice"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One rule's finding about one contribution (or, with `contribution` null, one contributor). */
export interface Flag {
  contribution: string | null;
  contributor: string;
  /** The rule's id in its rule set. */
  rule: string;
  kind: RuleKind;
  severity: Severity;
  /** One line a curator can act on: what is wrong, the evidence, and what to do. */
  reason: string;
  /** The other contribution the flag is about (the earlier copy of a duplicate). */
  related: string | null;
  /** The measured quantity (similarity, ratio), for sorting within a rule; null when there is none. */
  value: number | null;
}

/** A contribution as the rules see it. */
export interface RuleRow {
  id: string;
  contributor: string;
  title: string | null;
  text: string | null;
  html: string | null;
  features: Float32Array | null;
  label: string;
  split: string;
  status: Status;
  submittedAt: number;
}

export interface RuleContext {
  ws: Workspace;
  spec: DatanetSpec;
  /** Sorted by submission time, then id: "earlier" means earlier in this order. */
  rows: RuleRow[];
}

/** Statuses the rules look at by default: everything not already rejected. */
export const UNDER_REVIEW: readonly Status[] = ["pending", "approved", "quarantined"];

/** Load a Datanet's contributions with these statuses, earliest first. */
export async function loadRuleRows(ws: Workspace, datanet: string, statuses: readonly Status[] = UNDER_REVIEW): Promise<RuleRow[]> {
  const rows = await rowsWithVectors<{
    id: string; contributor: string; title: string | null; text: string | null; html: string | null;
    features: ArrayLike<number> | null; label: string; split: string; status: Status; submitted_at: Date;
  }>(ws,
    `select id, contributor, title, text, html, features, label, split, status, submitted_at from contributions
     where datanet = ? and status in (${statuses.map(() => "?").join(", ")}) order by submitted_at, id`,
    [datanet, ...statuses],
  );
  return rows.map((r) => ({
    id: r.id, contributor: r.contributor, title: r.title, text: r.text, html: r.html,
    // A plain array only where a list holds a null element (rowsWithVectors): made float32 as before.
    features: r.features === null || r.features instanceof Float32Array ? r.features : Float32Array.from(r.features), label: r.label, split: r.split, status: r.status,
    submittedAt: new Date(r.submitted_at).getTime(),
  }));
}

/** The first characters of an id, as tables show it. */
export const short = (id: string): string => `${id.slice(0, 8)}…`;

/** A date as a curator reads it. */
export const day = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 10) : "unknown date");
