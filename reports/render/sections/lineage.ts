import type { ModelFacts, ReportFacts } from "../../facts.ts";
import { html, type Safe } from "../escape.ts";
import { count, hash, okMark, table } from "../format.ts";

function files(m: ModelFacts): Safe {
  return table([{ head: "file" }, { head: "sha256 (recomputed)" }, { head: "= manifest" }],
    m.files.map((x) => [html`<code>${x.file}</code>`, hash(x.sha256), okMark(x.matches_manifest)]));
}

/**
 * How the settled inferences came in. A workload cell's replay from its seed; a caller's (cli,
 * api) exist only as the ledger recorded them, which a reviewer re-running elsewhere should know.
 */
function sources(list: ReportFacts["lineage"]["ledger"]["sources"]): Safe | string {
  if (!list?.length) return "";
  const callers = list.filter((x) => !x.source.startsWith("workload:")).reduce((n, x) => n + x.inferences, 0);
  return html` (${list.map((x, i) => html`${i ? ", " : ""}${count(x.inferences)} from <code>${x.source}</code>, fees ${x.fees.tokens}`)})${callers
    ? callers === 1
      ? html`. The 1 paid by a caller rather than a seeded workload exists only as the ledger recorded it: a rerun elsewhere replays the workloads, not it`
      : html`. The ${count(callers)} paid by callers rather than a seeded workload exist only as the ledger recorded them: a rerun elsewhere replays the workloads, not them`
    : ""}`;
}

/** Receipts made before the loss gradient was summed: a reviewer recomputes them as they were made. */
function madeBefore(g: ReportFacts["lineage"]["receipts"]["loss_gradients"]): Safe | string {
  if (!g?.subtracted) return "";
  return html`<br>${count(g.subtracted)} of them were made before attribution version 3, with the loss gradient's target entry as p_target − 1 (they say no <code>attribution.loss_gradient</code>), and are recomputed that way`;
}

/** The receipts every reward line cites, earlier models' too, as the workspace's archive keeps them. */
function archive(a: ReportFacts["lineage"]["receipts"]["archive"]): Safe | string {
  if (!a) return "";
  const ok = a.archived === a.cited && a.recomputed === a.archived;
  return html`<br>${okMark(ok)} ${count(a.recomputed)} of the ${count(a.cited)} receipts the reward lines cite (earlier models' inferences too) are in the workspace's archive and recompute from their JSON${
    a.archived < a.cited ? html`: <span class="bad">${count(a.cited - a.archived)} are nowhere</span>` : ""}`;
}

/** From the money back to the data, one link per step, each with the hash a reviewer can recompute. */
export function lineageSection(f: ReportFacts): Safe {
  const l = f.lineage;
  return html`<section id="lineage">
<h2>Lineage</h2>
<p>Each step names the one before it by hash. Every hash below was computed again from the files and tables when this report was generated; <code>report verify</code> computes them once more.</p>
<ol class="chain">
<li><strong>Reward lines</strong> (cell <code>${l.reward_lines.cell}</code>): ${count(l.reward_lines.count)} lines (one per inference and recipient), each citing its receipt. Merkle root ${hash(l.reward_lines.root)}</li>
<li><strong>Inference ledger</strong>: ${count(l.ledger.inferences)} settled inferences${sources(l.ledger.sources)}. Merkle root of their records (id, model, payload hash, prediction, fee, caller, epoch, time) ${hash(l.ledger.root)}${l.ledger.unsettled ? html`<br><span class="bad">${count(l.ledger.unsettled)} other inferences of this pipeline in these epochs were recorded but not settled by the reward cell.</span>` : ""}</li>
<li><strong>Attribution receipts</strong> (cell <code>${l.receipts.cell}</code>): ${count(l.receipts.count)} receipts, ${okMark(l.receipts.mismatched === 0)} ${count(l.receipts.recomputed)} hashes recompute from their JSON and name the model${l.receipts.missing ? html`, <span class="bad">${count(l.receipts.missing)} settled inferences cite no stored receipt</span>` : ""}. Merkle root ${hash(l.receipts.root)}${madeBefore(l.receipts.loss_gradients)}${archive(l.receipts.archive)}${l.receipts.attribution
  ? html`<br>${okMark(l.receipts.attribution.ok)} TracIn run again from the checkpoints and the training rows for ${count(l.receipts.attribution.sampled)} of ${count(l.receipts.attribution.of)} receipts (drawn with seed ${l.receipts.attribution.seed}): ${l.receipts.attribution.detail}` : ""}</li>
<li><strong>Model</strong> (${l.model.kind}, cell <code>${l.model.cell}</code>): ${hash(l.model.id)}${l.adapter ? html`<br>LoRA adapter: rank ${l.adapter.rank}, α ${l.adapter.alpha}, on ${l.adapter.targets.join(", ")}, plus its own head` : ""}<br>manifest.json sha256 ${hash(l.model.manifest_sha256)}
${files(l.model)}</li>
${l.base ? html`<li><strong>Base model</strong> (frozen, cell <code>${l.base.cell}</code>): ${hash(l.base.id)}<br>manifest.json sha256 ${hash(l.base.manifest_sha256)}
${files(l.base)}</li>
` : ""}<li><strong>Checkpoints</strong> of the model (the trajectory TracIn sums over):
${table([{ head: "#", cls: "num" }, { head: "step", cls: "num" }, { head: "η", cls: "num" }, { head: "sha256 (recomputed)" }, { head: "= manifest" }],
    l.checkpoints.map((c) => [c.index, c.step, c.learning_rate, hash(c.sha256), okMark(c.matches_manifest)]))}</li>
<li><strong>Snapshot root</strong>: ${hash(l.snapshot.root)}<br>${okMark(l.snapshot.root === l.snapshot.recomputed_root)} recomputed from the model's list of ${count(l.contributions.count)} contributions (Merkle root of sha256(Datanet, content hash)): ${hash(l.snapshot.recomputed_root)}</li>
<li><strong>Contributions</strong>: <code>contributions.json</code> sha256 ${hash(l.contributions.file_sha256)}
${table([{ head: "Datanet" }, { head: "contributions", cls: "num" }, { head: "no longer approved", cls: "num" }],
    l.contributions.by_datanet.map((d) => [html`<code>${d.datanet}</code>`, count(d.count), d.not_approved_now ? html`<span class="bad">${count(d.not_approved_now)}</span>` : "0"]))}</li>
</ol>
</section>`;
}
