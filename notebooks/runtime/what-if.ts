import * as Plot from "@observablehq/plot";
import { html } from "htl";
import type { WhatIfAnswer, WhatIfRequest } from "../../cells/notebooks/wire.ts";
import { endpoint } from "./curation.ts";

export type { WhatIfAnswer, WhatIfRequest } from "../../cells/notebooks/wire.ts";

export interface AnswerOptions {
  width: number;
  /** Where a query's link goes (default: this page's `#query=…`, as the Influence explorer reads it). */
  queryHref?: (query: string) => string;
  /** The element ids' prefix (default "what-if"): two panels on one page need two. */
  id?: string;
  /** A query to answer for first: did this one prediction hold? */
  focus?: string;
  /** How a flipped query is shown when it has no text (feature Datanets: the page draws the image). */
  picture?: (query: string) => Node | null;
}

export interface Counterfactuals {
  /** Whether this page can ask: served by `tracebook dev` (a static build cannot retrain). */
  readonly available: boolean;
  /** Retrain the pipeline's model without the contributions named and compare; rejects with an error naming the field at fault. */
  ask(request: WhatIfRequest): Promise<WhatIfAnswer>;
  /** The answer as a card: accuracy with and without, the flips, TracIn's estimate against the retrain, and what the retrain does not cover. */
  answer(a: WhatIfAnswer, options: AnswerOptions): HTMLElement;
  /** A button that asks (with an optional seed check) and draws the answer below it; `request` null keeps it disabled. */
  panel(options: PanelOptions): HTMLElement;
}

export interface PanelOptions extends AnswerOptions {
  label: string;
  request: Omit<WhatIfRequest, "seedCheck"> | null;
  /** What the reader waits for, shown while the retrain runs. */
  waiting: string;
}

/** The seed a page's seed check retrains under: not the demo pipelines' own (7). */
const SEED_CHECK = 101;

/** The `counterfactuals` builtin: what-if questions through the dev server's JSON API (`tracebook what-if`). */
export function counterfactuals(base: string): Counterfactuals {
  const { available, post: ask } = endpoint<WhatIfRequest, WhatIfAnswer>(base, "what-if", "retrain");
  return {
    available,
    ask,
    answer: answerCard,
    panel(o) {
      const id = o.id ?? "what-if";
      const el = html`<div>
        <div class="tb-decide">
          <button id=${`${id}-run`} disabled=${!available || !o.request}>${o.label}</button>
          <label><input type="checkbox" id=${`${id}-seed`}> also retrain under another seed, nothing left out (how much a seed alone moves)</label>
          <span class="tb-status">${available ? "" : "a static build cannot retrain: run `tracebook dev`"}</span>
        </div>
        <div class="tb-answer"></div>
      </div>` as HTMLElement;
      const button = el.querySelector<HTMLButtonElement>(`#${id}-run`)!, status = el.querySelector<HTMLElement>(".tb-status")!;
      const answer = el.querySelector<HTMLElement>(".tb-answer")!, seed = el.querySelector<HTMLInputElement>(`#${id}-seed`)!;
      button.onclick = async () => {
        if (!o.request) return;
        button.disabled = true;
        status.className = "tb-status";
        status.textContent = o.waiting;
        answer.replaceChildren();
        try {
          const a = await ask({ ...o.request, ...(seed.checked ? { seedCheck: SEED_CHECK } : {}) });
          status.textContent = "";
          answer.replaceChildren(answerCard(a, o));
        } catch (err) {
          status.className = "tb-status tb-refused";
          status.textContent = (err as Error).message;
        } finally {
          button.disabled = false;
        }
      };
      return el;
    },
  };
}

type Summary = {
  removed_contributions: number; removed_in_base: number | null; model_id: string; retrain_seconds: number;
  measured_on: string; measured_rows: number; accuracy_before: number | null; accuracy_after: number | null; accuracy_seed: number | null;
  loss_before: number | null; loss_after: number | null; loss_seed: number | null;
  flips: number; flips_seed: number | null; flips_found: number; spearman: number | null;
};
type Query = {
  query: string; prediction_before: string; prediction_after: string; p_before: number; p_after: number;
  delta_loss: number; estimate: number; flipped: boolean; text: string | null;
};

const pct = (v: number | null) => (v == null ? "n/a" : `${(100 * v).toFixed(1)}%`);
const num = (v: number | null) => (v == null ? "n/a" : v.toFixed(4));

