import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import type { ReportFacts } from "../facts.ts";
import { clean, trusted, type Safe } from "./escape.ts";

/** Fixed colours (Tableau 10), so a chart reads the same in every report. */
export const ROLE_COLOURS: Record<string, string> = { contributor: "#4e79a7", creator: "#f28e2b", validator: "#59a14f", protocol: "#9c755f" };
export const SIGN_COLOURS = { positive: "#4e79a7", negative: "#e15759" };
const LABEL_CHARS = 34;
const TOP = 20;

export interface Chart {
  /** A stable name: the golden file is test/output/report/<name>.svg. */
  name: string;
  title: string;
  svg: Safe;
}

/** The little of the DOM this file touches (the project compiles without the DOM lib). */
interface Node {
  readonly tagName: string;
  outerHTML: string;
  getAttributeNames(): string[];
  setAttribute(name: string, value: string): void;
  querySelectorAll(selector: string): ArrayLike<Node> & Iterable<Node>;
  remove(): void;
}

interface Bar { i: number; label: string; value: number; fill: string; text: string }

/**
 * One horizontal bar chart rendered to SVG on the server: Plot draws into a linkedom document.
 * Bars are keyed by index, not by label, so two names that read alike after clipping stay two bars.
 */
function bars(name: string, title: string, data: Bar[], x: { label: string }): Chart {
  const { document } = parseHTML("<!DOCTYPE html><html><head></head><body></body></html>");
  const labels = data.map((d) => d.label);
  const figure = Plot.plot({
    document: document as unknown as Plot.PlotOptions["document"],
    width: 720,
    height: 40 + 22 * Math.max(1, data.length),
    marginLeft: 230,
    marginRight: 150,
    x: { label: x.label, grid: true, ticks: 5, tickFormat: short },
    y: { label: null, domain: data.map((d) => d.i), tickFormat: (i: number) => labels[i] ?? "" },
    marks: [
      Plot.barX(data, { y: "i", x: "value", fill: "fill" }),
      Plot.ruleX([0]),
      // Labels start right of the bar, or right of zero for a negative bar, never on top of it.
      Plot.text(data, { y: "i", x: (d: Bar) => Math.max(d.value, 0), text: "text", textAnchor: "start", dx: 4, fill: "currentColor" }),
    ],
  }) as unknown as Node;
  // The page's stylesheet carries Plot's few rules: one <style> for the whole page keeps the
  // Content-Security-Policy to a single hash.
  for (const style of [...figure.querySelectorAll("style")]) style.remove();
  figure.setAttribute("class", "chart");
  figure.setAttribute("role", "img");
  figure.setAttribute("aria-label", title);
  assertInert(figure, name);
  return { name, title, svg: trusted(figure.outerHTML) };
}

/** Contributed names as chart labels: cleaned, and short enough for the margin. */
function label(s: string): string {
  const chars = [...clean(s)];
  return chars.length > LABEL_CHARS ? `${chars.slice(0, LABEL_CHARS - 1).join("")}…` : chars.join("");
}

/** The only elements a bar chart needs. */
const ELEMENTS = new Set(["svg", "g", "path", "line", "rect", "text", "tspan", "title"]);

/**
 * The chart renderer builds SVG from numbers and escaped labels only; this is the last check
 * that nothing active slipped into it: no element beyond what a bar chart draws (no script,
 * link, image or embedded HTML), no event handler, no URL-bearing attribute.
 */
export function assertInert(root: Node, name: string): void {
  for (const el of [root, ...root.querySelectorAll("*")]) {
    const tag = el.tagName.toLowerCase();
    if (!ELEMENTS.has(tag)) throw new Error(`chart ${name}: unexpected <${tag}> in the rendered SVG`);
    for (const a of el.getAttributeNames()) {
      if (/^on|href$|^src$|^style$/i.test(a)) throw new Error(`chart ${name}: unexpected attribute ${a} on <${tag}>`);
    }
  }
}

export function charts(f: ReportFacts): Chart[] {
  const out: Chart[] = [];
  const paid = new Map<string, { recipient: string; role: string; units: bigint; tokens: string }>();
  for (const e of f.statement) {
    for (const l of e.lines) {
      if (l.role === "model" || l.amount.units === "0") continue;
      const k = `${l.role}\u0000${l.recipient}`;
      const p = paid.get(k) ?? { recipient: l.recipient, role: l.role, units: 0n, tokens: "" };
      p.units += BigInt(l.amount.units);
      paid.set(k, p);
    }
  }
  const top = [...paid.values()].sort((a, b) => (b.units > a.units ? 1 : b.units < a.units ? -1 : a.recipient.localeCompare(b.recipient))).slice(0, TOP);
  if (top.length) {
    out.push(bars("payouts", `Payouts: the ${top.length} largest recipients`, top.map((p, i) => ({
      // A float is fine for a bar's length; the exact amount is in the label and the statement.
      i, label: label(p.recipient), value: Number(p.units) / 1e18, fill: ROLE_COLOURS[p.role] ?? "#bab0ac", text: tokens(p.units),
    })), { label: "tokens paid →" }));
  }
  const contributors = f.influence.contributors.slice(0, TOP);
  if (contributors.length) {
    out.push(bars("influence", `Net influence: ${contributors.length === f.influence.contributors_total ? "every contributor" : `the ${contributors.length} highest of ${f.influence.contributors_total} contributors`}`, contributors.map((c, i) => ({
      i, label: label(c.contributor), value: c.net_influence, fill: c.net_influence >= 0 ? SIGN_COLOURS.positive : SIGN_COLOURS.negative,
      text: `${short(c.net_influence)}${c.penalised ? " (penalised)" : ""}`,
    })), { label: "summed net influence over paid inferences →" }));
  }
  if (f.influence.datanets.length) {
    out.push(bars("datanets", "Datanets by mean share", f.influence.datanets.map((d, i) => ({
      i, label: label(d.datanet), value: d.mean_share, fill: SIGN_COLOURS.positive, text: `${(d.mean_share * 100).toFixed(1)}%`,
    })), { label: "mean share →" }));
  }
  return out;
}

/** Three significant digits, plain up to a million, exponent only below 1e-6: 0.35, 1830, 5e-16 (not eighteen overlapping zeros). */
function short(v: number): string {
  return String(Number(v.toPrecision(3)));
}

/** Tokens with at most 6 significant decimals, for a bar label (the statement has the exact amount). */
function tokens(units: bigint): string {
  const v = Number(units) / 1e18;
  return v === 0 ? "0" : v >= 0.001 ? v.toFixed(6).replace(/\.?0+$/, "") : v.toPrecision(3);
}
