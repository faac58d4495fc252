import type { ExplainAnswer, ExplainRequest } from "../../cells/notebooks/wire.ts";
import { endpoint } from "./curation.ts";

export type { ExplainAnswer, ExplainRequest, Explanation } from "../../cells/notebooks/wire.ts";

export interface Explanations {
  /** Whether this page can ask: served by `tracebook dev` (a static build has no model to run). */
  readonly available: boolean;
  /** What the pipeline's TracIn says of inputs nobody paid for; rejects with an error naming the field at fault. Nothing is recorded. */
  ask(request: ExplainRequest): Promise<ExplainAnswer>;
}

/** The `explain` builtin: `tracebook explain` through the dev server's JSON API. */
export function explanations(base: string): Explanations {
  const api = endpoint<ExplainRequest, ExplainAnswer>(base, "explain", "explain your own input");
  return { available: api.available, ask: api.post };
}
