import type { ReportFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { facts, shortHash, table } from "../format.ts";

export function methodSection(f: ReportFacts): Safe {
  const m = f.methodology;
  return html`<section id="methodology">
<h2>Methodology</h2>
<p>${m.method}. Every paid inference is traced back to the training contributions by the dot products of their loss gradients, summed over the model's checkpoints:</p>
<p class="mono">${m.influence}<br>${m.self_influence}</p>
${facts([
    ["Normalisation", m.normalisation],
    ...(m.loss_gradient ? [["Loss gradient", m.loss_gradient] as [string, string]] : []),
    ["Shares", m.shares],
    ["Mode", html`<code>${m.mode}</code>${m.mode === "exact" ? " (full per-example gradients of every trainable layer)" : m.mode === "last-layer" ? " (the head's gradients only)" : " (each gradient factor randomly projected)"}`],
    ["Target", html`<code>${m.target}</code>${m.target === "predicted" ? " (explains the output the model gave)" : " (the query's own label)"}`],
    ["Kept per inference", `the top ${m.top_k} proponents and opponents, and one net score per contributor and Datanet`],
    ["Projection", m.projection ? `dimension ${m.projection.dim}, seed ${m.projection.seed}` : "none (exact gradients, no random projection, so no projection seed)"],
  ])}
<h3>Checkpoints summed over</h3>
${table([{ head: "checkpoint", cls: "num" }, { head: "step", cls: "num" }, { head: "epoch", cls: "num" }, { head: "η_k (learning rate)", cls: "num" }, { head: "file sha256" }],
    m.checkpoints.map((c) => [c.index, c.step, c.epoch, c.learning_rate, shortHash(c.sha256)]))}
<h3>Known limits of gradient-dot-product attribution</h3>
<ul>
${m.known_limits.map((l) => html`<li>${l}</li>
`)}</ul>
</section>`;
}
