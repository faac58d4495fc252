import { createHash } from "node:crypto";

/** The report's only stylesheet: screen and print (A4) from one file, no fonts or images fetched. */
export const STYLESHEET = `
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --rule: #d9dce1; --ok: #1e7d32; --bad: #b3261e; --band: #f5f6f8; }
* { box-sizing: border-box; }
html { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
body { margin: 0 auto; max-width: 60rem; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2.2rem 0 .6rem; padding-top: .6rem; border-top: 2px solid var(--ink); }
h3 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
p, ul, ol, dl { margin: .4rem 0 .8rem; }
.muted { color: var(--muted); }
.lead { font-size: 1.05rem; }
code, .hash, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: .86em; }
.hash { overflow-wrap: anywhere; word-break: break-all; }
.quote { overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .92rem; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid var(--rule); }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.wrap { overflow-wrap: anywhere; }
td.nowrap { white-space: nowrap; }
table.statement tr.line td { border-bottom: none; padding-bottom: 0; }
table.statement tr.why td { color: var(--muted); font-size: .82rem; padding-top: .1rem; }
tfoot td { font-weight: 600; border-top: 2px solid var(--ink); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.verdict { padding: .6rem .8rem; border-left: 4px solid var(--ok); background: var(--band); }
.verdict.failed { border-left-color: var(--bad); }
ol.chain { list-style: none; padding: 0; counter-reset: step; }
ol.chain > li { position: relative; padding: .4rem 0 .6rem 2.2rem; border-left: 2px solid var(--rule); margin-left: .8rem; }
ol.chain > li::before { counter-increment: step; content: counter(step); position: absolute; left: -.8rem; top: .35rem; width: 1.5rem; height: 1.5rem; border-radius: 50%; background: var(--ink); color: #fff; font-size: .8rem; text-align: center; line-height: 1.5rem; }
nav.toc ol { columns: 2; padding-left: 1.2rem; }
nav.toc a, a { color: inherit; }
figure { margin: .8rem 0 1.2rem; }
figcaption { color: var(--muted); font-size: .88rem; margin-top: .2rem; }
.swatch { display: inline-block; width: .8em; height: .8em; margin: 0 .25em 0 .6em; vertical-align: -.05em; border-radius: 2px; }
.swatch.contributor { background: #4e79a7; } .swatch.creator { background: #f28e2b; }
.swatch.validator { background: #59a14f; } .swatch.protocol { background: #9c755f; }
.swatch.positive { background: #4e79a7; } .swatch.negative { background: #e15759; }
svg.chart { display: block; height: auto; max-width: 100%; overflow: visible; background: #fff; }
svg.chart text, svg.chart tspan { white-space: pre; }
footer { margin-top: 3rem; color: var(--muted); font-size: .85rem; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  html { font-size: 11px; }
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure, ol.chain > li, .verdict, tr, table.statement tbody { break-inside: avoid; }
  thead { display: table-header-group; }
  tfoot { display: table-row-group; } /* a total once, at the end, not repeated on every page */
  nav.toc { display: none; }
}
`.trim();

/** 'sha256-…' of a <style> element's text, as CSP hash sources spell it. */
export function cspHash(css: string): string {
  return `'sha256-${createHash("sha256").update(css, "utf8").digest("base64")}'`;
}

/**
 * Nothing may load and nothing may run: no script source at all, no network, no frames, no
 * forms; the one stylesheet is allowed by its hash, not by 'unsafe-inline'.
 */
export function contentSecurityPolicy(css: string): string {
  // Constants and a base64 hash: no '"', so the page may place it in a double-quoted attribute as is.
  return [
    "default-src 'none'", "script-src 'none'", `style-src ${cspHash(css)}`, "img-src 'none'", "font-src 'none'",
    "connect-src 'none'", "media-src 'none'", "object-src 'none'", "frame-src 'none'", "child-src 'none'", "worker-src 'none'",
    "manifest-src 'none'", "form-action 'none'", "base-uri 'none'",
  ].join("; ");
}
