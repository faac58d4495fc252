import type { ExplainAnswer, ExplainRequest } from "../../cells/notebooks/wire.ts";
import { DecisionError, pageToken, postJson } from "./curation.ts";

export type { ExplainAnswer, ExplainRequest, Explanation } from "../../cells/notebooks/wire.ts";

export interface Explanations {
  /** Whether this page can ask: served by `tracebook dev` (a static build has no model to run). */
  readonly available: boolean;
  /** What the pipeline's TracIn says of inputs nobody paid for; rejects with an error naming the field at fault. Nothing is recorded. */
  ask(request: ExplainRequest): Promise<ExplainAnswer>;
}

/** The `explain` builtin: `tracebook explain` through the dev server's JSON API. */
export function explanations(base: string): Explanations {
  const token = pageToken();
  return {
    available: token !== null,
    async ask(request) {
      if (token === null) throw new DecisionError("this page is read-only (a static build): run `tracebook dev` to explain your own input", null, 0);
      return postJson<ExplainAnswer>(base, "explain", token, request);
    },
  };
}
