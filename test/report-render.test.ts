import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderHtml } from "../reports/render/page.ts";
import { charts } from "../reports/render/charts.ts";
import { clean, escapeHtml, html } from "../reports/render/escape.ts";
import { contentSecurityPolicy, cspHash, STYLESHEET } from "../reports/render/style.ts";
import { REPORT_FORMAT, runIdOf, type ReportDocument, type ReportFacts } from "../reports/facts.ts";
import { reportErrors } from "../reports/schema.ts";
import { sha256 } from "../cells/graph/fingerprint.ts";
import { golden } from "./helpers/golden.ts";

// Golden files, in the manner of Observable Framework (test/input → test/output) and Observable
// Plot's snapshot tests: a missing expected file is written (except in CI); a mismatch writes
// <name>-changed.<ext> beside it and fails, so the difference can be opened and compared.
const INPUT = path.resolve("test/input/report/pay.facts.json");
const OUTPUT = path.resolve("test/output/report");

/**
 * Plot's rule for SVG snapshots: numbers to one decimal (float noise across platforms must not
 * fail a test), one element per line for readable diffs.
 */
function normaliseSvg(svg: string): string {
  return svg.replace(/\d+\.\d+/g, (d) => (+d).toFixed(1)).replace(/>\s*</g, ">\n<");
}

/** The page without its charts (each has its own golden SVG), one tag per line. */
function normaliseHtml(page: string): string {
  let n = 0;
  return page.replace(/<svg\b[\s\S]*?<\/svg>/g, () => `<svg data-golden="chart ${++n}"></svg>`).replace(/>\s*</g, ">\n<");
}

const facts = JSON.parse(fs.readFileSync(INPUT, "utf8")) as ReportFacts;

