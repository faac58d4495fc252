import type { ReportFacts, RetrainFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, percent, quote, shortHash, table } from "../format.ts";

const pct = (x: number | null) => (x === null ? "n/a" : percent(x));
const loss = (x: number | null) => (x === null ? "n/a" : x.toFixed(4));

/**
 * What the model's last retrain changed: why the model that executed later inferences is not the
 * one that executed earlier ones. A curator's decision is the usual cause, and its record says who
 * and why; the held-out predictions that changed say what it did to the model's behaviour.
 */
export function retrainSection(f: ReportFacts): Safe {
  const r = f.retrain;
  if (!r) return html``; // no retrain-diff cell, no retrain, or written before the section existed
  const own = r.rows.filter((x) => x.scope === "model");
  const base = r.rows.filter((x) => x.scope === "base");
  const n = (list: RetrainFacts["rows"], change: string) => list.filter((x) => x.change === change).length;
  const settings = r.settings.filter((s) => s.field !== "base");
  return html`<section id="retrain">
<h2>What the last retrain changed</h2>
<p>This model (${shortHash(r.model_b)}${r.trained_b ? `, trained ${r.trained_b}` : ""}) superseded ${shortHash(r.model_a)}${r.trained_a ? ` (trained ${r.trained_a})` : ""}, as the pipeline's <code>${r.cell}</code> cell records:
${count(n(own, "left"))} training row${n(own, "left") === 1 ? "" : "s"} left and ${count(n(own, "entered"))} entered (${count(r.rows_a)} → ${count(r.rows_b)})${base.length ? html`; the base was retrained too (${count(n(base, "left"))} of its rows left, ${count(n(base, "entered"))} entered)` : ""}.
On the ${count(r.compared)} held-out rows, accuracy ${pct(r.accuracy_a)} → ${pct(r.accuracy_b)} and mean loss ${loss(r.loss_a)} → ${loss(r.loss_b)}; ${count(r.changed)} prediction${r.changed === 1 ? "" : "s"} changed.
${settings.length ? html`Settings that differ: ${settings.map((s) => `${s.field} ${s.a} → ${s.b}`).join("; ")}.` : "No setting differs: the rows alone changed the model."}
Inferences executed by the earlier model keep the lines settled for them.</p>
${r.rows.length ? table([{ head: "" }, { head: "in" }, { head: "contribution" }, { head: "contributor", cls: "wrap" }, { head: "label" }, { head: "last record", cls: "wrap" }, { head: "text", cls: "wrap" }],
    r.rows.map((x) => [x.change, x.scope === "base" ? "base" : "adapter", shortHash(x.contribution), x.contributor, x.label ?? "",
      x.verdict ? html`${x.verdict} by ${x.validator ?? "?"}<br><span class="muted">${x.decided_at ?? ""}</span>${x.reason ? html`<br>${x.reason}` : ""}` : html`<span class="muted">none</span>`, quote(x.text)])) : ""}
${r.outputs.length ? html`<p>The held-out predictions that changed${r.changed > r.outputs.length ? ` (the first ${r.outputs.length} of ${count(r.changed)}, the largest fall first)` : ", the largest fall first"}:</p>
${table([{ head: "contribution" }, { head: "label" }, { head: "prediction" }, { head: "p of the earlier prediction", cls: "num" }, { head: "text", cls: "wrap" }],
    r.outputs.map((o) => [shortHash(o.contribution), o.label ?? "", `${o.prediction_a} → ${o.prediction_b}`, `${o.p_a.toFixed(3)} → ${o.p_b_of_a.toFixed(3)}`, quote(o.text)]))}` : ""}
</section>`;
}
