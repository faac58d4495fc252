import type { WhatIfAnswer, WhatIfRequest } from "../../cells/notebooks/wire.ts";
import { DecisionError, pageToken, postJson } from "./curation.ts";

export type { WhatIfAnswer, WhatIfRequest } from "../../cells/notebooks/wire.ts";

export interface Counterfactuals {
  /** Whether this page can ask: served by `tracebook dev` (a static build cannot retrain). */
  readonly available: boolean;
  /** Retrain the pipeline's model without the contributions named and compare; rejects with an error naming the field at fault. */
  ask(request: WhatIfRequest): Promise<WhatIfAnswer>;
}

/** The `counterfactuals` builtin: what-if questions through the dev server's JSON API (`tracebook what-if`). */
export function counterfactuals(base: string): Counterfactuals {
  const token = pageToken();
  return {
    available: token !== null,
    async ask(request) {
      if (token === null) throw new DecisionError("this page is read-only (a static build): run `tracebook dev` to retrain", null, 0);
      return postJson<WhatIfAnswer>(base, "what-if", token, request);
    },
  };
}