describe("report rendering (golden files)", () => {
  it("renders the fixed pipeline's facts to the golden page", () => {
    const page = renderHtml(facts, runIdOf(facts));
    expect(golden(OUTPUT, "pay.html", normaliseHtml(page)), "pay.html must match its golden file (see pay-changed.html)").toBe(true);
  });

  it("renders each chart to its golden SVG", () => {
    const rendered = charts(facts);
    expect(rendered.map((c) => c.name)).toEqual(["payouts", "influence", "datanets"]);
    // Every chart is compared (and its -changed file written) before the test fails.
    const mismatched = rendered.filter((c) => !golden(OUTPUT, `pay-${c.name}.svg`, `${normaliseSvg(c.svg.markup)}\n`, normaliseSvg)).map((c) => `pay-${c.name}-changed.svg`);
    expect(mismatched, "charts must match their golden SVG files").toEqual([]);
  });

  it("is a pure function of the facts: same facts, same bytes", () => {
    expect(renderHtml(facts, runIdOf(facts))).toBe(renderHtml(structuredClone(facts), runIdOf(facts)));
  });

  it("validates report.json built from the facts against reports/report.schema.json, and rejects broken ones", () => {
    const page = renderHtml(facts, runIdOf(facts));
    const doc: ReportDocument = { format: REPORT_FORMAT, run_id: runIdOf(facts), files: { "index.html": sha256(page) }, facts };
    expect(reportErrors(doc)).toEqual([]);
    const broken = structuredClone(doc);
    broken.facts.statement[0]!.fees.units = "1.5";
    (broken.facts.summary as Record<string, unknown>).extra = true;
    delete (broken.facts as Partial<ReportFacts>).checks;
    const errors = reportErrors(broken);
    expect(errors).toEqual(expect.arrayContaining([
      expect.stringMatching(/^\/facts\/statement\/0\/fees\/units: must match pattern/),
      expect.stringMatching(/^\/facts\/summary: must NOT have additional properties/),
      expect.stringMatching(/^\/facts: must have required property 'checks'/),
    ]));
  });

  it("carries a strict Content-Security-Policy that allows its one stylesheet by hash", () => {
    const page = renderHtml(facts, runIdOf(facts));
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(page)?.[1];
    expect(csp).toBe(contentSecurityPolicy(STYLESHEET));
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'none'");
    expect(csp).not.toContain("unsafe");
    const styles = [...page.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(styles.map(cspHash)).toEqual([cspHash(STYLESHEET)]);
    expect(page).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
  });
});

describe("how far the scores can be trusted", () => {
  const section = (f: ReportFacts) => /<section id="trust">[\s\S]*?<\/section>/.exec(renderHtml(f, runIdOf(f)))?.[0] ?? "";

  it("says plainly when no quality evaluation has run for the model, and names the command", () => {
    const f = structuredClone(facts);
    f.trust = { ...f.trust!, other_models: 2, loco: null, lds: null, mislabel: null, counterfactuals: [] };
    const s = section(f);
    expect(s).toContain("No quality evaluation has been run for this model");
    expect(s).toContain("Run <code>npx tracebook run pay-quality</code>");
    expect(s).toContain("quality evaluations of 2 other models");
    expect(s).toContain("None has been asked: <code>npx tracebook what-if pay --contributor … --seed-check 8</code> retrains the model without a contributor");
    expect(s).not.toContain("<table>");
  });

  it("states how the loss gradient was computed, and counts the receipts made before it was summed", () => {
    const page = renderHtml(facts, runIdOf(facts));
    expect(page).toContain("<dt>Loss gradient</dt><dd>∂ℓ/∂logits = softmax(logits) − onehot(target), in float32, with the target&#39;s entry taken as −Σ_{c≠target} p_c");
    expect(page).not.toContain("made before attribution version 3");
    const f = structuredClone(facts);
    f.lineage.receipts.loss_gradients = { summed: 36, subtracted: 4 };
    expect(renderHtml(f, runIdOf(f))).toContain("4 of them were made before attribution version 3, with the loss gradient's target entry as p_target − 1");
    // A report written before either was stated says nothing of them, and is still valid.
    delete f.methodology.loss_gradient;
    delete f.lineage.receipts.loss_gradients;
    const older = renderHtml(f, runIdOf(f));
    expect(older).not.toContain("Loss gradient");
    expect(older).not.toContain("made before attribution version 3");
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(older) }, facts: f })).toEqual([]);
  });

  it("lists the what-if answers, escaped, the largest first, at most twelve on the page", () => {
    const f = structuredClone(facts);
    const [first] = f.trust!.counterfactuals!;
    f.trust!.counterfactuals = Array.from({ length: 14 }, (_, i) => ({ ...structuredClone(first!), without: i ? `contributor c${i}` : `contributor <script>alert(1)</script>`, removed: 40 - i }));
    const s = section(f);
    expect(s).toContain("contributor &#60;script&#62;alert(1)&#60;/script&#62;");
    expect(s).not.toContain("<script>");
    expect(s.match(/<td>contributor /g)).toHaveLength(12);
    expect(s).toContain("2 more in report.json (the largest removals are listed first)");
    // Not yet a part of the facts (a report written before it): nothing said.
    delete f.trust!.counterfactuals;
    expect(section(f)).not.toContain("Retrained without them");
  });

  it("shows each part that ran, says which did not, and falls back to LDS for the sentence", () => {
    const f = structuredClone(facts);
    f.trust!.loco = null;
    const s = section(f);
    expect(s).toMatch(/<p class="lead">Exact TracIn reaches a linear datamodeling score of 0\.67 on this model, against 0\.15 published for TracIn \(dattri, MNIST-10 MLP\); no leave-one-contributor-out evaluation has run/);
    expect(s).toContain("Not run for this model: no <code>loco(…)</code> cell has run on it");
    expect(s).toContain("<h3>Linear datamodeling score (LDS)</h3>");
  });

  it("weighs the report's mode against the ceiling in words generated from the numbers", () => {
    const f = structuredClone(facts);
    const loco = f.trust!.loco!;
    const lead = () => /<p class="lead">([^<]*)<\/p>/.exec(section(f))?.[1];
    loco.ceiling!.spearman = 0.75;
    loco.modes[0]!.spearman = 0.29;
    expect(lead()).toBe("Exact TracIn, the mode behind this report&#39;s scores, ranks the 4 contributors as retraining without each of them does at Spearman 0.29, where two retrainings under different seeds agree with each other at 0.75: well below that ceiling, so read contributor shares as a rough ranking rather than a measurement.");
    loco.modes[0]!.spearman = 0.7;
    expect(lead()).toMatch(/at Spearman 0\.70, where .* at 0\.75: close to the ceiling that training noise sets\.$/);
    loco.modes[0]!.spearman = -0.2;
    expect(lead()).toMatch(/at Spearman −0\.20, .*: no better than chance/);
    loco.ceiling!.spearman = 0.1;
    expect(lead()).toMatch(/agree with each other only at 0\.10: .*LOCO can neither confirm nor refute the scores\.$/);
    f.methodology.mode = "last-layer";
    expect(lead()).toMatch(/^Last-layer TracIn, the mode behind this report&#39;s scores, ranks .* at Spearman 0\.20/);
    expect(section(f)).toContain("<code>last-layer</code> <span class=\"muted\">(this report's mode)</span>");
  });

  it("escapes names from the tables and shows missing numbers as n/a", () => {
    const f = structuredClone(facts);
    f.trust!.loco!.modes[1]!.mode = `<img src=x onerror=alert(1)>`;
    f.trust!.loco!.modes[1]!.spearman = null;
    f.trust!.mislabel!.scores[0]!.score = `"><script>alert(2)</script>`;
    f.trust!.mislabel!.scores[0]!.recall[0]!.recall = null;
    const s = section(f);
    expect(s).not.toMatch(/<img|<script/);
    expect(s).toContain("&#60;img src=x onerror=alert(1)&#62;");
    expect(s).toMatch(/<code>&#60;img src=x onerror=alert\(1\)&#62;<\/code><\/td><td class="num">n\/a<\/td>/);
    expect(s).toContain("&#34;&#62;&#60;script&#62;alert(2)&#60;/script&#62;");
  });

  it("leaves the section out for facts written before it existed, and such facts still match the schema", () => {
    const f = structuredClone(facts);
    delete f.trust;
    const page = renderHtml(f, runIdOf(f));
    expect(page).not.toContain("How far the scores can be trusted");
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(page) }, facts: f })).toEqual([]);
  });
});

