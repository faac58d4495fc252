import type { ReportFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, quote, score, shortHash, table } from "../format.ts";

/** What curation says about the data behind the payouts. */
export function qualitySection(f: ReportFacts): Safe {
  const q = f.quality;
  return html`<section id="quality">
<h2>Data-quality flags</h2>
<h3>Curation decisions</h3>
${table([{ head: "Datanet" }, { head: "verdict" }, { head: "records", cls: "num" }], q.decisions.map((d) => [html`<code>${d.datanet}</code>`, d.verdict, count(d.count)]))}
${q.flagged.length ? html`<p>The ${q.flagged.length === 1 ? "decision" : `${q.flagged.length} latest decisions`} that did not approve a contribution:</p>
${table([{ head: "contribution" }, { head: "contributor", cls: "wrap" }, { head: "verdict" }, { head: "by", cls: "wrap" }, { head: "reason", cls: "wrap" }, { head: "text", cls: "wrap" }],
    q.flagged.map((d) => [shortHash(d.contribution), d.contributor, d.verdict, html`${d.validator}<br><span class="muted">${d.rule} · ${d.decided_at}</span>`, d.reason, quote(d.text)]))}` : html`<p>No contribution was rejected, quarantined or flagged.</p>`}
<h3>Trained on, no longer approved</h3>
${q.trained_then_changed.length ? html`<p class="bad">These contributions trained the model and have since been rejected, quarantined or removed; the model and its payouts still reflect them until it is retrained.</p>
${table([{ head: "contribution" }, { head: "contributor", cls: "wrap" }, { head: "status now" }, { head: "text", cls: "wrap" }],
    q.trained_then_changed.map((c) => [shortHash(c.contribution), c.contributor, c.status, quote(c.text)]))}` : html`<p>None: every contribution that trained the model is still approved.</p>`}
<h3>Duplicates and pending rows</h3>
${table([{ head: "Datanet" }, { head: "submissions", cls: "num" }, { head: "duplicate submissions", cls: "num" }, { head: "pending (uncurated)", cls: "num" }],
    q.duplicates.map((d) => [html`<code>${d.datanet}</code>`, count(d.submissions), count(d.duplicates), count(q.pending.find((p) => p.datanet === d.datanet)?.count ?? 0)]))}
<p class="muted">A duplicate submission is kept in the record but never earns twice: a contribution's id is its content hash.</p>
<h3>Highest self-influence</h3>
${q.self_influence.length ? html`<p class="muted">Σ_k η_k ‖∇ℓ(θ_k, z)‖²: training rows the model found hardest to fit. Often mislabelled or atypical; worth a curator's look.</p>
${table([{ head: "contribution" }, { head: "contributor", cls: "wrap" }, { head: "label" }, { head: "self-influence", cls: "num" }, { head: "text", cls: "wrap" }],
    q.self_influence.map((s) => [shortHash(s.contribution), s.contributor, s.label, score(s.score), quote(s.text)]))}` : html`<p>The pipeline has no self-influence cell for this model.</p>`}
</section>`;
}
