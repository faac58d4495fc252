import type { ReportFacts, TrustFacts } from "../../facts.ts";

/** A correlation or rate to two decimals, with a true minus sign; "n/a" where the table had no number. */
export function fixed2(x: number | null): string {
  if (x === null) return "n/a";
  const s = x.toFixed(2);
  return s === "-0.00" ? "0.00" : s.replace("-", "−");
}


/** The name the quality cells give the report's own attribution mode (cells/quality DEFAULT_MODES). */
export function reportMode(m: ReportFacts["methodology"]): string {
  return m.mode === "projection" && m.projection ? `projection-${m.projection.dim}` : m.mode;
}

/** A mode as words: "exact TracIn", "TracIn projected to 16 dimensions". Plain text: the page escapes it. */
function describe(mode: string): string {
  if (mode === "exact" || mode === "last-layer") return `${mode} TracIn`;
  const projected = /^projection-(\d+)$/.exec(mode);
  return projected ? `TracIn projected to ${projected[1]} dimensions` : `TracIn (${mode})`;
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * One sentence a reviewer can act on, generated from the numbers: the report's mode against
 * retraining (LOCO), weighed against how far two retrainings agree (the ceiling); LDS or
 * mislabel detection when LOCO has not run.
 */
export function trustSentence(t: TrustFacts, ours: string): string {
  const pick = t.loco?.modes.find((m) => m.mode === ours && m.spearman !== null) ?? t.loco?.modes.find((m) => m.spearman !== null);
  if (pick && pick.spearman !== null) {
    const subject = pick.mode === ours
      ? `${capital(describe(pick.mode))}, the mode behind this report's scores,`
      : `${capital(describe(pick.mode))} (this report's mode, ${ours}, was not evaluated)`;
    const r = pick.spearman, c = t.loco!.ceiling?.spearman ?? null;
    const n = t.loco!.contributors;
    const base = `${subject} ranks ${n === 1 ? "its one contributor" : `the ${n.toLocaleString("en-US")} contributors`} as retraining without each of them does at Spearman ${fixed2(r)}`;
    if (c !== null && c <= 0.2) {
      return `${base}, but two retrainings under different seeds agree with each other only at ${fixed2(c)}: at this scale leaving a contributor out moves the model less than a new seed does, so LOCO can neither confirm nor refute the scores.`;
    }
    const ceiling = c === null ? "" : `, where two retrainings under different seeds agree with each other at ${fixed2(c)}`;
    if (r <= 0.1) return `${base}${ceiling}: ${r <= 0 ? "no" : "little"} better than chance, so contributor shares say little about who shaped the model.`;
    if (c === null) return `${base}: ${r >= 0.6 ? "a strong" : r >= 0.3 ? "a moderate" : "a weak"} agreement, though no second seed was run to show how far retraining agrees with itself.`;
    if (r >= 0.8 * c) return `${base}${ceiling}: close to the ceiling that training noise sets.`;
    if (r >= 0.5 * c) return `${base}${ceiling}: part of the way to that ceiling, so contributor shares are a fair ranking rather than a measurement.`;
    return `${base}${ceiling}: well below that ceiling, so read contributor shares as a rough ranking rather than a measurement.`;
  }
  const lds = t.lds?.modes.find((m) => m.mode === ours && m.lds !== null) ?? t.lds?.modes.find((m) => m.lds !== null);
  if (lds && lds.lds !== null) {
    const published = t.lds!.published.find((p) => p.lds !== null && p.method.startsWith("TracIn"));
    return `${capital(describe(lds.mode))} reaches a linear datamodeling score of ${fixed2(lds.lds)} on this model${published ? `, against ${fixed2(published.lds!)} published for ${published.method}` : ""}; no leave-one-contributor-out evaluation has run, so nothing here checks the ranking of contributors itself.`;
  }
  const score = t.mislabel?.scores.find((s) => s.auc !== null);
  if (score) return `The ${score.score} finds planted label flips at AUC ${fixed2(score.auc!)}; no retraining comparison (LOCO or LDS) has run, so nothing here checks the influence scores themselves.`;
  return "The quality evaluation ran on this model but its tables hold no finite number (constant inputs), so nothing here measures how far the scores can be trusted.";
}
