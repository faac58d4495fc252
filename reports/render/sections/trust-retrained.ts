import type { TrustFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, percent, table } from "../format.ts";
import { fixed2 } from "./trust-words.ts";

/** How many answers the page lists; report.json holds them all. */
const SHOWN = 12;

const pct = (x: number | null) => (x === null ? "n/a" : percent(x));

/**
 * What-if answers on this model: each a real retrain without some contributions, set against
 * what TracIn estimated without one. Evidence a reviewer can weigh directly: the change the
 * contributions make to the model, beside the change a new seed alone makes.
 */
export function counterfactuals(t: TrustFacts, pipeline: string): Safe {
  const head = html`<h3>Retrained without them: what-if questions asked of this model</h3>`;
  const asked = t.counterfactuals;
  if (asked === undefined) return html``; // written before the part existed
  const ask = html`<code>npx tracebook what-if ${pipeline} --contributor … --seed-check 8</code>`;
  if (!asked.length) {
    return html`${head}<p class="muted">None has been asked: ${ask} retrains the model without a contributor (or a Datanet, or chosen rows: a curator's <code>--dry-run --what-if</code>) and sets the change beside TracIn's estimate.</p>`;
  }
  const shown = asked.slice(0, SHOWN);
  return html`${head}
<p>Each row retrained the model as its manifest says (init, seed, schedule, the same batches) with the named contributions masked out, and compared every prediction. Accuracy and loss are measured on the held-out rows; a seed check retrains with nothing left out under another seed, the change that training noise alone makes. Spearman sets TracIn's estimate (the removed rows' summed influence on each prediction, no retrain) against how far the retrain moved each prediction's loss; the flips foreseen are those among the predictions it expected to weaken most.${asked.some((c) => c.removed_in_base) ? " Rows that also trained the base stay in it: the retrain redoes the adapter only." : ""}</p>
${table([{ head: "left out" }, { head: "rows", cls: "num" }, { head: "accuracy with → without", cls: "num" }, { head: "flips (a seed change alone)", cls: "num" }, { head: "TracIn's estimate", cls: "num" }],
    shown.map((c) => [
      html`${c.without}${c.asked_with === "what-if" ? "" : html` <span class="muted">(cell ${c.run.pipeline}/${c.run.cell})</span>`}`,
      html`${count(c.removed)}${c.removed_in_base ? html`<br><span class="muted">${count(c.removed_in_base)} in the base</span>` : ""}`,
      c.measured_rows ? html`${pct(c.accuracy.with)} → ${pct(c.accuracy.without)}${c.accuracy.seed === null ? "" : html`<br><span class="muted">seed alone: ${pct(c.accuracy.seed)}</span>`}` : "no labelled rows",
      html`${count(c.flips)} of ${count(c.queries)}${c.flips_seed === null ? "" : html`<br><span class="muted">seed ${c.seed_check ?? "?"} alone: ${count(c.flips_seed)}</span>`}`,
      html`Spearman ${fixed2(c.spearman)}${c.flips ? html`<br><span class="muted">${count(c.flips_found)} of ${count(c.flips)} flips foreseen</span>` : ""}`,
    ]))}
${asked.length > shown.length ? html`<p class="muted">${count(asked.length - shown.length)} more in report.json (the largest removals are listed first).</p>` : ""}`;
}
