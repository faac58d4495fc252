import type { Workspace } from "../../cells/store/workspace.ts";
import type { ResolvedContribution } from "../../cells/datanet/decisions.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { loadPipelineIn } from "../../cells/graph/loader.ts";
import type { WhatIfAnswer } from "../../cells/quality/what-if.ts";
import { humanPrinter } from "./run.ts";
import { parseSeed } from "../numbers.ts";

/** `--what-if` previews rows leaving a model; it decides nothing, so it goes with --dry-run. Returns the seed check's seed. */
export function checkPreview(opts: { dryRun?: boolean; whatIf?: string; seedCheck?: string }): number | undefined {
  if (opts.whatIf === undefined) {
    if (opts.seedCheck !== undefined) throw new InputError("--seed-check goes with --what-if: it is the yardstick of a preview's retrain");
    return undefined;
  }
  if (!opts.dryRun) throw new InputError("--what-if previews a decision without making it: add --dry-run");
  return opts.seedCheck === undefined ? undefined : parseSeed(opts.seedCheck);
}

/**
 * What a rejection would do to a pipeline's model, before anyone makes it: the selection's
 * approved rows (the only ones a model trains on) go to `tracebook what-if` as ids, and those
 * that trained nothing of this model (held out) are set aside and named rather than refused.
 */
export async function previewDecision(
  ws: Workspace, pipelineName: string, targets: ResolvedContribution[], o: { signal: AbortSignal; seedCheck?: number; quiet?: boolean },
): Promise<{ answer: WhatIfAnswer | null; text: string }> {
  const ids = targets.filter((t) => t.status === "approved").map((t) => t.id);
  if (!ids.length) return { answer: null, text: "None of them is approved, so no model trains on them: rejecting them changes no model." };
  const { pipeline } = await loadPipelineIn(ws, pipelineName);
  // Loaded here: the retrain needs TF.js, which every other curate command starts without.
  const [{ whatIf }, { formatAnswer }] = await Promise.all([import("../../cells/quality/what-if.ts"), import("./whatif.ts")]);
  const answer = await whatIf(ws, pipeline, { without: { ids }, onlyTrained: true, replicateSeed: o.seedCheck, signal: o.signal, onEvent: o.quiet ? undefined : humanPrinter(pipeline) });
  return { answer, text: formatAnswer(pipeline.name, answer, 15) };
}
