import type { EpochStatement, ReportFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, hash, okMark, shortHash, table } from "../format.ts";

/**
 * One epoch's statement. Each recipient's line carries its largest reasons on a row of its own
 * (in a column they would squeeze the amounts a reviewer came to read); the two rows share a
 * <tbody>, so a printed page never separates them.
 */
function epochTable(e: EpochStatement): Safe {
  const lines = e.lines.filter((l) => l.role !== "model");
  return html`<table class="statement">
<thead><tr><th>recipient</th><th>role</th><th class="num">tokens</th><th class="num">inferences</th><th>= lines</th></tr></thead>
${lines.map((l) => html`<tbody><tr class="line"><td class="wrap">${l.recipient}</td><td>${l.role}</td><td class="num">${l.amount.tokens}</td><td class="num">${count(l.inferences)}</td><td>${l.amount.units === l.lines_total.units ? okMark(true) : html`${okMark(false)} lines sum to ${l.lines_total.tokens}`}</td></tr>
<tr class="why"><td colspan="5" class="wrap">${l.reason}</td></tr></tbody>
`)}<tfoot><tr><td>total</td><td></td><td class="num">${e.paid.tokens}</td><td class="num">${count(e.inferences)}</td><td>${okMark(e.reconciles)} fees ${e.fees.tokens}</td></tr></tfoot>
</table>`;
}

/** Per epoch, every recipient with the exact amount, beside the sum of their reward lines; totals against the fees. */
export function statementSection(f: ReportFacts): Safe {
  return html`<section id="statement">
<h2>Reward statement</h2>
<p>Amounts are exact tokens (18 decimals). "= lines" checks each total against the sum of that recipient's reward lines, one per inference; below each recipient, its largest lines and why they were paid.</p>
${f.statement.map((e) => html`<h3>Epoch ${e.epoch} <span class="muted">(policy ${e.policy}, ${count(e.inferences)} inferences)</span></h3>
<p>Fees ${e.fees.tokens} tokens (${e.fees.units} base units); paid out ${e.paid.tokens} tokens (${e.paid.units} base units):
${e.reconciles ? html`<span class="ok">reconciles to the base unit</span>` : html`<span class="bad">DOES NOT reconcile</span>`}.</p>
${closureNote(e, f.pipeline)}
${epochTable(e)}`)}
</section>`;
}

/** Whether an epoch's statement is final: closed (with the root its lines hash to) or open, so a run may still change it. */
function closureNote(e: EpochStatement, pipeline: string): Safe {
  const c = e.closure;
  if (!c) return html`<p class="muted closure" id="closure-${e.epoch}">Open: provisional. Until the epoch is closed (<code>tracebook rewards … --epoch ${e.epoch} --close</code>) a run of the reward split may change these lines.</p>`;
  const same = c.recomputed_root === c.lines_root && c.recomputed_lines === c.lines;
  return html`<p class="closure" id="closure-${e.epoch}"><strong>Closed</strong> ${c.closed_at} by ${c.closed_by}: final. Its ${count(c.lines)} reward lines (every policy's) hash to ${hash(c.lines_root)}
${same ? html`<span class="ok">and still do</span>` : html`<span class="bad">but now ${count(c.recomputed_lines)} lines hash to ${hash(c.recomputed_root)}: changed since it was closed</span>`}.
A recipient checks its own lines against this root, with nothing but a proof file: <code>tracebook proof ${pipeline} --recipient &lt;name&gt; --epoch ${e.epoch}</code>, then <code>tracebook proof verify &lt;file&gt; --report &lt;this folder&gt;</code> (or <code>--root ${c.lines_root}</code>).</p>`;
}

export function neverExecutedSection(f: ReportFacts): Safe {
  return html`<section id="never-executed">
<h2>Models never executed</h2>
${f.never_executed.length ? html`<p>Nothing earns for existing: these models of the pipeline served no paid inference in the period, so they and their data earned nothing.</p>
${table([{ head: "epoch", cls: "nowrap" }, { head: "model" }, { head: "cell" }, { head: "reason", cls: "wrap" }],
    f.never_executed.map((m) => [m.epoch, m.model_id ? shortHash(m.model_id) : m.recipient, m.cell ?? "", m.reason]))}` : html`<p>None: every model of the pipeline served paid inferences.</p>`}
</section>`;
}
