/**
 * The request field an explanation's error is about, from its message: the dev server's 400s and
 * a static build's worker name it alike. No imports: the worker bundles it.
 */
export function explainFieldOf(message: string): string {
  const named = /^(top|as|inputs?)\b/.exec(message)?.[1];
  if (named) return named === "input" ? "inputs" : named;
  if (/tracin cell/.test(message)) return "influence";
  if (/has no outputs? (yet|in this workspace)/.test(message)) return "pipeline";
  return "inputs"; // the featurizer's: a text for a feature model, the wrong feature count
}