describe("how the settled inferences came in", () => {
  const ledgerOf = (f: ReportFacts) => /<strong>Inference ledger<\/strong>[\s\S]*?<\/li>/.exec(renderHtml(f, runIdOf(f)))?.[0].replace(/\s+/g, " ") ?? "";
  const valid = (f: ReportFacts) => reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(renderHtml(f, runIdOf(f))) }, facts: f });

  it("names each source, escaped, and says which inferences a rerun elsewhere would not replay", () => {
    const f = structuredClone(facts);
    f.lineage.ledger.sources = [
      { source: "workload:pay.workload", inferences: 1200, fees: { units: "2400000000000000000", tokens: "2.4" } },
      { source: "cli", inferences: 2, fees: { units: "4000000000000000", tokens: "0.004" } },
      { source: "<i>api</i>", inferences: 1, fees: { units: "2000000000000000", tokens: "0.002" } },
    ];
    const l = ledgerOf(f);
    expect(l).toContain("40 settled inferences (1,200 from <code>workload:pay.workload</code>, fees 2.4, 2 from <code>cli</code>, fees 0.004, 1 from <code>&#60;i&#62;api&#60;/i&#62;</code>, fees 0.002). " +
      "The 3 paid by callers rather than a seeded workload exist only as the ledger recorded them: a rerun elsewhere replays the workloads, not them. Merkle root");
    expect(valid(f)).toEqual([]);
    f.lineage.ledger.sources.splice(1, 1);
    expect(ledgerOf(f)).toContain("The 1 paid by a caller rather than a seeded workload exists only as the ledger recorded it: a rerun elsewhere replays the workloads, not it.");
  });

  it("says nothing of callers when a workload paid for everything, and nothing at all for facts written before it", () => {
    expect(ledgerOf(facts)).toContain("40 settled inferences (40 from <code>workload:pay.usage</code>, fees 0.00000000000004936). Merkle root");
    const f = structuredClone(facts);
    delete f.lineage.ledger.sources;
    expect(ledgerOf(f)).toContain("40 settled inferences. Merkle root");
    expect(valid(f)).toEqual([]);
  });
});

describe("how stable the penalties are", () => {
  const stabilityOf = (f: ReportFacts) => /<p class="stability"[\s\S]*?<\/p>/.exec(renderHtml(f, runIdOf(f)))?.[0].replace(/\s+/g, " ") ?? "";

  it("names the penalties a few inferences decide, escaped, and checks against the schema", () => {
    const f = structuredClone(facts);
    f.influence.penalty_stability = [{ epoch: "e1", inferences: 1200, left_out: 12, left_out_share: 0.385, penalised: 20, lifted: ["a", "b", "<b>c</b>", "d", "e", "f", "g", "h"], added: ["z"] }];
    const p = stabilityOf(f);
    expect(p).toContain("The 12 inferences (1% of 1,200, rounded up) with the most influence carry 38.5% of all of it.");
    expect(p).toContain("Computed without them, 8 of the 20 penalties would be lifted (a, b, &#60;b&#62;c&#60;/b&#62;, d, e, f and 2 more) and 1 other contributor would be penalised (z): penalties that so few predictions decide are a weak signal");
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(renderHtml(f, runIdOf(f))) }, facts: f })).toEqual([]);
    f.influence.penalty_stability[0]!.lifted = [];
    expect(stabilityOf(f)).toContain("Computed without them, every penalty would stand, 1 other contributor would be penalised (z)");
  });

  it("leaves the paragraph out for facts written before it existed", () => {
    const f = structuredClone(facts);
    delete f.influence.penalty_stability;
    expect(stabilityOf(f)).toBe("");
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(renderHtml(f, runIdOf(f))) }, facts: f })).toEqual([]);
  });
});

