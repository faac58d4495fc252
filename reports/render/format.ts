import { html, type Interpolation, type Safe } from "./escape.ts";

/** A hash shown in full, in a monospace face that may break anywhere (reviewers compare them). */
export function hash(h: string): Safe {
  return html`<span class="hash">${h}</span>`;
}

/** The first 12 hex characters, the full value on hover. */
export function shortHash(h: string): Safe {
  return html`<span class="mono" title="${h}">${h.slice(0, 12)}</span>`;
}

export function okMark(ok: boolean): Safe {
  return ok ? html`<span class="ok">✓</span>` : html`<span class="bad">✗</span>`;
}

export function percent(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

export function score(x: number): string {
  return x === 0 ? "0" : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4).replace(/\.?0+$/, "") : x.toExponential(3);
}

export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export interface Column {
  head: string;
  /** "num" right-aligns figures; "wrap" lets long untrusted words break; "nowrap" keeps short codes on one line. */
  cls?: "num" | "wrap" | "nowrap";
}

/** A table; every cell goes through `html`'s escaping. */
export function table(columns: Column[], rows: Interpolation[][], foot?: Interpolation[]): Safe {
  const cls = (c: Column) => (c.cls ? html` class="${c.cls}"` : "");
  return html`<table>
<thead><tr>${columns.map((c) => html`<th${cls(c)}>${c.head}</th>`)}</tr></thead>
<tbody>
${rows.map((r) => html`<tr>${r.map((v, i) => html`<td${cls(columns[i] ?? { head: "" })}>${v}</td>`)}</tr>
`)}</tbody>${foot ? html`
<tfoot><tr>${foot.map((v, i) => html`<td${cls(columns[i] ?? { head: "" })}>${v}</td>`)}</tr></tfoot>` : ""}
</table>`;
}

/** A definition list of label → value. */
export function facts(pairs: [string, Interpolation][]): Safe {
  return html`<dl class="facts">
${pairs.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>
`)}</dl>`;
}

/** A quote of contributed text: escaped by `html`, clipped by the collector, marked as untrusted for readers. */
export function quote(text: string): Safe {
  return html`<div class="quote">${text}</div>`;
}
