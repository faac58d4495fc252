/**
 * A what-if question's answer: the counterfactual cell's summary row and one row per query
 * (columns in counterfactual.ts). Its own module, with no imports, so the notebooks' browser
 * code (cells/notebooks/wire.ts) shares the one definition.
 */
export interface WhatIfAnswer {
  /** The cell the question ran as (its runs are in the pipeline's log, its output is cached). */
  cell: string;
  /** Reused: the same question on the same model and data was answered before, no retrain. */
  fresh: boolean;
  /** With onlyTrained: the asked ids that trained nothing of this model, so were not left out. */
  setAside: string[];
  summary: Record<string, unknown>;
  /** One row per query, flipped ones first, then by how far the prediction weakened. */
  queries: Record<string, unknown>[];
}