describe("which side the penalties fall on", () => {
  const sidesOf = (f: ReportFacts) => /<p class="sides"[\s\S]*?<\/p>/.exec(renderHtml(f, runIdOf(f)))?.[0].replace(/<[^>]+>/g, "").replace(/&#39;/g, "'").replace(/\s+/g, " ") ?? "";
  // Real mail: spam-side penalised while ham predictions carry 80% of the mass; after one retrain, ham-side with spam at 87%.
  const before = {
    epoch: "e1", predictions: [{ prediction: "ham", inferences: 860, mass_share: 0.8 }, { prediction: "spam", inferences: 340, mass_share: 0.2 }],
    sides: [{ helps: "ham", contributors: 21, penalised: 0 }, { helps: "spam", contributors: 7, penalised: 7 }],
  };
  const after = {
    epoch: "e1", predictions: [{ prediction: "ham", inferences: 859, mass_share: 0.130288 }, { prediction: "spam", inferences: 341, mass_share: 0.869712 }],
    sides: [{ helps: "ham", contributors: 20, penalised: 20 }, { helps: "spam", contributors: 7, penalised: 0 }, { helps: null, contributors: 1, penalised: 0 }],
  };
  const claim = "Such a contributor's net is its support there minus its opposition elsewhere, so its sign follows where the influence mass sits (how often each output was asked for and how confident the model was), not only whether its data hurt. Weigh these penalties with that in mind.";

  it("says the penalties follow where the influence mass sits only when the facts show it, and checks against the schema", () => {
    const f = structuredClone(facts);
    f.influence.penalty_sides = [structuredClone(before)];
    expect(sidesOf(f)).toBe("Which side the penalties of epoch e1 fall on. Its 1,200 inferences were predicted ham 860 times (80.0% of the influence mass), spam 340 times (20.0%). " +
      "21 contributors help only the ham predictions and oppose the rest: none of them is penalised. " +
      "7 contributors help only the spam predictions and oppose the rest: all 7 are penalised. " +
      `Every penalty falls on data that helps only the output whose predictions carry less of the influence: spam (20.0%). ${claim}`);
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(renderHtml(f, runIdOf(f))) }, facts: f })).toEqual([]);
    // The summary carries the caveat beside the count.
    const summary = (/<section id="summary">[\s\S]*?<\/section>/.exec(renderHtml(f, runIdOf(f)))?.[0] ?? "").replace(/<[^>]+>/g, "").replace(/\s+/g, " ");
    expect(summary).toContain(`Penalised${f.influence.penalised.length} ${f.influence.penalised.length === 1 ? "penalty" : "penalties"} (net influence negative over a model&#39;s inferences in an epoch: no pay from them; opponents); in e1 each falls on data that helps only the spam predictions (20.0% of the influence mass): a sign that follows where the mass sits`);
    // The retrained model: the other side, though ham is still asked for more often.
    f.influence.penalty_sides = [structuredClone(after)];
    expect(sidesOf(f)).toMatch(/20 contributors help only the ham predictions and oppose the rest: all 20 are penalised\. .* 1 contributor helps more than one output: it is not penalised\. Every penalty falls on data that helps only the output whose predictions carry less of the influence: ham \(13\.0%\)\./);
    // A penalised contributor whose data helps several outputs: no claim.
    f.influence.penalty_sides = [structuredClone(before)];
    f.influence.penalty_sides[0]!.sides.push({ helps: null, contributors: 2, penalised: 1 });
    expect(sidesOf(f)).toMatch(/2 contributors help more than one output: 1 of them is penalised\.$/);
    // The penalised side carries more of the mass: no claim either.
    f.influence.penalty_sides = [{ ...structuredClone(before), sides: [{ helps: "ham", contributors: 21, penalised: 3 }, { helps: "spam", contributors: 7, penalised: 0 }] }];
    expect(sidesOf(f)).toMatch(/none of them is penalised\.$/);
  });

  it("names the model where an epoch holds several models' penalties (a retrain within it), each paragraph its own", () => {
    const f = structuredClone(facts);
    f.influence.penalty_sides = [{ ...structuredClone(before), model_id: "a".repeat(64) }, { ...structuredClone(after), model_id: "b".repeat(64) }];
    const page = renderHtml(f, runIdOf(f));
    const titles = [...page.matchAll(/<p class="sides" id="(sides-[^"]+)"><strong>([^<]+)<\/strong>/g)].map((m) => [m[1], m[2]]);
    expect(titles).toEqual([
      [`sides-e1-${"a".repeat(12)}`, `Which side the penalties of epoch e1 on model ${"a".repeat(12)} fall on.`],
      [`sides-e1-${"b".repeat(12)}`, `Which side the penalties of epoch e1 on model ${"b".repeat(12)} fall on.`],
    ]);
    const summary = (/<section id="summary">[\s\S]*?<\/section>/.exec(page)?.[0] ?? "").replace(/<[^>]+>/g, "").replace(/\s+/g, " ");
    expect(summary).toContain(`in e1 on model ${"a".repeat(12)} each falls on data that helps only the spam predictions`);
    expect(summary).toContain(`in e1 on model ${"b".repeat(12)} each falls on data that helps only the ham predictions`);
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(page) }, facts: f })).toEqual([]);
    // One model in the epoch: named as before.
    f.influence.penalty_sides = [{ ...structuredClone(before), model_id: "a".repeat(64) }];
    f.influence.penalty_stability = f.influence.penalty_stability?.map((st) => ({ ...st, model_id: "a".repeat(64) }));
    expect(sidesOf(f)).toMatch(/^Which side the penalties of epoch e1 fall on\./);
  });

  it("escapes the outputs' names, and leaves the paragraph out without penalties or for older facts", () => {
    const f = structuredClone(facts);
    f.influence.penalty_sides = [{ ...structuredClone(before), predictions: [{ prediction: "<i>ham</i>", inferences: 860, mass_share: 0.8 }, { prediction: "spam", inferences: 340, mass_share: 0.2 }],
      sides: [{ helps: "<i>ham</i>", contributors: 21, penalised: 0 }, { helps: "spam", contributors: 7, penalised: 7 }] }];
    expect(renderHtml(f, runIdOf(f))).toContain("predicted &#60;i&#62;ham&#60;/i&#62; 860 times");
    f.influence.penalty_sides = [{ ...structuredClone(before), sides: [{ helps: "ham", contributors: 21, penalised: 0 }, { helps: "spam", contributors: 7, penalised: 0 }] }];
    expect(sidesOf(f)).toBe("");
    delete f.influence.penalty_sides;
    expect(sidesOf(f)).toBe("");
    expect(reportErrors({ format: REPORT_FORMAT, run_id: runIdOf(f), files: { "index.html": sha256(renderHtml(f, runIdOf(f))) }, facts: f })).toEqual([]);
  });
});

