import { canonicalJson, sha256 } from "../graph/fingerprint.ts";

/**
 * What-if questions run as ad-hoc cells of the pipeline they ask about, named by their params:
 * the same question is the same cell (cached), and the name says it is a question, not one of the
 * pipeline's own cells (the notebooks' catalog leaves them out).
 */
export function whatIfCellName(params: unknown): string {
  return `what_if_${sha256(canonicalJson(params)).slice(0, 12)}`;
}

export function isWhatIfCell(name: string): boolean {
  return /^what_if_[0-9a-f]{12}$/.test(name);
}
