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
  /** A static build's portable explainer (Explain an input runs it in the page), or why the build has none; absent on the dev server. */
  explainer?: ShippedExplainer;
  /** A static build's model histories (the Model history page reads them, under the site's models/ folder); absent on the dev server. */
  models?: { file: string };
  /** A static build's run log (the Pipeline runs page reads it, under the site's runs/ folder); absent on the dev server. */
  runs?: { file: string };
  /** A static build's cell states when it was built (the Pipeline runs page reads them, under the site's runs/ folder); absent on the dev server. */
  status?: { file: string };
  /** How a static build stores the tables: gzipped (`<cell>.arrow.gz`, inflated by the page); absent on the dev server (plain Arrow IPC). */
  encoding?: "gzip";
}

/** The file (under the site's explain/ folder, gzipped: `bytes` on disk) of a pipeline's portable explainer, and what it explains as. */
export type ShippedExplainer =
  | { file: string; bytes: number; influence: string; model_id: string; train_rows: number }
  | { missing: string };

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
export type { ModelStanding } from "../factory/standing.ts";
export type { ChangedOutput } from "../quality/changed.ts";
import type { ModelStanding } from "../factory/standing.ts";
import type { ChangedOutput } from "../quality/changed.ts";

/**
 * `POST /@tracebook/api/models`: a model cell's history and two of its models compared
 * (`tracebook model list` and `tracebook model diff`): by default its current model against the
 * one it trained before.
 */
export interface ModelsRequest {
  pipeline: string;
  /** The model cell (default: model). */
  cell?: string;
  /** The earlier model, an id or a unique prefix of ≥ 8 hex (default: the one before b). */
  a?: string;
  /** The later model (default: the cell's current one). */
  b?: string;
}

export interface ModelsAnswer {
  pipeline: string;
  cell: string;
  /** Newest first, the current output first: every model the cell trained still in the workspace. */
  history: ModelStanding[];
  /** Null when the cell has trained one model only. */
  diff: null | {
    a: string;
    b: string;
    settings: { field: string; a: string; b: string }[];
    rows: ModelRowsDiff;
    /** When both are adapters over different bases: the bases' own training rows. */
    base: { a: string; b: string; rows: ModelRowsDiff } | null;
    /** On the held-out rows b was evaluated on; null when its cell had none. */
    outputs: { on: string; rows: number; labelled: number; a: { accuracy: number; loss: number } | null; b: { accuracy: number; loss: number } | null;
      changed: ChangedOutput[] } | null;
  };
}

export interface ModelRowsDiff {
  a: number;
  b: number;
  added: ModelRowChange[];
  removed: ModelRowChange[];
  contributors: { contributor: string; added: number; removed: number }[];
}

export interface ModelRowChange {
  datanet: string;
  id: string;
  contributor: string;
  label: string | null;
  status: string | null;
  record: { verdict: string; validator: string; rule: string | null; reason: string | null; decidedAt: string } | null;
}

/**
 * `POST /@tracebook/api/runs`: a pipeline's run log (`tracebook log`), newest pipeline run first;
 * with `cell`, only the pipeline runs that ran it, each holding that cell alone.
 */
export interface RunsRequest {
  pipeline: string;
  cell?: string;
  /** Pipeline runs to send, newest first (default and most: 200). */
  limit?: number;
}

export interface RunsAnswer {
  pipeline: string;
  cell: string | null;
  /** Pipeline runs recorded (with `cell`: those that ran it), of which `runs` holds the newest `limit`. */
  total: number;
  /** Every cell the pipeline's log names (with `cell` too), sorted: the page's choice of one. */
  cells: string[];
  runs: LoggedPipelineRun[];
}

/** One pipeline run as JSON carries it: dates as ISO text, and what came of it in words, as `tracebook log` says it. */
export interface LoggedPipelineRun {
  id: string;
  started_by: string | null;
  started_at: string;
  finished_at: string | null;
  seconds: number | null;
  outcome: string;
  cells: LoggedCellRun[];
}

export interface LoggedCellRun {
  cell: string;
  kind: string;
  status: string;
  cached: boolean;
  started_at: string;
  finished_at: string | null;
  seconds: number | null;
  rows: number | null;
  data_version: string | null;
  output: "new" | "changed" | "unchanged" | null;
  why: string;
  why_recorded: boolean;
  error: string | null;
}

/** `POST /@tracebook/api/status`: every cell of a pipeline now, as `tracebook status` tells it. */
export interface StatusRequest {
  pipeline: string;
}

/** One cell now: fresh, stale (why), failed (its cause) or blocked (by which input), with its current output. */
export interface CellNow {
  cell: string;
  kind: string;
  state: "fresh" | "stale" | "failed" | "blocked";
  reason: string | null;
  rows: number | null;
  data_version: string | null;
  /** When its current output was made. */
  finished_at: string | null;
}

export interface StatusAnswer {
  pipeline: string;
  /** The pipeline file the states were worked out from (its cells, their params and code), or null where none could be read. */
  file: string | null;
  /** Why the pipeline file could not be read (not found, a syntax error…): no cell has a state then. */
  unread: string | null;
  /** In the pipeline's order: each cell after the cells it reads. */
  cells: CellNow[];
  /** Whether a watcher keeps the pipeline current (a stale cell is then being recomputed); null in a static build. */
  watched: boolean | null;
  /** When the states were read (ISO). */
  at: string;
}