// Contribution text is untrusted (real spam carries HTML and script): htl puts it in text nodes, never parses it.
function answerCard(a: WhatIfAnswer, { width, queryHref = (q) => `#query=${q}`, id = "what-if", focus, picture }: AnswerOptions): HTMLElement {
  const s = a.summary as unknown as Summary;
  const queries = a.queries as unknown as Query[];
  const seed = s.flips_seed != null;
  const flipped = queries.filter((q) => q.flipped);
  const setAside = a.setAside ?? [];
  const mine = focus === undefined ? undefined : queries.find((q) => q.query === focus);
  return html`<div id=${`${id}-answer`}>
    ${mine ? html`<p id=${`${id}-focus`}><b>This inference ${mine.flipped ? "flips" : "holds"}</b>: <span class="tb-badge tb-${mine.prediction_before}">${mine.prediction_before}</span>
      p ${mine.p_before.toFixed(3)} → ${mine.flipped ? html`<span class="tb-badge tb-${mine.prediction_after}">${mine.prediction_after}</span> ` : ""}p(${mine.prediction_before}) ${mine.p_after.toFixed(3)}
      (the rise of its loss: TracIn estimated ${mine.estimate.toFixed(4)}, the retrain gives ${mine.delta_loss.toFixed(4)}).</p>` : ""}
    <p>${s.removed_contributions.toLocaleString()} training rows left out; model <code>${String(s.model_id).slice(0, 12)}</code> retrained
      ${a.fresh ? "earlier (the same question: reused)" : `in ${s.retrain_seconds.toFixed(1)} s`}.</p>
    ${setAside.length ? html`<p class="tb-meta" id=${`${id}-set-aside`}>${setAside.length} of the contributions asked about did not train this model (held out, or not approved),
      so nothing of them was left out: ${setAside.slice(0, 5).map((i) => html`<code>${i.slice(0, 12)}</code> `)}${setAside.length > 5 ? "…" : ""}</p>` : ""}
    ${s.removed_in_base ? html`<p class="tb-meta" id=${`${id}-base`}>${s.removed_in_base} of the left-out rows also trained the base model, which the retrain keeps
      as it is: this is the adapter's part of their effect.</p>` : ""}
    ${s.measured_rows ? html`<table class="tb-table"><thead><tr><th></th><th>with</th><th>without</th>${seed ? html`<th>another seed, nothing left out</th>` : ""}</tr></thead><tbody>
      <tr><td>accuracy on ${s.measured_on} (${s.measured_rows} rows)</td><td>${pct(s.accuracy_before)}</td><td id=${`${id}-accuracy`}>${pct(s.accuracy_after)}</td>${seed ? html`<td>${pct(s.accuracy_seed)}</td>` : ""}</tr>
      <tr><td>mean loss</td><td>${num(s.loss_before)}</td><td>${num(s.loss_after)}</td>${seed ? html`<td>${num(s.loss_seed)}</td>` : ""}</tr>
    </tbody></table>` : html`<p id=${`${id}-unlabelled`}>No labelled rows to measure accuracy on (the model cell has no <code>heldOut</code> input): the predictions are compared one by one below.</p>`}
    <p><b id=${`${id}-flips`}>${s.flips}</b> of ${queries.length} predictions flip${seed ? ` (a seed change alone flips ${s.flips_seed})` : ""}.
      TracIn's estimate against the retrain's change of each prediction's loss: Spearman <b id=${`${id}-spearman`}>${s.spearman == null ? "n/a" : s.spearman.toFixed(3)}</b>${s.flips
        ? `; ${s.flips_found} of the ${s.flips} flips are among the ${s.flips} predictions it expected to weaken most` : ""}.</p>
    ${Plot.plot({
      width: Math.min(width, 640), height: 280, grid: true,
      x: { label: "TracIn's estimate (no retrain) →" }, y: { label: "↑ the prediction's loss rose by (retrain)" },
      color: { domain: [false, true], range: ["#9aa5b1", "#c4543a"], legend: true, tickFormat: (f: boolean) => (f ? "flipped" : "kept") },
      marks: [Plot.ruleX([0]), Plot.ruleY([0]), Plot.dot(queries, { x: "estimate", y: "delta_loss", fill: "flipped", r: 2.5, tip: true,
        title: (q: Query) => `${q.prediction_before} → ${q.prediction_after} · ${String(q.text ?? "").slice(0, 80)}` })],
    })}
    ${flipped.length ? html`<ol class="tb-list" id=${`${id}-flipped`}>${flipped.slice(0, 30).map((q) => html`<li>
      <div class="tb-meta"><a href=${queryHref(q.query)}><code>${q.query.slice(0, 12)}</code></a> · <span class="tb-badge tb-${q.prediction_before}">${q.prediction_before}</span>
        → <span class="tb-badge tb-${q.prediction_after}">${q.prediction_after}</span> · p ${q.p_before.toFixed(3)} → ${q.p_after.toFixed(3)} · estimate ${q.estimate.toExponential(2)}</div>
      ${q.text ? html`<div class="tb-text">${q.text}</div>` : picture?.(q.query) ?? ""}</li>`)}</ol>` : ""}
  </div>` as HTMLElement;
}