describe("escaping", () => {
  it("escapes markup, quotes and ampersands for text and attributes", () => {
    expect(escapeHtml(`<script>alert("x")</script> & 'y'`)).toBe("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;y&#39;");
    const name = `"><img src=x onerror=alert(1)>`;
    expect(html`<td title="${name}">${name}</td>`.markup).toBe(`<td title="&#34;&#62;&#60;img src=x onerror=alert(1)&#62;">&#34;&#62;&#60;img src=x onerror=alert(1)&#62;</td>`);
  });

  it("nests safe markup without escaping it twice, and escapes every string in a list", () => {
    expect(html`<ul>${["<a>", "b&"].map((x) => html`<li>${x}</li>`)}</ul>`.markup).toBe("<ul><li>&#60;a&#62;</li><li>b&#38;</li></ul>");
  });

  it("repairs broken Unicode and neutralises control and bidi characters", () => {
    expect(clean("ok\ud800x")).toBe("ok\ufffdx");
    expect(clean("a\u0000b\u001bc\u202egnp.exe\u2066")).toBe("a\ufffdb\ufffdc\ufffdgnp.exe\ufffd");
    expect(clean("tab\tand\nnewline")).toBe("tab\tand\nnewline");
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(escapeHtml("\udfff\ud83d"), "utf8"))).not.toThrow();
  });
});
