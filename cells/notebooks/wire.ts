/**
 * The wire contract between the dev server and the page: the pipeline catalog (cells/notebooks/data.ts,
 * notebooks/runtime/duckdb.ts) and the decisions API (cells/notebooks/decisions.ts,
 * notebooks/runtime/curation.ts). No imports: the browser's tsconfig checks it too.
 */

/** What a curator decides on a contribution (decide() in cells/datanet/decisions.ts). */
export type Verdict = "approved" | "rejected" | "quarantined";
/** A verdict, or "keep": the contribution was reviewed and its current status stands. */
export type Action = Verdict | "keep";

/** `POST /@tracebook/api/decisions`. */
export interface DecisionRequest {
  /** Full contribution ids or unique prefixes of at least 8 hex characters. */
  ids: string[];
  status: Action;
  reason: string;
  curator: string;
  /** Look the ids up in this Datanet only. */
  datanet?: string;
  /** The page's pipeline: the answer says whether the server recomputes it. */
  pipeline?: string;
}

export interface DecisionResponse {
  /** Decisions recorded (status changed, or kept: from = to), each with its validation record's seq. */
  decided: { id: string; datanet: string; from: string; to: string; seq: number }[];
  /** In a bulk decision, contributions already in that status (left as they were). */
  unchanged: { id: string; datanet: string; status: string }[];
  rule: string;
}

/** The answer the page gets: the response, and whether the server recomputes the page's pipeline (false under `tracebook dev --no-watch`, or for a pipeline it does not watch). */
export interface DecisionResult extends DecisionResponse {
  watching: boolean;
}

/** What the page sees of a pipeline: its cells' current outputs (never file paths). */
export interface CatalogCell {
  cell: string;
  kind: string;
  rows: number | null;
  dataVersion: string | null;
  /** The last run's status (succeeded, failed, cancelled, interrupted); with a watcher, also `running`, `fresh` (checked this cycle), `blocked`. */
  state: string;
  reason: string | null;
}

export interface Catalog {
  pipeline: string;
  cells: CatalogCell[];
  /** Set (with no cells) when the pipeline has never run in this workspace: what to run. */
  missing?: string;
  /** Whether the dev server runs this pipeline in watch mode (its new outputs reach open pages); absent in a static build. */
  watched?: boolean;
}

/** `POST /@tracebook/api/what-if`: retrain the page's pipeline's model without some contributions (`tracebook what-if`). */
export interface WhatIfRequest {
  pipeline: string;
  contributors?: string[];
  datanets?: string[];
  /** Full contribution ids or unique prefixes of at least 8 hex characters. */
  ids?: string[];
  /** Also retrain with nothing left out under this seed: the yardstick of a seed change alone. */
  seedCheck?: number;
  /** Set aside the ids that did not train the model (held out, not approved) instead of refusing them: a curator's selection spans both. */
  onlyTrained?: boolean;
  /** The inference the question is about: refused (400) when the model the what-if retrains did not execute it. */
  focus?: string;
}

export type { WhatIfAnswer } from "../quality/answer.ts";

/**
 * `POST /@tracebook/api/explain`: what the pipeline's TracIn would say of inputs nobody has paid
 * for (`tracebook explain`); nothing is recorded.
 */
export interface ExplainRequest {
  pipeline: string;
  /** Texts (text models) or arrays of numbers (feature models). */
  inputs: (string | number[])[];
  top?: number;
  /** Trace the loss of this label instead of the prediction's. */
  as?: string;
  /** The tracin cell to explain as (default: influence). */
  influence?: string;
}

export type { ExplainAnswer, Explanation, ExplainedContribution, ExplainedGroup } from "../attribution/answer.ts";
