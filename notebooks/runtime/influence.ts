import * as Plot from "@observablehq/plot";
import { html } from "htl";
import { digit } from "./digit.ts";
import type { ChangedOutput } from "../../cells/notebooks/wire.ts";

/** A proponent or opponent as the pages list it: a tracin table's row, or an explanation's. */
export interface ListedContribution {
  rank: number;
  contribution: string;
  contributor: string;
  score: number;
  text: string;
  /** Its label, where the page knows it (explanations do). */
  label?: string;
}

/**
 * Proponents or opponents as a list: rank, contributor, label, score and id, then the text (or,
 * for a feature Datanet, the image `images` holds for it). Contribution text is untrusted (real
 * spam carries HTML and script): htl puts it in text nodes, never parses it.
 */
export function contributionList(list: readonly ListedContribution[], o: { id: string; images?: ReadonlyMap<string, ArrayLike<number>> }): HTMLElement {
  if (!list.length) return html`<p class="tb-meta" id=${o.id}>none</p>` as HTMLElement;
  return html`<ol class="tb-list" id=${o.id}>${list.map((r) => html`<li>
    <div class="tb-meta">#${Math.abs(r.rank)} · ${r.contributor}${r.label === undefined ? "" : ` · labelled ${r.label}`} · score ${r.score.toExponential(3)} · <code>${r.contribution.slice(0, 12)}</code></div>
    ${o.images?.has(r.contribution) ? digit(o.images.get(r.contribution)!) : html`<div class="tb-text">${r.text}</div>`}
  </li>`)}</ol>` as HTMLElement;
}

/**
 * The predictions a retrain changed, the first `shown`: id, label, a → b and how far a's
 * prediction fell, a "why?" link to Explain an input on that contribution (held-out rows are
 * contributions: what speaks for its label, what against), then the text, or for a feature
 * Datanet the image `images` holds for it; `more` says how to see the rest. Text is untrusted.
 */
export function changedPredictions(list: readonly ChangedOutput[], o: { id: string; more: string; shown?: number; images?: ReadonlyMap<string, ArrayLike<number>> }): HTMLElement {
  const shown = o.shown ?? 20;
  return html`<div><ol class="tb-list" id=${o.id}>${list.slice(0, shown).map((c) => html`<li data-id=${c.id}>
    <div class="tb-meta"><code>${c.id.slice(0, 12)}</code> · label <span class="tb-badge tb-${c.label}">${c.label}</span> · <b>${c.a} → ${c.b}</b>
      · p(${c.a}) ${c.pA.toFixed(3)} → ${c.pBofA.toFixed(3)} · <a class="tb-explain" href=${`explain-an-input${location.search}#contribution=${c.id}`}>why? →</a></div>
    ${o.images?.has(c.id) ? digit(o.images.get(c.id)!, 2) : html`<div class="tb-text">${c.text}</div>`}</li>`)}</ol>
    ${list.length > shown ? html`<p class="tb-meta">… and ${list.length - shown} more: <code>${o.more}</code></p>` : ""}</div>` as HTMLElement;
}

/**
 * Each contributor's net influence on one output as bars (blue helped, red pulled against), with
 * the share of the positive influence printed beside the positive ones: how a contributor pool splits.
 */
export function shareChart(rows: readonly { contributor: string; score: number; share: number | null }[], o: { width: number; label: string }): Element {
  return Plot.plot({
    width: o.width,
    height: Math.max(120, 22 * rows.length + 40),
    marginLeft: 280,
    marginRight: 60,
    x: { label: o.label, grid: true, tickFormat: "~g" },
    y: { label: null },
    color: { domain: ["positive", "negative"], range: ["#3b7dd8", "#c4543a"], legend: true },
    marks: [
      Plot.barX(rows, { x: "score", y: "contributor", fill: (d) => (d.score > 0 ? "positive" : "negative"), sort: { y: "-x" }, tip: true }),
      Plot.text(rows.filter((d) => (d.share ?? 0) > 0), { x: "score", y: "contributor", text: (d) => `${(d.share! * 100).toFixed(1)}%`, dx: 4, textAnchor: "start", fontSize: 11 }),
      Plot.ruleX([0]),
    ],
  });
}
