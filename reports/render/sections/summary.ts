import type { ReportFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, facts, okMark, percent, shortHash, table } from "../format.ts";
import { massBoundPenalties } from "../../collect/stability.ts";
import { scopeNamer } from "./influence.ts";

/** The verdict first: a reviewer sees at once whether the report's own checks hold. */
export function checksSection(f: ReportFacts): Safe {
  const failed = f.checks.filter((c) => !c.ok);
  return html`<div class="verdict${failed.length ? " failed" : ""}">
<p><strong>${failed.length ? `${failed.length} of ${f.checks.length} integrity checks FAILED` : `All ${f.checks.length} integrity checks pass`}</strong>
at the time this report was generated. Run <code>npx tracebook report verify &lt;this folder&gt;</code> to check it again against the workspace.</p>
<ul>
${f.checks.map((c) => html`<li>${okMark(c.ok)} ${c.name}: <span class="muted">${c.detail}</span></li>
`)}</ul>
</div>`;
}

export function summarySection(f: ReportFacts): Safe {
  const s = f.summary;
  const period = s.period.first_inference
    ? `${s.period.epochs.join(", ")} (inferences executed ${s.period.first_inference} to ${s.period.last_inference})`
    : s.period.epochs.join(", ");
  return html`<section id="summary">
<h2>Summary</h2>
<p class="lead">${count(s.inferences)} paid inferences of model <code>${s.model.cell}</code> paid <strong>${s.fees.tokens}</strong> tokens in fees;
the statement pays out <strong>${s.paid.tokens}</strong> ${s.reconciles ? html`<span class="ok">(reconciles to the base unit)</span>` : html`<span class="bad">(DOES NOT reconcile)</span>`}.</p>
${facts([
    ["Pipeline", html`<code>${f.pipeline}</code>`],
    ["Model", html`${s.model.kind} ${shortHash(s.model.id)} (cell <code>${s.model.cell}</code>)${s.model.held_out_accuracy === null ? "" : `, held-out accuracy ${percent(s.model.held_out_accuracy, 2)}`}`],
    ["Datanets", s.datanets.map((d, i) => html`${i ? ", " : ""}<code>${d.name}</code> (${count(d.contributions)} contributions trained the model)`)],
    ["Period", period],
    ["Policy", s.policies.join(", ")],
    ["Fees", html`${s.fees.tokens} tokens <span class="muted">(${s.fees.units} base units)</span>`],
    ["Paid out", html`${s.paid.tokens} tokens <span class="muted">(${s.paid.units} base units)</span>`],
    ...(f.influence.penalised.length ? [["Penalised", penalisedSummary(f)] as [string, Safe]] : []),
  ])}
<h3>Payouts by role</h3>
${table([{ head: "role" }, { head: "recipients", cls: "num" }, { head: "tokens", cls: "num" }, { head: "base units", cls: "num" }],
    s.payouts_by_role.map((r) => [r.role, count(r.recipients), r.amount.tokens, r.amount.units]),
    ["total", "", s.paid.tokens, s.paid.units])}
</section>`;
}

/**
 * The penalties in one line, with the caveat a reviewer needs before acting on them: where they
 * all fall on data helping only the outputs that carry less of the influence mass (stability.ts).
 */
function penalisedSummary(f: ReportFacts): Safe {
  const i = f.influence;
  const scope = scopeNamer(f);
  const bound = (i.penalty_sides ?? []).map((e) => ({ at: scope(e).at, hit: massBoundPenalties(e) })).filter((e) => e.hit);
  const n = i.penalised.length;
  const over = i.penalties_paid ? "over a model's inferences in an epoch: no pay from them" : "over an epoch: no pay from it";
  return html`${count(n)} ${n === 1 ? "penalty" : "penalties"} (net influence negative ${over}; <a href="#opponents">opponents</a>)${bound.map((e) =>
    html`; in ${e.at} each falls on data that helps only the ${e.hit!.map((h) => `${h.prediction} predictions (${percent(h.mass_share)} of the influence mass)`).join(", ")}: a sign that follows where the mass sits`)}`;
}
