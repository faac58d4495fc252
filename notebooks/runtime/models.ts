import type { ModelsAnswer, ModelsRequest } from "../../cells/notebooks/wire.ts";
import { endpoint } from "./curation.ts";

export type { ModelsAnswer, ModelsRequest, ModelRowChange, ModelRowsDiff } from "../../cells/notebooks/wire.ts";

export interface Models {
  /** Whether this page can ask: served by `tracebook dev` (a static build cannot read the model store). */
  readonly available: boolean;
  /** A model cell's history and two of its models compared; rejects with an error naming the field at fault. */
  ask(request: ModelsRequest): Promise<ModelsAnswer>;
}

/** The `models` builtin: `tracebook model list` and `model diff` through the dev server's JSON API. */
export function models(base: string): Models {
  const api = endpoint<ModelsRequest, ModelsAnswer>(base, "models", "compare models");
  return { available: api.available, ask: api.post };
}
