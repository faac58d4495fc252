import * as Plot from "@observablehq/plot";
import { html } from "htl";
import { digit } from "./digit.ts";

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
