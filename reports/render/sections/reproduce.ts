import type { ReportFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { facts, hash, table } from "../format.ts";

export function reproduceSection(f: ReportFacts, runId: string): Safe {
  const r = f.reproducibility;
  return html`<section id="reproducibility">
<h2>Reproducibility</h2>
${facts([
    ["Regenerate", html`<code>${r.command}</code>`],
    ["Verify", html`<code>npx tracebook report verify &lt;this folder&gt; --recompute 20 --seed &lt;yours&gt;</code>
      <span class="muted">(every hash and total again, and the receipts a seed of your choosing draws recomputed with TracIn from the model's checkpoints)</span>`],
    ["Run id", html`${hash(runId)} <span class="muted">(sha256 of the facts in report.json: the same facts give the same id)</span>`],
    ["Compute backend", html`<code>${r.backend.name}</code> (${r.backend.provider})`],
    ["Versions", Object.entries(r.versions).map(([k, v], i) => html`${i ? ", " : ""}${k} ${v}`)],
  ])}
<h3>Seeds</h3>
${table([{ head: "what" }, { head: "seed", cls: "num" }], r.seeds.map((s) => [s.what, s.seed]))}
<h3>Cells (fingerprint → data version)</h3>
${table([{ head: "cell" }, { head: "kind" }, { head: "fingerprint" }, { head: "data version" }], r.cells.map((c) => [html`<code>${c.cell}</code>`, c.kind, hash(c.fingerprint), hash(c.data_version)]))}
</section>`;
}
