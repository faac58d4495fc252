import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Workspace } from "../cells/store/workspace.ts";
import { writeReport, type WrittenReport } from "../reports/write.ts";
import { verifyReport } from "../reports/verify.ts";
import { renderHtml } from "../reports/render/page.ts";
import { reportErrors } from "../reports/schema.ts";
import { chromiumPath } from "../reports/pdf.ts";
import { runIdOf, type ReportDocument, type ReportFacts } from "../reports/facts.ts";
import { tempDir } from "./helpers/workspace.ts";
import { reportWorkspace, type ExtraRow } from "./input/report/workspace.ts";

/** Contributed text that would run, load or restyle something if it were ever inserted as markup. */
const HOSTILE = [
  `<script>alert("text")</script>`,
  `<img src=x onerror=alert(1)>`,
  `javascript:alert(document.cookie)`,
  `"><svg onload=alert(2)>`,
  `</td></tr></table></style></title><script>alert(3)</script>`,
  `<a href="javascript:alert(4)">click</a>`,
  `<!-- <meta http-equiv="refresh" content="0;url=https://evil.example/"> -->`,
  `&lt;already escaped&gt; &amp; &#x3C;script&#x3E;`,
  `<![CDATA[ ]]> <?xml version="1.0"?> <base href="https://evil.example/">`,
  `<style>body{display:none}</style><link rel=stylesheet href=https://evil.example/x.css>`,
  `\u202egnp.exe (bidi override) \u2066isolate\u2069 \u0007bell \u001b[31mansi`,
  // What broken UTF-8 becomes once decoded: the workspace holds valid UTF-8 only (imports refuse invalid bytes).
  `broken utf-8 decoded: \ufffd\ufffd caf\ufffd`,
];
const CONTRIBUTORS = [`<script>alert("contributor")</script>`, `javascript:alert(5)`, `"><img src=x onerror=alert(6)>`, `\u202eevil.com`];
/** A line of about 1 MB (the per-row cap is 1 MiB), markup included. */
const MEGABYTE = `<script>alert("big")</script> winner casino ${"lorem <b>ipsum</b> dolor ".repeat(38_000)}`;

const sales = ["winner", "casino", "discount", "offer", "pills"];
const rows: ExtraRow[] = [
  ...HOSTILE.flatMap((h, i) => [0, 1, 2].map((k) => ({
    text: `${h} ${k % 2 ? "meeting notes" : `${sales[i % 5]} ${sales[(i + k) % 5]}`} ${i}-${k}`, label: (k % 2 ? "ham" : "spam") as "ham" | "spam",
    contributor: CONTRIBUTORS[(i + k) % CONTRIBUTORS.length]!, title: k === 2 ? `<title>${h}</title>` : undefined,
  }))),
  ...[0, 1, 2, 3].map((k) => ({ text: `${MEGABYTE} ${k}`, label: "spam" as const, contributor: CONTRIBUTORS[k]! })),
];

/** Elements a report may contain: the page's own HTML and the charts' SVG. No script, link, image, frame, form or base. */
const ELEMENTS = new Set(["html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "span", "code", "strong", "br", "div", "ul", "ol", "li",
  "nav", "a", "section", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "figure", "figcaption", "footer", "svg", "g", "path", "line", "rect", "text", "tspan"]);
const VOID = new Set(["meta", "br"]);

/**
 * A strict reading of the page: every "<" must open a well-formed tag (contributed text has
 * none left), tags nest and close in order, only allowed elements appear, no attribute is an
 * event handler, a style, or a URL other than an in-page "#anchor". Returns the problems found.
 */
function inspect(page: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const tag = /<!DOCTYPE html>|<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:="[^"<]*")?)*)\s*(\/?)>/y;
  let at = 0;
  while ((at = page.indexOf("<", at)) !== -1) {
    tag.lastIndex = at;
    const m = tag.exec(page);
    if (!m) {
      problems.push(`stray "<" at ${at}: ${JSON.stringify(page.slice(at, at + 40))}`);
      at++;
      continue;
    }
    at = tag.lastIndex;
    if (m[0].startsWith("<!")) continue;
    const [, close, rawName, attrs, selfClosing] = m;
    const name = rawName!.toLowerCase();
    if (!ELEMENTS.has(name)) problems.push(`element <${name}>`);
    for (const a of attrs!.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?/g)) {
      const [attr, value = ""] = [a[1]!.toLowerCase(), a[2]];
      if (/^on|^style$|^src|^srcdoc$|^action$|^formaction$|^xlink:href$/.test(attr)) problems.push(`attribute ${attr} on <${name}>`);
      if (attr === "href" && (name !== "a" || !value.startsWith("#"))) problems.push(`href="${value}" on <${name}>`);
      if (/javascript:/i.test(value)) problems.push(`javascript: in ${attr} on <${name}>`);
    }
    if (close) {
      const open = stack.pop();
      if (open !== name) problems.push(`</${name}> closes <${open}>`);
    } else if (!selfClosing && !VOID.has(name)) {
      stack.push(name);
      // Raw text: the stylesheet is ours, its end is the next </style>.
      if (name === "style") at = page.indexOf("</style>", at);
    }
  }
  if (stack.length) problems.push(`unclosed: ${stack.join(" > ")}`);
  return problems;
}

