import type { ReportFacts, TrustFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, percent, shortHash, table } from "../format.ts";
import { counterfactuals } from "./trust-retrained.ts";
import { fixed2, reportMode, trustSentence } from "./trust-words.ts";

/**
 * What a reviewer needs before weighing the payouts: how far the influence scores agree with
 * retraining (LOCO, LDS) and find planted label errors, measured on this very model. Omitted for
 * facts written before the section existed.
 */
export function trustSection(f: ReportFacts): Safe {
  const t = f.trust;
  if (!t) return html``;
  const evaluated = t.loco || t.lds || t.mislabel;
  return html`<section id="trust">
<h2>How far the scores can be trusted</h2>
${evaluated ? html`<p class="lead">${trustSentence(t, reportMode(f.methodology))}</p>
<p class="muted">Measured on this model (${shortHash(t.model_id)}) by retraining it as its manifest says (same base, schedule and seed) on changed training sets. LOCO and LDS judge influence on the held-out set's loss (true labels); the payouts trace paid inferences with this report's mode, marked below. Rerun with <code>${t.command}</code>.</p>
${loco(t, f)}
${lds(t, f)}
${mislabel(t)}
${counterfactuals(t, f.pipeline)}` : html`<p class="lead bad">No quality evaluation has been run for this model (${shortHash(t.model_id)}): nothing in this report measures how far its influence scores agree with retraining.</p>
<p>Run <code>${t.command}</code> (leave-one-contributor-out, linear datamodeling score and mislabel detection on the same model), then write this report again.${t.other_models ? ` The workspace holds quality evaluations of ${t.other_models === 1 ? "another model" : `${t.other_models} other models`} (trained on another snapshot or with other settings), which say nothing about this one.` : ""}</p>
${counterfactuals(t, f.pipeline)}`}
</section>`;
}

const notRun = (cell: string, t: TrustFacts) => html`<p class="muted">Not run for this model: no <code>${cell}(…)</code> cell has run on it (<code>${t.command}</code>).</p>`;

const modeCell = (mode: string, ours: string) => (mode === ours ? html`<code>${mode}</code> <span class="muted">(this report's mode)</span>` : html`<code>${mode}</code>`);

function loco(t: TrustFacts, f: ReportFacts): Safe {
  const l = t.loco;
  const head = html`<h3>Leave one contributor out (LOCO)</h3>`;
  if (!l) return html`${head}${notRun("loco", t)}`;
  const ours = reportMode(f.methodology);
  return html`${head}
<p>Each of the ${count(l.contributors)} contributors was left out in turn and the model retrained; the change of held-out loss is compared, by Spearman rank correlation, with the contributor's summed influence on the held-out set. 1 means attribution ranks contributors exactly as retraining does; 0, no better than chance.${l.ceiling ? " The ceiling is how far two retrainings under different seeds agree with each other: no attribution of one training can be expected to do better." : ""}</p>
${table([{ head: "attribution" }, { head: "Spearman with retraining", cls: "num" }, { head: "with the two seeds' mean", cls: "num" }], [
    ...(l.ceiling ? [[html`ceiling: two retrainings <span class="muted">(${l.ceiling.seeds})</span>`, fixed2(l.ceiling.spearman), "—"]] : []),
    ...l.modes.map((m) => [modeCell(m.mode, ours), fixed2(m.spearman), l.ceiling ? fixed2(m.spearman_mean_delta) : "—"]),
  ])}`;
}

function lds(t: TrustFacts, f: ReportFacts): Safe {
  const l = t.lds;
  const head = html`<h3>Linear datamodeling score (LDS)</h3>`;
  if (!l) return html`${head}${notRun("lds", t)}`;
  const ours = reportMode(f.methodology);
  const subsets = l.modes[0]?.subsets ?? 0;
  return html`${head}
<p>The model was retrained on ${count(subsets)} random ${l.fraction === 0.5 ? "halves of its training set" : `subsets of its training set${l.fraction === null ? "" : ` (${percent(l.fraction, 0)} of the rows each)`}`}. For each held-out example, the summed attribution of each subset is correlated (Spearman) with the retrained model's log-probability of the true label, and the correlations are averaged.</p>
${table([{ head: "attribution" }, { head: "LDS", cls: "num" }, { head: "subsets", cls: "num" }, { head: "held-out examples", cls: "num" }],
    l.modes.map((m) => [modeCell(m.mode, ours), fixed2(m.lds), count(m.subsets), count(m.examples)]))}
${l.published.length ? html`<p class="muted">Published LDS, for scale only (another task and model):</p>
${table([{ head: "method" }, { head: "LDS", cls: "num" }], l.published.map((p) => [p.method, fixed2(p.lds)]))}` : ""}`;
}

function mislabel(t: TrustFacts): Safe {
  const m = t.mislabel;
  const head = html`<h3>Finding mislabelled rows</h3>`;
  if (!m) return html`${head}${notRun("mislabel", t)}`;
  const tops = m.scores[0]?.recall ?? [];
  // The smallest share read that is too small to hold every flip.
  const capped = m.flipped > 0 ? tops.find((r) => r.k < m.flipped) : undefined;
  return html`${head}
<p>${count(m.flipped)} of ${count(m.rows)} training labels (${percent(m.fraction, 0)}, seed ${m.flip_seed}) were flipped and the model retrained on them. Each score ranks the training rows; AUC is the chance that a flipped row ranks above a clean one; the other columns give recall, the share of the flips (their number in brackets) that a curator reading the top t% of the ranking would find.</p>
${table([{ head: "score" }, { head: "AUC", cls: "num" }, ...tops.map((r) => ({ head: `top ${r.top_pct}% (${count(r.k)} rows)`, cls: "num" as const }))],
    m.scores.map((s) => [s.score, fixed2(s.auc), ...s.recall.map((r) => (r.recall === null ? "n/a" : `${percent(r.recall, 0)} (${count(r.found)})`))]))}
${capped ? html`<p class="muted">Recall is capped by how much is read: the top ${capped.top_pct}% (${count(capped.k)} rows) can hold at most ${count(capped.k)} of the ${count(m.flipped)} flips (${percent(capped.k / m.flipped, 0)}).</p>` : ""}`;
}
