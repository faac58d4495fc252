/**
 * The decisions API's wire contract, shared by the dev server (cells/notebooks/decisions.ts) and
 * the page (notebooks/runtime/curation.ts). No imports: the browser's tsconfig checks it too.
 */

/** What a curator decides on a contribution (decide() in cells/datanet/decisions.ts). */
export type Verdict = "approved" | "rejected" | "quarantined";

/** `POST /@tracebook/api/decisions`. */
export interface DecisionRequest {
  /** Full contribution ids or unique prefixes of at least 8 hex characters. */
  ids: string[];
  status: Verdict;
  reason: string;
  curator: string;
  /** Look the ids up in this Datanet only. */
  datanet?: string;
}

export interface DecisionResponse {
  /** Contributions whose status changed, each with its validation record's seq. */
  decided: { id: string; datanet: string; from: string; to: string; seq: number }[];
  /** In a bulk decision, contributions already in that status (left as they were). */
  unchanged: { id: string; datanet: string; status: string }[];
  rule: string;
}

/** The answer the page gets: the response, and whether the server's watchers recompute (false under `tracebook dev --no-watch`). */
export interface DecisionResult extends DecisionResponse {
  watching: boolean;
}