describe("a report on hostile contributions is inert and well-formed", () => {
  let ws: Workspace;
  let report: WrittenReport;
  let page: string;
  beforeAll(async () => {
    ({ ws } = await reportWorkspace({ extra: rows, validator: `curator:<script>alert("validator")</script>`, reason: `</td></tr></table><script>alert("reason")</script>` }));
    report = await writeReport(ws, "pay", { out: tempDir("tb-report-hostile-"), pdf: false });
    page = fs.readFileSync(path.join(report.dir, "index.html"), "utf8");
  }, 240_000);
  afterAll(() => ws?.close());

  it("puts hostile text in the report, as text", () => {
    const f = report.facts;
    const quoted = [...f.influence.proponents, ...f.influence.opponents, ...f.quality.flagged, ...f.quality.self_influence].map((c) => c.text).join("\n");
    expect(quoted).toMatch(/<script>alert\(/); // the facts keep the contributed text as it is
    expect(f.influence.contributors.map((c) => c.contributor)).toEqual(expect.arrayContaining([CONTRIBUTORS[0]]));
    expect(f.quality.flagged[0]).toMatchObject({ validator: `curator:<script>alert("validator")</script>`, reason: `</td></tr></table><script>alert("reason")</script>` });
    expect(page).toContain("&#60;script&#62;alert(&#34;contributor&#34;)&#60;/script&#62;");
    expect(page).toContain("&#60;/td&#62;&#60;/tr&#62;&#60;/table&#62;&#60;script&#62;alert(&#34;reason&#34;)");
    // As text, " onerror=" is harmless; `inspect` below checks that no attribute is a handler.
    expect(page).not.toMatch(/<script|<img|<link|<base|<iframe|<svg onload/i);
  });

  it("has an inspector that finds what it looks for", () => {
    expect(inspect(`<p><img src="x" onerror="alert(1)"></p><a href="javascript:x">y</a><b>&lt;</i> < 3 <br title=unquoted><div>`)).toEqual([
      "element <img>", "attribute src on <img>", "attribute onerror on <img>", "</p> closes <img>", `href="javascript:x" on <a>`, "javascript: in href on <a>",
      "element <b>", "element <i>", "</i> closes <b>", `stray "<" at 79: "< 3 <br title=unquoted><div>"`, `stray "<" at 83: "<br title=unquoted><div>"`, "unclosed: p > div",
    ]);
  });

  it("is valid UTF-8, every tag well-formed and nested, nothing active", () => {
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(fs.readFileSync(path.join(report.dir, "index.html")))).not.toThrow();
    expect(inspect(page)).toEqual([]);
    expect(page).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u202a-\u202e\u2066-\u2069]/);
  });

  it("quotes a 1 MB line in a few hundred characters", () => {
    expect(Buffer.byteLength(page)).toBeLessThan(400_000);
    expect(fs.statSync(path.join(report.dir, "report.json")).size).toBeLessThan(400_000);
    const longest = Math.max(...[...report.facts.influence.proponents, ...report.facts.influence.opponents, ...report.facts.quality.flagged].map((c) => [...c.text].length));
    expect(longest).toBeLessThanOrEqual(241);
  });

  it("writes a schema-valid report.json that still verifies", async () => {
    const doc = JSON.parse(fs.readFileSync(path.join(report.dir, "report.json"), "utf8")) as ReportDocument;
    expect(reportErrors(doc)).toEqual([]);
    expect(doc.facts.influence.contributors.map((c) => c.contributor)).toEqual(expect.arrayContaining([CONTRIBUTORS[0]]));
    expect((await verifyReport(ws, report.dir)).ok).toBe(true);
  });

  it("renders broken Unicode (lone surrogates) as U+FFFD, still inert", () => {
    const facts = structuredClone(report.facts) as ReportFacts;
    facts.influence.contributors[0]!.contributor = "\ud800<script>alert(7)</script>\udfff";
    facts.influence.proponents[0]!.text = "caf\ud83d <img src=x onerror=alert(8)>";
    const bad = renderHtml(facts, runIdOf(facts));
    const bytes = Buffer.from(bad, "utf8");
    expect(new TextDecoder("utf-8", { fatal: true }).decode(bytes)).toContain("\ufffd&#60;script&#62;alert(7)");
    expect(inspect(bad)).toEqual([]);
  });

  it.skipIf(!chromiumPath())("runs nothing and loads nothing in Chromium, and its stylesheet passes the CSP", async () => {
    const { chromium } = await import("playwright-core");
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tb-report-chromium-"));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath()!, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    try {
      const p = await context.newPage();
      const events: string[] = [];
      const url = `file://${path.join(report.dir, "index.html")}`;
      p.on("dialog", (d) => {
        events.push(`dialog: ${d.message()}`);
        void d.dismiss();
      });
      p.on("request", (r) => {
        if (r.url() !== url) events.push(`request: ${r.url()}`);
      });
      p.on("console", (m) => events.push(`console ${m.type()}: ${m.text()}`));
      p.on("pageerror", (e) => events.push(`error: ${e.message}`));
      await p.goto(url, { waitUntil: "load" });
      await p.waitForTimeout(300);
      expect(events).toEqual([]);
      // Evaluated by the test harness (DevTools protocol), not by the page.
      const dom = await p.evaluate(`({
        scripts: document.scripts.length,
        active: document.querySelectorAll("img, iframe, object, embed, link, base, form, [onerror], [onload], [onclick]").length,
        headingRule: getComputedStyle(document.querySelector("h2")).borderTopWidth,
        charts: document.querySelectorAll("svg.chart").length,
        text: document.body.innerText.includes('<script>alert("contributor")</script>'),
      })`);
      expect(dom).toEqual({ scripts: 0, active: 0, headingRule: "2px", charts: 3, text: true });
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });
});
