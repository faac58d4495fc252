// Browser tests of the notebooks: a real dev server (Vite, DuckDB-wasm in the page) over a small
// workspace built here, driven by Debian's chromium through playwright-core.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, SCREENS, haveChromium, openBrowser } from "./helpers/browser.ts";
import { decide } from "../cells/datanet/decisions.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { DEFAULT_NOTEBOOKS, startNotebookServer, type NotebookServer } from "../cells/notebooks/server.ts";
import { listNotebooks } from "../cells/notebooks/plugin.ts";
import { compileNotebook } from "../cells/notebooks/transform.ts";
import { buildNotebooks } from "../cells/notebooks/build.ts";
import { shipExplainer } from "../cells/notebooks/ship-explainer.ts";
import { NotebookData } from "../cells/notebooks/data.ts";
import { servedCacheDir } from "../cells/notebooks/served-cache.ts";
import type { Catalog } from "../cells/notebooks/wire.ts";
import { tableFromIPC } from "apache-arrow";
import { nativeEngine } from "../cells/compute/onnx.ts";
import { preview } from "vite";
import { listed, notebookWorkspace } from "./helpers/notebook-workspace.ts";
import { holdWorkspace, openWorkspaceRetrying, outputOf, tempDir } from "./helpers/workspace.ts";


if (!haveChromium) console.warn(`notebook browser tests skipped: no ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);

describe.skipIf(!haveChromium)("notebooks in the browser", () => {
  let home: string;
  let pipelineFile: string;
  let server: NotebookServer;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  const log: string[] = [];
  let hostileIds: string[] = [];

  beforeAll(async () => {
    ({ home, pipelineFile, hostileIds } = await notebookWorkspace());
    server = await startNotebookServer({ home, port: 0, pipelines: [pipelineFile], cacheDir: path.join(home, "vite-cache"), log: (l) => log.push(l) });
    ({ context, page } = await openBrowser(consoleErrors));
  }, 600_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  /** The proponents and opponents as the page shows them. */
  // (Browser-side code is passed as strings: this project's tsconfig has no DOM types.)
  const listText = () => page.evaluate<string>(`["proponents", "opponents"].map((id) => document.getElementById(id)?.textContent ?? "").join("\\n---\\n")`);
  /** The picked inference's message (its subject and text). */
  const pickedMessage = () => page.locator("#prediction h3, #prediction .tb-text").allTextContents();

  it("serves an index of the notebooks on 127.0.0.1", async () => {
    expect(new URL(server.url).hostname).toBe("127.0.0.1");
    await page.goto(server.url);
    // Every notebook, each also linked to the pipeline served here; the shipped ones among them.
    const notebooks = listNotebooks(DEFAULT_NOTEBOOKS);
    expect(notebooks.map((n) => n.title)).toEqual(expect.arrayContaining(["Contributors and rewards", "Curation queue", "Influence explorer"]));
    await expect.poll(() => page.locator("#tb-notebooks a").allTextContents()).toEqual(notebooks.flatMap((n) => [n.title, "nbtest"]));
    const pipelines = [...new Set([...notebooks.map((n) => n.pipeline).filter((p) => p !== null), "nbtest"])];
    expect(await page.locator("h2").allTextContents()).toEqual(pipelines.map((p) => `Pipeline ${p}`));
    // Only nbtest has runs here, and the server watches it.
    expect(await page.locator(".pipeline-live").allTextContents()).toEqual(["live: a watcher recomputes it and open pages follow"]);
    // Each pipeline run here links to its cells' states and run log.
    expect(await page.locator(".pipeline-states a").evaluateAll((as) => as.map((a) => a.getAttribute("href")))).toEqual(["./pipeline-runs?pipeline=nbtest"]);
    await page.screenshot({ path: path.join(SCREENS, "index.png"), fullPage: true });
  });

  it("loads the influence explorer with real data, a chart and no console errors", async () => {
    const t0 = Date.now();
    await page.goto(`${server.url}influence-explorer?pipeline=nbtest`);
    await page.locator("#proponents li").first().waitFor({ timeout: 60_000 });
    await page.locator("figure svg, svg[class^=plot]").first().waitFor({ timeout: 60_000 });
    const ms = Date.now() - t0;
    log.push(`influence explorer loaded in ${ms} ms`);
    console.log(`influence explorer: first load ${ms} ms`);
    expect(await page.locator("#prediction").textContent()).toMatch(/(spam|ham)\s+with confidence/);
    // Where the inference came from, as the ledger recorded it.
    expect((await page.locator("#prediction").textContent())!.replace(/\s+/g, " ")).toMatch(/called by agent:[ab] \(workload:nbtest\.workload\) in epoch e1/);
    expect(await page.locator("svg [aria-label='bar'] rect").count()).toBeGreaterThan(0);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
    // Every query of it ran on the server (```sql server blocks, the pick sent as a value): the
    // page fetched no table, not even its search list's usage.
    expect(await page.evaluate<Record<string, string | null>>("window.__tracebook.mounted.db.registered()")).toEqual({});
    await page.screenshot({ path: path.join(SCREENS, "influence-explorer.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it("changes the proponents when another inference is picked", async () => {
    const select = page.locator("form select").first();
    const options = await select.locator("option").count();
    expect(options).toBeGreaterThan(5);
    const before = await listText();
    let changed = false;
    for (let i = 1; i < Math.min(options, 10) && !changed; i++) {
      await select.selectOption({ index: i });
      changed = await expect.poll(listText, { timeout: 10_000 }).not.toBe(before).then(() => true, () => false);
    }
    expect(changed).toBe(true);
    expect(consoleErrors).toEqual([]);
  });

  it("switches to an approximation the pipeline computes and says how far it agrees with influence", async () => {
    const radios = page.locator("form input[type=radio]");
    expect(await radios.evaluateAll((els) => els.map((e) => e.parentElement!.textContent!.trim()))).toEqual(["influence", "influence_last_layer"]);
    await expect.poll(async () => (await page.locator("#variant").textContent())!.replace(/\s+/g, " ")).toMatch(/^influence: TracIn exact, checkpoints \d+,\d+ · the attribution the reward split pays by/);
    const exact = await listText();
    await radios.nth(1).check();
    await expect.poll(async () => (await page.locator("#variant").textContent())!.replace(/\s+/g, " "), { timeout: 30_000 })
      .toMatch(/^influence_last_layer: TracIn last-layer, checkpoints \d+,\d+ · shares \d+% of the top proponents of influence on this inference, \d+\.\d% on average over \d+ inferences; it ranks this inference's contributors as influence does at Spearman (-?[01]\.\d{3}|n\/a)/);
    await settled(page);
    const approx = await listText();
    expect(approx).toMatch(/#1 ·/);
    // The same inference, scored the other way: a list of its own (the shares chart follows too).
    expect(await page.locator("svg[class^=plot] [aria-label='bar'] rect").count()).toBeGreaterThan(0);
    await radios.nth(0).check();
    await expect.poll(listText, { timeout: 30_000 }).toBe(exact);
    console.log(`last layer vs exact on one inference: ${exact === approx ? "same lists" : "different lists"}`);
    expect(consoleErrors).toEqual([]);
  });

  it("runs again only what a new output feeds, keeping the search typed, the pick and the attribution chosen", async () => {
    // A tab of its own: the events below carry made-up data versions, which the next tests' page must not see.
    const tab = await context.newPage();
    tab.on("pageerror", (e) => consoleErrors.push(`feeds: ${e.message}`));
    tab.on("console", (m) => void (m.type() === "error" && consoleErrors.push(`feeds: ${m.text()}`)));
    const asked: string[] = [];
    tab.on("request", (r) => void (r.url().includes("/@tracebook/query/") && asked.push(/\/([0-9a-f]{16})\.arrow/.exec(r.url())![1]!)));
    try {
      await tab.goto(`${server.url}influence-explorer?pipeline=nbtest`);
      await tab.locator("#proponents li").first().waitFor({ timeout: 60_000 });
      const keyOf = Object.fromEntries(Object.entries(compileNotebook(fs.readFileSync(path.join(DEFAULT_NOTEBOOKS, "influence-explorer.md"), "utf8")).serverQueries).map(([k, q]) => [q.name, k]));
      const nameOf = Object.fromEntries(Object.entries(keyOf).map(([n, k]) => [k, n]));
      await tab.locator("input[type=search]").first().fill("spam");
      await tab.locator("form input[type=radio]").nth(1).check();
      await settled(tab);
      await tab.locator("form select").first().selectOption({ index: 1 });
      await settled(tab);
      const state = async () => ({
        search: await tab.locator("input[type=search]").first().inputValue(),
        attribution: await tab.locator("form input[type=radio]:checked").evaluate((e) => e.parentElement!.textContent!.trim()),
        picked: await tab.evaluate<string>("location.hash"),
        options: await tab.locator("form select").first().locator("option").count(),
      });
      const chosen = await state();
      expect(chosen).toMatchObject({ search: "spam", attribution: "influence_last_layer" });
      const change = async (cell: string, kind?: string) => {
        await tab.evaluate("document.querySelector('form select').__drawn = 'before'");
        asked.length = 0;
        const followed = await tab.evaluate<boolean>(`window.__tracebook.mounted.outputChanged({ pipeline: "nbtest", cell: ${JSON.stringify(cell)}, kind: ${JSON.stringify(kind)}, dataVersion: "made-up-${cell}" })`);
        await tab.waitForTimeout(300);
        await settled(tab);
        const redrawn = await tab.evaluate<boolean>("document.querySelector('form select').__drawn !== 'before'");
        return { followed, redrawn, asked: [...new Set(asked.map((k) => nameOf[k] ?? k))].sort() };
      };
      // New receipts: the receipt alone is asked again; the list of inferences is not drawn again.
      expect(await change("receipts")).toEqual({ followed: true, redrawn: false, asked: ["receiptOf"] });
      expect(await state()).toEqual(chosen);
      // A tracin cell new to the pipeline: offered as an attribution at once, the one chosen kept.
      const radios = tab.locator("form input[type=radio]");
      expect(await change("influence_new", "tracin")).toMatchObject({ followed: true, redrawn: false });
      expect(await radios.evaluateAll((els) => els.map((e) => e.parentElement!.textContent!.trim()))).toEqual(["influence", "influence_last_layer", "influence_new"]);
      expect(await state()).toEqual(chosen);
      // New usage: the list is asked again and drawn again, and what the user chose stays.
      const usage = await change("usage");
      expect(usage).toMatchObject({ followed: true, redrawn: true });
      expect(usage.asked).toContain("queries");
      expect(await state()).toEqual(chosen);
      // An output no query of the page read: nothing runs.
      expect(await change("penalties")).toEqual({ followed: false, redrawn: false, asked: [] });
      expect(await tab.locator(".tb-error, .tb-failed").count()).toBe(0);
    } finally {
      await tab.close();
    }
    expect(consoleErrors).toEqual([]);
  });

  it("asks what if a contributor had never contributed: TracIn's estimate at once, then a real retrain through the server", async () => {
    const select = page.locator("form:has-text('Leave out') select");
    const first = (await select.locator("option").first().textContent())!.trim();
    await select.selectOption({ index: 0 });
    await expect.poll(async () => (await page.locator("#what-if-estimate").textContent())?.replace(/\s+/g, " ") ?? "", { timeout: 30_000 })
      .toMatch(new RegExp(`TracIn expects leaving out ${first.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} to weaken \\d+ of \\d+ predictions`));
    // The same estimate with thousands of names beside it (too long for a URL: the page posts them).
    const [estimatedKey, estimated] = Object.entries(compileNotebook(fs.readFileSync(path.join(DEFAULT_NOTEBOOKS, "influence-explorer.md"), "utf8")).serverQueries).find(([, q]) => q.name === "estimated")!;
    const predictions = Number(/ of (\d+) predictions/.exec((await page.locator("#what-if-estimate").textContent())!)![1]);
    const posted: string[] = [];
    const onPost = (r: { method(): string; url(): string }) => void (r.method() === "POST" && r.url().includes("/@tracebook/query/") && posted.push(r.url()));
    page.on("request", onPost);
    const many = [...Array.from({ length: 3000 }, (_, i) => `nobody-${i}`), first];
    expect(await page.evaluate(([key, parts, names]) => (globalThis as any).__tracebook.mounted.db.serverSql(key, [names], parts).then((t: { numRows: number }) => t.numRows),
      [estimatedKey, estimated.parts, many] as const)).toBe(predictions);
    page.off("request", onPost);
    expect(posted).toHaveLength(1);
    await page.locator("#what-if-run").click();
    await page.locator("#what-if-answer").waitFor({ timeout: 120_000 });
    const answer = (await page.locator("#what-if-answer").textContent())!.replace(/\s+/g, " ");
    expect(answer).toMatch(/training rows left out; model [0-9a-f]{12} retrained in \d+\.\d s/);
    // The fixture's model has no held-out input, and its queries (the usage) no labels.
    expect(answer).toMatch(/No labelled rows to measure accuracy on/);
    const flips = Number(await page.locator("#what-if-flips").textContent());
    expect(log.some((l) => l === `what-if: nbtest: ${flips} of 30 predictions flip`)).toBe(true);
    expect(log.some((l) => /^pausing \d+ pipeline watchers? for a what-if retrain$/.test(l)), log.join("\n")).toBe(true);
    expect(await page.locator("#what-if svg[class^=plot] circle").count()).toBe(30);
    await page.screenshot({ path: path.join(SCREENS, "what-if.png"), fullPage: true });
    // The same question again: answered from the cache, no retrain.
    await page.locator("#what-if-run").click();
    await expect.poll(async () => (await page.locator("#what-if-answer").textContent())?.replace(/\s+/g, " ") ?? "", { timeout: 60_000 }).toMatch(/earlier \(the same question: reused\)/);
    expect(consoleErrors).toEqual([]);
  });

  it("checks whether the picked inference holds without its proponents: a real retrain, the answer led by that inference", async () => {
    const picked = /query=([0-9a-f]+)/.exec(new URL(page.url()).hash)![1]!;
    const n = await page.locator("#proponents li").count();
    expect(n).toBeGreaterThan(0);
    expect(await page.locator("#proponents-run").textContent()).toBe(`Retrain without these ${n} proponents`);
    await page.locator("#proponents-run").click();
    await page.locator("#proponents-answer").waitFor({ timeout: 120_000 });
    const focus = (await page.locator("#proponents-focus").textContent())!.replace(/\s+/g, " ").trim();
    expect(focus).toMatch(/^This inference (holds|flips): \w+ p \d\.\d{3} → (\w+ )?p\(\w+\) \d\.\d{3} \(the rise of its loss: TracIn estimated -?\d\.\d{4}, the retrain gives -?\d\.\d{4}\)\.$/);
    expect((await page.locator("#proponents-answer").textContent())!.replace(/\s+/g, " ")).toMatch(new RegExp(`\\. ${n} training rows left out; model [0-9a-f]{12} retrained`));
    expect(log.some((l) => l.startsWith(`what-if: nbtest without contribution`))).toBe(true);
    // The same inference is still the one picked, and the other panel keeps its own answer.
    expect(new URL(page.url()).hash).toBe(`#query=${picked}`);
    expect(await page.locator("#what-if-answer").count()).toBe(1);
    console.log(`proponents check: ${focus}`);
    // A link in an answer (#query=…) picks that inference on this page.
    const hrefs = await page.locator("#what-if a[href^='#query=']").evaluateAll((els) => els.map((e) => e.getAttribute("href")!));
    const target = hrefs.map((h) => /query=([0-9a-f]+)/.exec(h)![1]!).find((q) => q !== picked)!;
    expect(target).toBeDefined();
    await page.locator(`#what-if a[href='#query=${target}']`).first().click();
    await expect.poll(() => page.locator("form select").first().evaluate((e) => (e as any).selectedOptions[0]?.textContent ?? ""), { timeout: 15_000 }).toContain(target.slice(0, 8));
    expect(new URL(page.url()).hash).toBe(`#query=${target}`);
    expect(consoleErrors).toEqual([]);
  });

  it("shows a hostile contribution's markup as inert text", async () => {
    // An inference whose top contributions include one of mallory's.
    const prefixes = hostileIds.map((id) => id.slice(0, 12));
    const ws = await openWorkspaceRetrying(home);
    let query: string | undefined;
    try {
      const [row] = await ws.rows<{ query: string }>(
        `select query from read_parquet(?) where level = 'contribution' and contributor = 'mallory' order by abs(rank), query limit 1`,
        [await artifactOf(ws, "influence")]);
      query = row?.query;
    } finally {
      ws.close();
    }
    expect(query, "no inference has a hostile contribution among its top 5").toBeTruthy();
    const select = page.locator("form select").first();
    const labels = await select.locator("option").allTextContents();
    const index = labels.findIndex((l) => l.includes(query!.slice(0, 8)));
    expect(index).toBeGreaterThanOrEqual(0);
    await select.selectOption({ index });
    await expect.poll(listText, { timeout: 15_000 }).toContain("mallory");
    const text = await listText();
    expect(prefixes.some((p) => text.includes(p))).toBe(true);
    expect(text).toMatch(/<script|<img src=x onerror|<iframe src="javascript:|<svg onload|<a href="javascript:/);
    await page.waitForTimeout(500);
    const dom = await page.evaluate<{ pwned: string | null; scripts: number; hidden: string }>(`({
      pwned: window.__pwned ?? null,
      // Plot and Inputs add <style> elements of their own: only a stylesheet from the data would hide the body.
      scripts: document.querySelectorAll("main script, main iframe, main img, main [onerror], main [onmouseover], main [onload], main a[href^=javascript]").length,
      hidden: getComputedStyle(document.body).display,
    })`);
    expect(dom).toEqual({ pwned: null, scripts: 0, hidden: "block" });
    await page.locator("#proponents, #opponents").first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SCREENS, "influence-explorer-hostile.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it("updates an open page without a reload when a curator's rejection changes the outputs", async () => {
    // The page shows a hostile contribution among the proponents or opponents; reject it.
    const before = await listText();
    const victim = hostileIds.find((id) => before.includes(id.slice(0, 12)))!;
    expect(victim).toBeTruthy();
    await page.evaluate("window.__marker = 1"); // gone if the page reloads
    expect(await page.evaluate<string>("location.hash")).toMatch(/^#query=[0-9a-f]{64}$/);
    const pickedBefore = await pickedMessage();
    // The Pipeline runs page, open in another tab: it follows the watcher's cycles.
    const runsPage = await context.newPage();
    runsPage.on("pageerror", (e) => consoleErrors.push(`pipeline-runs: ${e.message}`));
    runsPage.on("console", (m) => void (m.type() === "error" && consoleErrors.push(`pipeline-runs: ${m.text()}`)));
    await runsPage.goto(`${server.url}pipeline-runs?pipeline=nbtest`);
    await runsPage.locator("#runs details").first().waitFor({ timeout: 60_000 });
    await settled(runsPage);
    const runsSummary = async () => (await runsPage.locator("#runs-summary").textContent())!.replace(/\s+/g, " ");
    const recorded = Number(/^nbtest: (\d+) pipeline runs? recorded/.exec(await runsSummary())?.[1]);
    expect(recorded).toBeGreaterThan(0);
    await runsPage.evaluate("window.__marker = 1");
    // Runs opened and closed by hand stay so when the log is drawn again: the newest (open until
    // touched) closed, an older one opened.
    expect(recorded).toBeGreaterThan(1);
    const isOpen = (id: string) => runsPage.locator(`#runs details[data-run="${id}"]`).evaluate((d) => (d as { open?: boolean }).open);
    const [closedRun, openedRun] = [await runsPage.locator("#runs details").nth(0).getAttribute("data-run"), await runsPage.locator("#runs details").nth(1).getAttribute("data-run")];
    expect([await isOpen(closedRun!), await isOpen(openedRun!)]).toEqual([true, false]);
    await runsPage.locator("#runs details summary").nth(0).click();
    await runsPage.locator("#runs details summary").nth(1).click();
    expect([await isOpen(closedRun!), await isOpen(openedRun!)]).toEqual([false, true]);
    // What Cells now says through the cycle: the watcher holds the workspace, so the cells it runs are told as it reports them.
    await runsPage.evaluate(`window.__summaries = [];
      new MutationObserver(() => {
        const t = document.querySelector("#cells-now-summary")?.textContent?.replace(/\\s+/g, " ") ?? "";
        if (t && window.__summaries.at(-1) !== t) window.__summaries.push(t);
      }).observe(document.body, { childList: true, subtree: true, characterData: true });`);
    const eventsBefore = server.events.length;
    const ws = await openWorkspaceRetrying(home);
    try {
      await decide(ws, { ids: [victim], verdict: "rejected", validator: "test:curator", reason: "markup in a contribution" });
    } finally {
      ws.close();
    }
    // The watcher retrains without it; the new influence reaches the page over Vite's websocket.
    await expect.poll(() => page.evaluate<string[]>("window.__tracebook.events.map((e) => e.cell)"), { timeout: 240_000, interval: 1000 })
      .toContain("influence");
    // Each new output names its cell's kind: a cell new to the page's catalog is known for what it is.
    expect(await page.evaluate<string[]>("window.__tracebook.events.filter((e) => e.cell === 'influence').map((e) => e.kind)")).toContain("tracin");
    // Settled: the server queries on the new influence answered again, and the lists are drawn
    // from them without the victim (the page never holds the influence table itself).
    await expect.poll(async () => { const t = await listText(); return /#1 /.test(t) && !t.includes(victim.slice(0, 12)); }, { timeout: 30_000 }).toBe(true);
    expect(await page.evaluate("window.__marker")).toBe(1);
    // The same message (the workload replayed through the retrained model: new inference ids,
    // same payloads), now without the rejected contribution; the retrained model may label it otherwise.
    expect(await pickedMessage()).toEqual(pickedBefore);
    // The first model's 30 paid inferences stay, listed after the current model's, with the
    // attribution they were paid on; the pick is the current model's copy of the message.
    const picker = page.locator("form select").first();
    await expect.poll(() => picker.locator("option").count(), { timeout: 30_000 }).toBe(60);
    const labels = await picker.locator("option").allTextContents();
    expect(labels.map((l) => l.endsWith(" · earlier model"))).toEqual([...Array(30).fill(false), ...Array(30).fill(true)]);
    expect(await page.locator("#earlier-model").count()).toBe(0);
    await page.screenshot({ path: path.join(SCREENS, "influence-explorer-after-rejection.png"), fullPage: true });
    // One of them picked: the model that executed it, its proponents, and no retrain of the current model offered for it.
    await picker.selectOption({ index: 30 });
    await expect.poll(async () => (await page.locator("#earlier-model").textContent() ?? "").replace(/\s+/g, " "), { timeout: 30_000 })
      .toMatch(/^Executed by model [0-9a-f]{12}, since retrained: traced through that model and the rows that trained it, as when it was paid/);
    await settled(page);
    expect(await listText()).toMatch(/#1 /);
    expect(await page.locator("#proponents-earlier").count()).toBe(1);
    expect(await page.locator("#proponents-run").isDisabled()).toBe(true);
    await picker.selectOption({ index: 0 });
    await expect.poll(() => page.locator("#earlier-model").count(), { timeout: 30_000 }).toBe(0);
    console.log(`rejected ${victim.slice(0, 12)}; server log:\n  ${log.join("\n  ")}`);
    // The rest of the cycle (rewards, curation cells) finishes before the next test: its pages then load settled outputs.
    await expect.poll(() => server.events.slice(eventsBefore).some((e) => e.event === "watch-cycle" && e.summary.ran.includes("influence")), { timeout: 240_000, interval: 1000 }).toBe(true);
    // The run log follows without a reload: the watcher's run, what woke it, and why each cell ran.
    await expect.poll(async () => Number(/^nbtest: (\d+) pipeline runs recorded/.exec(await runsSummary())?.[1]) > recorded, { timeout: 30_000 }).toBe(true);
    expect(await runsSummary()).toMatch(/Last watch cycle \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(the workspace changed\): \d+ ran, 0 failed\.$/);
    expect(await runsPage.locator("#tb-live").textContent()).toMatch(/^live · \d+ ran at /); // not "running <its last cell>…"
    await settled(runsPage);
    expect([await isOpen(closedRun!), await isOpen(openedRun!)]).toEqual([false, true]);
    const summaries = await runsPage.evaluate<string[]>("window.__summaries");
    expect(summaries.filter((t) => /^1 running, \d+ fresh(, \d+ stale)? \(a watch cycle is running\)\. As of .*; the cells marked · as the watcher reports them since\.$/.test(t)).length, summaries.join("\n")).toBeGreaterThan(0);
    // Every cell now: the watcher has brought each up to date.
    await expect.poll(async () => (await runsPage.locator("#cells-now-summary").textContent())!.replace(/\s+/g, " "), { timeout: 30_000 })
      .toMatch(/^18 fresh\. As of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, from \S+nbtest\.pipeline\.m?ts\.$/);
    expect(await runsPage.locator("#cells-now tbody tr td:first-child code").allTextContents()).toEqual(
      ["notes", "tips", "train", "queries", "half", "base", "model", "workload", "usage", "influence", "receipts", "rewards", "penalties", "flags", "label_errors", "decisions", "last_retrain", "influence_last_layer"]);
    expect(await runsPage.locator("#runs details").first().evaluate((d) => (d as { open?: boolean }).open)).toBe(true); // the newest, untouched
    // Past ten cells the slowest nine keep a colour each and the rest share one.
    const legend = await runsPage.locator("#runs-chart span[class$='-swatch']").allTextContents();
    expect(legend).toHaveLength(10);
    expect(legend.at(-1)).toMatch(/^\d+ other cells$/);
    await runsPage.screenshot({ path: path.join(SCREENS, "pipeline-runs-every-cell.png"), fullPage: true });
    // The retrain's run (a cycle after it may have found everything fresh, and recorded none).
    const newest = runsPage.locator("#runs details", { has: runsPage.locator('td code:text-is("train")') }).first();
    expect((await newest.locator("summary").textContent())!.replace(/\s+/g, " ")).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · tracebook dev, watching: the workspace changed · \d+ cells ran, (\d+ reused, )?\d+ outputs? changed( · .* s)?$/);
    const cellRow = async (cell: string) => (await newest.locator("tr", { has: runsPage.locator(`td code:text-is("${cell}")`) }).textContent())!.replace(/\s+/g, " ");
    expect(await cellRow("train")).toMatch(/^ ?train sql ran [\d.]+ s [\d,]+ changed [0-9a-f]{12} input \w+ changed/);
    expect(await cellRow("influence")).toMatch(/ran [\d.]+ s [\d,]+ changed [0-9a-f]{12} input \w+ changed/);
    expect(await runsPage.locator("#runs-chart g[aria-label=bar] rect").count()).toBeGreaterThan(0);
    expect(await runsPage.evaluate("window.__marker")).toBe(1);
    // One cell's runs: each pipeline run that ran it, with that cell alone, the newest the rejection's.
    await runsPage.locator("select").first().selectOption("influence");
    await expect.poll(runsSummary, { timeout: 30_000 }).toMatch(/^nbtest\.influence: \d+ pipeline runs? that ran it recorded/);
    await settled(runsPage);
    const shown = await runsPage.locator("#runs details").count();
    expect(await runsPage.locator("#runs tbody tr").count()).toBe(shown);
    expect(new Set(await runsPage.locator("#runs tbody tr td:first-child code").allTextContents())).toEqual(new Set(["influence"]));
    expect((await runsPage.locator("#runs tbody tr").first().textContent())!).toMatch(/input \w+ changed/);
    await runsPage.screenshot({ path: path.join(SCREENS, "pipeline-runs.png"), fullPage: true });
    await runsPage.close();
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  /** Wait until no cell of the page is running (their queries have answered and they have drawn). */
  const settled = (p: Page) => p.waitForFunction("!document.querySelector('.tb-running')", null, { timeout: 60_000 });
  /** The contributor table's row of a contributor: contributions, shares, paid. */
  const contributorRow = (p: Page, who: string) => p.locator(`#contributors-table tr[data-contributor="${who}"] td`).allTextContents();

  it("loads Contributors and rewards with real data, its charts and no console errors", async () => {
    const requested: string[] = [];
    const onRequest = (r: { url(): string }) => void requested.push(r.url());
    page.on("request", onRequest);
    const t0 = Date.now();
    await page.goto(`${server.url}contributors-and-rewards?pipeline=nbtest`);
    await page.locator("#models li").first().waitFor({ timeout: 60_000 });
    await settled(page);
    const ms = Date.now() - t0;
    console.log(`contributors and rewards: first load ${ms} ms`);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
    // Every query of it ran on the server (```sql server blocks, and query functions for what only
    // some pipelines have): no table came to the page, and no query was asked twice.
    expect(await page.evaluate<Record<string, string | null>>("window.__tracebook.mounted.db.registered()")).toEqual({});
    expect(requested.filter((u) => u.includes("/@tracebook/data/"))).toEqual([]);
    const asked = requested.filter((u) => u.includes("/@tracebook/query/nbtest/"));
    expect(asked.length).toBeGreaterThanOrEqual(14);
    expect(new Set(asked).size).toBe(asked.length);
    // Where it reads influence itself, it gets only the columns its front matter names.
    expect((await page.evaluate<string[]>(`window.__tracebook.mounted.db.query("select * from influence limit 0").then((t) => t.schema.fields.map((f) => f.name))`)).sort())
      .toEqual(["contributor", "key", "level", "query", "score"]);
    // Plot's charts: contributors (dots), the two Datanets, the fee flow and the recipients (bars), the models, the outputs each contributor helps (and its colour ramp).
    expect(await page.locator("svg[class^=plot]").count()).toBe(7);
    expect(await page.locator("svg[class^=plot] [aria-label='dot'] :is(circle, path)").count()).toBeGreaterThan(8); // symbols: one per Datanet
    expect(await page.locator("svg[class^=plot] [aria-label='bar'] rect").count()).toBeGreaterThan(10);
    const text = (await page.locator("#tb-notebook").textContent())!.replace(/\s+/g, " ");
    // The live-rejection test before this one retrained the model: the workload replayed on it, and
    // the first model's 30 paid inferences stay in the epoch's statement.
    expect(text).toMatch(/60 executed inferences \(30 by the current model, the rest by earlier ones\) paid 0\.06 in fees; .* pays out 0\.06 to \d+ recipients: reconciled to the base unit/);
    expect((await page.textContent("#usage-sources"))?.replace(/\s+/g, " ").trim()).toBe(
      "How the current models' inferences came in: 30 from the seeded workload workload:nbtest.workload. 30 more by models since retrained, with the attribution they were paid on.");
    expect((await page.textContent("#epochs"))?.replace(/\s+/g, " ")).toBe("Epoch e1: open, provisional until closed (a run may still change it).");
    // The penalties listed are the records the split wrote (the pipeline's penaltyRecords cell).
    expect((await page.textContent("#penalised-source"))?.replace(/\s+/g, " ").trim()).toBe("As the reward split recorded them (penalties): the penalties the lines were split under.");
    // One list per scope (epoch × model), its inferences said once, and every penalised contributor under it.
    const scopes = (await page.locator("#penalised .tb-scope-head").allTextContents()).map((t) => t.replace(/\s+/g, " ").trim());
    expect(scopes.length).toBeGreaterThan(0);
    for (const s of scopes) expect(s).toMatch(/^e1 on model [0-9a-f]{12}, over \d+ inferences?: \d+ contributors? earns? nothing from them$/);
    const listed = scopes.reduce((n, s) => n + Number(/: (\d+) contributor/.exec(s)![1]), 0);
    expect(await page.locator("#penalised li").count()).toBe(listed);
    expect(await page.locator("#penalised li").first().textContent()).toMatch(/^\S+: net influence -\d\.\d{3}e[+-]\d+$/);
    // The Datanets side by side: size against share of influence.
    expect((await page.locator("#datanets-table tbody tr").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-datanet")))).sort()).toEqual(["notes", "tips"]);
    expect(await page.locator("#models li").allTextContents()).toEqual([
      expect.stringMatching(/^model \(adapter\) [0-9a-f]{16}:\s+30 executed inferences, 0\.03 in fees$/),
      expect.stringMatching(/^base \(base\) [0-9a-f]{16}:\s+base was never executed in epoch e1: nothing earns for existing$/),
    ]);
    const mallory = await contributorRow(page, "mallory");
    expect(mallory.slice(0, 2)).toEqual(["mallory", "notes"]);
    // Which outputs each contributor's data helps: every contributor in one group, one cell per contributor and output.
    const sides = (await page.locator("#sides").textContent())!.replace(/\s+/g, " ");
    const group = String.raw`\d+ contributors? helps? (only (ham|spam)|more than one output) \((none|all \d+|\d+) penalised\)\. ?`;
    const output = (o: string) => String.raw`${o}: \d+ inferences, \d+\.\d% of the influence mass`;
    expect(sides).toMatch(new RegExp(String.raw`^(${output("ham")} · ${output("spam")}|${output("spam")} · ${output("ham")})\. (${group})+$`));
    const grouped = [...sides.matchAll(/(\d+) contributors? helps?/g)].reduce((n, m) => n + Number(m[1]), 0);
    const withInfluence = await page.locator("#contributors-table tbody tr").count();
    expect(grouped).toBe(withInfluence);
    expect(await page.locator("svg[class^=plot] [aria-label='cell'] rect").count()).toBe(2 * withInfluence);
    await page.screenshot({ path: path.join(SCREENS, "contributors-and-rewards.png"), fullPage: true });
    page.off("request", onRequest);
    expect(consoleErrors).toEqual([]);
  });

  it("loads Attribution quality: the LOCO ceiling, the charts, and how to run the evaluation where none has run", async () => {
    const t0 = Date.now();
    await page.goto(`${server.url}attribution-quality?pipeline=nbquality`);
    await page.locator("#loco-verdict").waitFor({ timeout: 60_000 });
    await settled(page);
    console.log(`attribution quality: first load ${Date.now() - t0} ms`);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
    expect(await page.locator("#not-run").count()).toBe(0);
    expect((await page.locator("#tb-notebook").textContent())!).not.toMatch(/\bnull\b/);
    expect((await page.locator("#loco-verdict").textContent())!.replace(/\s+/g, " ")).toMatch(/ranks contributors as retraining does at Spearman -?[01]\.\d{3}, where two retrainings under different seeds agree at -?[01]\.\d{3} \(seed 5 vs seed 6\)/);
    // LOCO scatter, LDS bars beside the published figures, mislabel recall lines.
    expect(await page.locator("svg[class^=plot]").count()).toBe(3);
    expect(await page.locator("#mislabel-setup").textContent()).toMatch(/^\d+ of \d+ training labels flipped \(seed 3\)/);
    // Served, not watched (the server watches nbtest only): the page does not claim to be live.
    await expect.poll(() => page.locator("#tb-live").textContent()).toBe("not live: no watcher runs nbquality (tracebook run nbquality, then reload)");
    expect(await page.locator("#tb-live").getAttribute("class")).not.toContain("tb-on");
    await page.screenshot({ path: path.join(SCREENS, "attribution-quality.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
    // A pipeline with no evaluation: the page says what to run, and shows no chart.
    await page.goto(`${server.url}attribution-quality?pipeline=nbtest`);
    await page.locator("#not-run").waitFor({ timeout: 60_000 });
    expect((await page.locator("#not-run").textContent())!.replace(/\s+/g, " ")).toMatch(/No loco, lds, mislabel result in this workspace yet: run npx tracebook run nbtest where it declares these cells .* --quality writes one that does/);
    expect(await page.locator("svg[class^=plot]").count()).toBe(0);
    // Nor where the pipeline itself has never run: a state to explain, not a failed request.
    await page.goto(`${server.url}attribution-quality?pipeline=never-run`);
    await page.locator("#not-run").waitFor({ timeout: 60_000 });
    await settled(page);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it("loads the curation queue: ranked contributions, charts, hostile text shown inert", async () => {
    const t0 = Date.now();
    await page.goto(`${server.url}curation-queue?pipeline=nbtest`);
    await page.locator("#queue li.tb-queue-item").first().waitFor({ timeout: 60_000 });
    await settled(page);
    console.log(`curation queue: first load ${Date.now() - t0} ms`);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
    // Every query of it ran on the server: no table came to the page.
    expect(await page.evaluate<Record<string, string | null>>("window.__tracebook.mounted.db.registered()")).toEqual({});
    expect(await page.locator("svg[class^=plot] [aria-label='dot'] circle").count()).toBeGreaterThan(50); // the label-error signals
    expect(await page.locator("#queue li.tb-queue-item").count()).toBe(25);
    // Rule flags first; then the rows only the model doubts, by label-error score, highest first.
    const metas = (await page.locator("#queue li.tb-queue-item > .tb-meta").allTextContents()).map((t) => t.replace(/\s+/g, " "));
    const tiers = metas.map((t) => ["error", "conflict", "duplicate", "notice", "label?", "scored"].indexOf(/· ([\w?]+) ·/.exec(t)?.[1] ?? "")).map((x) => Math.min(x, 4));
    expect(tiers.every((x, i) => x >= 0 && (i === 0 || x >= tiers[i - 1]!))).toBe(true);
    // eve's rows: too short to learn from (a rule error), and mallory's first message under the other label (a conflict).
    expect(tiers[0]).toBe(0);
    expect(tiers).toContain(1);
    expect((await page.locator("#queue li.tb-queue-item").first().textContent())!.replace(/\s+/g, " ")).toMatch(/eve .* empty payload is 9 characters .* ok thanks/);
    // Eve's rows were approved while pending, before the model scored them: they stay, and say so.
    expect(await page.locator("#reopened").textContent()).toMatch(/^2 were approved while pending, before the model scored them/);
    expect(await page.locator("#queue li.tb-queue-item").first().locator(".tb-admitted").textContent())
      .toMatch(/^approved while pending by test:intake on \d{4}-\d\d-\d\d, before the model scored it: keep it once reviewed$/);
    expect(await page.locator("svg[class^=plot] [aria-label='bar'] rect").count()).toBeGreaterThan(0); // flags per rule
    const scores = metas.filter((_t, i) => tiers[i] === 4).map((t) => Number(/score (-?[\d.]+)/.exec(t)?.[1]));
    expect(scores.length).toBeGreaterThan(10);
    expect(scores.every((x, i) => i === 0 || x <= scores[i - 1]!)).toBe(true);
    await page.getByPlaceholder("Search the text, contributor, rule or reason…").fill("mallory");
    const contributors = () => page.locator("#queue li.tb-queue-item").evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute("data-contributor")))].sort());
    // mallory's rows, and eve's copy of one (its conflict flag names mallory).
    await expect.poll(contributors, { timeout: 15_000 }).toEqual(["eve", "mallory"]);
    await settled(page);
    const queueText = (await page.locator("#queue").textContent())!;
    expect(queueText).toContain(`<script>window.__pwned = "script"</script>`);
    expect(queueText).toMatch(/<img src=x onerror=|<svg onload=|<a href="javascript:/);
    await page.waitForTimeout(500);
    const dom = await page.evaluate<{ pwned: string | null; active: number; hidden: string }>(`({
      pwned: window.__pwned ?? null,
      active: document.querySelectorAll("#queue script, #queue iframe, #queue img, #queue [onerror], #queue [onmouseover], #queue [onload], #queue a[href^=javascript], #queue style").length,
      hidden: getComputedStyle(document.body).display,
    })`);
    expect(dom).toEqual({ pwned: null, active: 0, hidden: "block" });
    await page.screenshot({ path: path.join(SCREENS, "curation-queue-hostile.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  });

  it("previews a rejection of the rows ticked: a real retrain without them through the server, nothing decided", async () => {
    const train = page.locator("#queue li.tb-queue-item[data-split=train]");
    // Held-out rows trained nothing: their box is off.
    expect(await page.locator("#queue li.tb-queue-item[data-split=test] input.tb-pick").evaluateAll((els) => els.every((e) => (e as any).disabled))).toBe(true);
    const ids = (await train.evaluateAll((els) => els.map((e) => e.getAttribute("data-id")!))).slice(0, 2);
    expect(ids).toHaveLength(2);
    for (const id of ids) await page.locator(`#queue li[data-id="${id}"] input.tb-pick`).check();
    await expect.poll(async () => (await page.locator("#preview-picked").textContent())!.replace(/\s+/g, " ")).toMatch(/^2 picked \((eve|mallory) \d/);
    const decisionsBefore = log.filter((l) => l.startsWith("decision:")).length;
    await page.locator("#preview #what-if-run").click();
    await page.locator("#preview #what-if-answer").waitFor({ timeout: 120_000 });
    const answer = (await page.locator("#preview #what-if-answer").textContent())!.replace(/\s+/g, " ");
    expect(answer).toMatch(/^ ?2 training rows left out; model [0-9a-f]{12} retrained in \d+\.\d s/);
    expect(log).toContain(`what-if: nbtest without contributions ${ids.map((i) => i.slice(0, 12)).sort().join(", ")}: retraining…`);
    // A flipped prediction links to the Influence explorer, which shows that inference.
    const links = await page.locator("#preview #what-if-flipped a").evaluateAll((els) => els.map((e) => e.getAttribute("href")));
    expect(links.every((h) => /^influence-explorer\?pipeline=nbtest#query=[0-9a-f]+$/.test(h!))).toBe(true);
    await page.screenshot({ path: path.join(SCREENS, "curation-queue-preview.png"), fullPage: true });
    // Nothing was decided: no decision logged, the rows still in the queue.
    expect(log.filter((l) => l.startsWith("decision:")).length).toBe(decisionsBefore);
    for (const id of ids) expect(await page.locator(`#queue li[data-id="${id}"]`).count()).toBe(1);
    // Every training row shown, picked at once; then cleared, boxes and all.
    await page.locator("#preview-clear").click();
    await expect.poll(async () => (await page.locator("#preview-picked").textContent())!.trim()).toMatch(/^Nothing picked/);
    const shown = await train.count();
    await page.locator("#preview-shown").click();
    await expect.poll(async () => (await page.locator("#preview-picked").textContent())!.replace(/\s+/g, " ")).toMatch(new RegExp(`^${shown} picked`));
    expect(await page.locator("#queue input.tb-pick:checked").count()).toBe(shown);
    await page.locator("#preview-clear").click();
    expect(await page.locator("#queue input.tb-pick:checked").count()).toBe(0);
    console.log(`curation preview: ${answer.slice(0, 160)}; ${shown} training rows shown`);
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  it("records a rejection made with the page's button, and both notebooks follow the pipeline without a reload", async () => {
    // The reviewers' notebook, open in a second tab: its numbers must follow the curator's decision.
    const reviewer = await context.newPage();
    reviewer.on("console", (m) => { if (m.type() === "error") consoleErrors.push(`reviewer tab: ${m.text()}`); });
    reviewer.on("pageerror", (e) => consoleErrors.push(`reviewer tab: pageerror: ${e.message}`));
    try {
      await reviewer.goto(`${server.url}contributors-and-rewards?pipeline=nbtest`);
      await reviewer.locator("#contributors-table tr").nth(1).waitFor({ timeout: 60_000 });
      await settled(reviewer);
      const before = Number((await contributorRow(reviewer, "mallory"))[2]);
      await reviewer.evaluate("window.__marker = 1");
      await page.evaluate("window.__marker = 1"); // gone if a page reloads

      // A hostile training contribution of mallory's, on the queue page (filtered to mallory above).
      const id = (await page.locator("#queue li.tb-queue-item[data-contributor=mallory][data-split=train]").first().getAttribute("data-id"))!;
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      const item = page.locator(`#queue li[data-id="${id}"]`);
      await page.getByPlaceholder("your name or id, e.g. ann@example.org").fill("test:ann");
      // Without a reason the server refuses, naming the field, and nothing is recorded.
      const errorsBefore = consoleErrors.length;
      await item.locator("button[data-verdict=rejected]").click();
      await expect.poll(() => item.locator(".tb-status").textContent()).toMatch(/^reason: a decision needs a reason/);
      expect(await item.locator(".tb-status").getAttribute("class")).toContain("tb-refused");
      // (Chromium logs every 4xx answer to a fetch: that one is expected.)
      expect(consoleErrors.splice(errorsBefore)).toEqual([expect.stringMatching(/status of 400 \(Bad Request\)/)]);
      await item.locator(".tb-reason").fill("markup and script in a contribution");
      const eventsBefore = server.events.length;
      await item.locator("button[data-verdict=rejected]").click();
      await expect.poll(() => item.locator(".tb-status").textContent(), { timeout: 60_000 }).toMatch(/^rejected · validation #\d+ by test:ann · the pipeline is recomputing/);
      expect(await page.locator(`#decisions li[data-id="${id}"]`).textContent()).toMatch(/rejected .* \(mallory\) · validation #\d+ · markup and script in a contribution/);

      // The watcher recomputes without it; the new outputs reach both pages over Vite's websocket.
      await expect.poll(() => page.locator(`#decisions li[data-id="${id}"]`).getAttribute("data-reached"), { timeout: 240_000, interval: 1000 }).toBe("true");
      await expect.poll(() => page.locator(`#queue li[data-id="${id}"]`).count(), { timeout: 30_000 }).toBe(0);
      expect(await page.locator(`#decisions li[data-id="${id}"]`).textContent()).toContain("gone from the pipeline's outputs");
      await expect.poll(async () => Number((await contributorRow(reviewer, "mallory"))[2]), { timeout: 240_000, interval: 1000 }).toBe(before - 1);
      expect(await page.evaluate("window.__marker")).toBe(1);
      expect(await reviewer.evaluate("window.__marker")).toBe(1);

      // On the validation trail once the pipeline has settled (the test's reads then contend with no watcher).
      await expect.poll(() => server.events.slice(eventsBefore).some((e) => e.event === "watch-cycle" && e.summary.ran.includes("rewards")), { timeout: 300_000, interval: 1000 }).toBe(true);
      const ws = await openWorkspaceRetrying(home);
      try {
        const records = await ws.rows<{ validator: string; verdict: string; rule: string; reason: string }>(
          "select validator, verdict, rule, reason from validations where contribution = ? and rule <> 'import' order by seq", [id]);
        expect(records).toEqual([{ validator: "test:ann", verdict: "rejected", rule: "manual", reason: "markup and script in a contribution" }]);
        expect((await ws.rows<{ status: string }>("select status from contributions where id = ?", [id]))[0]!.status).toBe("rejected");
      } finally {
        ws.close();
      }
      await settled(page);
      await settled(reviewer);
      // What the retrain changed: the row that left, with the curator's record, and the held-out predictions.
      await expect.poll(() => page.locator("#retrain-rows").textContent(), { timeout: 60_000 }).toContain(id.slice(0, 12));
      const left = (await page.locator("#retrain-rows tr", { hasText: id.slice(0, 12) }).first().textContent())!;
      expect(left).toMatch(/left.*mallory.*rejected.*rejected.*test:ann.*markup and script in a contribution/);
      const card = (await page.locator("#retrain").textContent())!.replace(/\s+/g, " ");
      expect(card).toMatch(/→ .* \(trained .*\): \d+ training rows? left and \d+ entered .* On the \d+ held-out rows, accuracy [\d.]+% → [\d.]+%, mean loss [\d.]+ → [\d.]+; \d+ predictions? changed\./);
      const changed = Number(await page.locator("#retrain-changed").textContent());
      expect(await page.locator("#retrain-outputs li").count()).toBe(Math.min(changed, 20));
      await page.screenshot({ path: path.join(SCREENS, "curation-queue-after-rejection.png"), fullPage: true });
      await reviewer.screenshot({ path: path.join(SCREENS, "contributors-and-rewards-after-rejection.png"), fullPage: true });
      console.log(`rejected ${id.slice(0, 12)} from the page; server log:\n  ${log.slice(-30).join("\n  ")}`);
      expect(consoleErrors).toEqual([]);
    } finally {
      await reviewer.close();
    }
  }, 600_000);

  it("records a keep made with the page's button: the row leaves the queue and stays approved", async () => {
    // Eve's row, admitted at intake before the model scored it: a keep is the review that takes it out.
    const id = (await page.locator("#queue li.tb-queue-item").first().getAttribute("data-id"))!;
    const item = page.locator(`#queue li[data-id="${id}"]`);
    expect(await item.locator(".tb-admitted").count()).toBe(1);
    expect(await item.locator("button[data-verdict=keep]").textContent()).toBe("Keep approved");
    await item.locator(".tb-reason").fill("reviewed: the label is right");
    const eventsBefore = server.events.length;
    await item.locator("button[data-verdict=keep]").click();
    await expect.poll(() => item.locator(".tb-status").textContent(), { timeout: 60_000 }).toMatch(/^kept approved · validation #\d+ by test:ann/);
    // The watcher reads the trail again (no retraining: no status changed); the row leaves the queue.
    await expect.poll(() => page.locator(`#decisions li[data-id="${id}"]`).getAttribute("data-reached"), { timeout: 120_000, interval: 1000 }).toBe("true");
    expect(await page.locator(`#decisions li[data-id="${id}"]`).textContent()).toContain("on the trail the pipeline read: out of the queue");
    await expect.poll(() => page.locator(`#queue li[data-id="${id}"]`).count(), { timeout: 30_000 }).toBe(0);
    await expect.poll(() => server.events.slice(eventsBefore).some((e) => e.event === "watch-cycle" && e.summary.ran.includes("decisions")), { timeout: 120_000, interval: 1000 }).toBe(true);
    const cycles = server.events.slice(eventsBefore).filter((e) => e.event === "watch-cycle");
    expect(cycles.flatMap((e) => e.summary.ran)).not.toContain("model");
    // The trail table, newest first: this keep, then the rejection made before it.
    const trailRow = async (i: number) => (await page.locator("#trail tbody tr").nth(i).locator("td").allTextContents()).join(" | ");
    await expect.poll(() => trailRow(0), { timeout: 30_000 }).toMatch(/\| test:ann \| approved \| [^|]+ \| reviewed: the label is right \| manual \| [0-9a-f]{12}$/);
    expect(await trailRow(1)).toMatch(/\| test:ann \| rejected \| mallory \| markup and script in a contribution \| manual \| [0-9a-f]{12}$/);
    const ws = await openWorkspaceRetrying(home);
    try {
      expect(await ws.rows("select validator, verdict, reason from validations where contribution = ? and rule <> 'import' order by seq", [id]))
        .toEqual([{ validator: "test:intake", verdict: "approved", reason: "admitted at intake" }, { validator: "test:ann", verdict: "approved", reason: "reviewed: the label is right" }]);
      expect((await ws.rows<{ status: string }>("select status from contributions where id = ?", [id]))[0]!.status).toBe("approved");
    } finally {
      ws.close();
    }
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  it("keeps every row shown at once: one record each, and they leave the queue", async () => {
    await page.goto(`${server.url}curation-queue?pipeline=nbtest`);
    await page.locator("#queue li.tb-queue-item").first().waitFor({ timeout: 60_000 });
    await settled(page);
    if (!(await page.getByPlaceholder("your name or id, e.g. ann@example.org").inputValue())) await page.getByPlaceholder("your name or id, e.g. ann@example.org").fill("test:ann");
    await page.getByPlaceholder("Search the text, contributor, rule or reason…").fill("tip1");
    const shown = () => page.locator("#queue li.tb-queue-item").evaluateAll((els) => els.map((e) => [e.getAttribute("data-id"), e.getAttribute("data-contributor")]));
    await expect.poll(async () => (await shown()).length > 0 && (await shown()).every(([, c]) => c === "tip1"), { timeout: 15_000 }).toBe(true);
    await settled(page);
    const ids = (await shown()).map(([id]) => id!);
    const form = page.locator("#keep-shown");
    expect(await form.locator("button").textContent()).toBe(`Keep the ${ids.length} rows shown`);
    // No reason, no decision: the server refuses (the browser logs the 400), the page says so and nothing is recorded.
    const errorsBefore = consoleErrors.length;
    await form.locator("button").click();
    await expect.poll(() => form.locator(".tb-status").textContent(), { timeout: 30_000 }).toMatch(/reason/);
    expect(consoleErrors.splice(errorsBefore)).toEqual([expect.stringMatching(/status of 400 \(Bad Request\)/)]);
    await form.locator(".tb-reason").fill("read every tip1 row: labels right");
    await form.locator("button").click();
    await expect.poll(() => form.locator(".tb-status").textContent(), { timeout: 60_000 }).toMatch(new RegExp(`^kept ${ids.length} · `));
    await expect.poll(async () => (await shown()).length, { timeout: 120_000, interval: 1000 }).toBe(0);
    const ws = await openWorkspaceRetrying(home);
    try {
      const kept = await ws.rows<{ contribution: string; validator: string; verdict: string }>(
        "select contribution, validator, verdict from validations where reason = 'read every tip1 row: labels right' order by contribution");
      expect(kept.map((r) => r.contribution)).toEqual(ids.slice().sort());
      expect(kept.every((r) => r.validator === "test:ann" && r.verdict === "approved")).toBe(true);
    } finally {
      ws.close();
    }
    await page.getByPlaceholder("Search the text, contributor, rule or reason…").fill("");
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  it("compares the models a retrain left on the Model history page: the row that left with its record, the predictions that changed", async () => {
    await page.goto(`${server.url}model-history?pipeline=nbtest`);
    await page.locator("#diff").waitFor({ timeout: 60_000 });
    await settled(page);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
    // The history: the current model first, the ones earlier retrains superseded after it.
    const states = (await page.locator("#history tr").allTextContents()).slice(1).map((t) => /current|earlier/.exec(t)?.[0]);
    expect(states[0]).toBe("current");
    expect(states.length).toBeGreaterThan(1);
    expect(states.slice(1).every((s) => s === "earlier")).toBe(true);
    // By default the current model against the one before it: the curator's rejection made from the queue above.
    const card = (await page.locator("#diff").textContent())!.replace(/\s+/g, " ");
    expect(card).toMatch(/^ ?[0-9a-f]{12} → [0-9a-f]{12}: 1 training row left and 0 entered \(\d+ → \d+\)/);
    expect(card).toMatch(/On the \d+ held-out rows of nbtest\.queries, accuracy [\d.]+% → [\d.]+%, mean loss [\d.]+ → [\d.]+; \d+ predictions? changed\./);
    expect((await page.locator("#diff-rows tr").nth(1).textContent())!).toMatch(/left.*mallory.*rejected.*rejected.*test:ann.*markup and script in a contribution/);
    const changed = Number(await page.locator("#diff-changed").textContent());
    expect(await page.locator("#diff-outputs li").count()).toBe(Math.min(changed, 20));
    // The base cell has its own history, and its own last retrain (the rejected row had trained it too).
    await page.locator("select").first().selectOption("base");
    await expect.poll(async () => (await page.locator("#diff").textContent())!.replace(/\s+/g, " "), { timeout: 30_000 }).not.toBe(card);
    await settled(page);
    expect((await page.locator("#diff").textContent())!.replace(/\s+/g, " ")).toMatch(/^ ?[0-9a-f]{12} → [0-9a-f]{12}: 1 training row left and 0 entered/);
    expect(await page.locator("#history tr").count()).toBeGreaterThan(2);
    await page.screenshot({ path: path.join(SCREENS, "model-history.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
  }, 120_000);

  it("builds a static site that works without the dev server", async () => {
    const outDir = path.join(tempDir("tb-nb-site-"), "site");
    const built = await buildNotebooks({ home, outDir, pipelines: [pipelineFile] });
    // The tables the shipped notebooks read (other notebooks may add theirs).
    // The server queries ran when it built: their results, not the tables they read, are what the page gets.
    // Those that take values (the explorer's, on the picked inference) and the query functions run in the page, on the tables shipped:
    // each was bound there while building, and one over a table this pipeline lacks (an evaluation's, here) is listed as failing.
    expect(listed(built)).toEqual([expect.stringMatching(new RegExp("^nbtest: attribution-quality#locoSummary \\(runs in the page; fails there: Catalog Error: Table with name loco does not exist!\\), .*contributors-and-rewards#totals \\(1 row, [\\d.]+ KiB gzipped\\), "
      + ".*contributors-and-rewards#byOutput \\(\\d+ rows, [\\d.]+ KiB gzipped\\), curation-queue#overview \\(1 row, [\\d.]+ KiB gzipped\\), .*curation-queue#queue \\(runs in the page\\), "
      + ".*explain-an-input#readRows \\(1 row, [\\d.]+ KiB gzipped\\), .*explain-an-input#inferenceOf \\(runs in the page\\), .*influence-explorer#queries \\(\\d+ rows, [\\d.]+ KiB gzipped\\), "
      + "influence-explorer#receiptOf \\(runs in the page\\), influence-explorer#methods \\(runs in the page\\), .*influence-explorer#contributorNets \\(\\d+ rows, [\\d.]+ KiB gzipped\\), "
      + "influence-explorer#estimated \\(runs in the page\\)$"))]);
    // Two notebooks with the same text share a key: both are named.
    expect(listed(built)[0]).toContain(", curation-queue#heldOutImages and model-history#heldOutImages (runs in the page), ");
    // Every other query left to the page binds over the tables shipped, and every fixed one ran.
    expect(built.queries[0]!.queries.filter((q) => q.fails).map((q) => q.where))
      .toEqual(["attribution-quality#locoSummary", "attribution-quality#locoCeiling", "attribution-quality#locoContributors", "attribution-quality#ldsRows", "attribution-quality#mislabelRows"]);
    expect(built.tables.map((t) => t.split(" ")[0]).sort()).toEqual(expect.arrayContaining(["nbtest.base", "nbtest.flags", "nbtest.influence", "nbtest.label_errors", "nbtest.model",
      "nbtest.queries", "nbtest.receipts", "nbtest.rewards", "nbtest.train", "nbtest.usage", "nbtest.influence_last_layer"]));
    // The receipts only with the columns the one notebook reading them names (front matter `columns`).
    expect(built.tables.find((t) => t.startsWith("nbtest.receipts "))).toMatch(/ rows, columns query, receipt_hash, model_id, /);
    const receipts = tableFromIPC(zlib.gunzipSync(fs.readFileSync(path.join(outDir, "_tracebook", "data", "nbtest", "receipts.arrow.gz"))));
    expect(receipts.schema.fields.map((f) => f.name)).toEqual(["query", "model_id", "receipt_hash"]);
    // The folder appears whole, by a rename: nothing of the build is left beside it.
    expect(fs.readdirSync(path.dirname(outDir))).toEqual(["site"]);
    expect(fs.existsSync(path.join(outDir, "influence-explorer.html"))).toBe(true);
    const files = fs.readdirSync(path.join(outDir, "assets"));
    expect(files.some((f) => /^duckdb-eh-.*\.wasm$/.test(f)) && files.some((f) => /^duckdb-browser-eh\.worker-.*\.js$/.test(f))).toBe(true);
    const site = await preview({ root: path.dirname(outDir), configFile: false, logLevel: "warn", build: { outDir: "site" }, preview: { host: "127.0.0.1", port: 0 } });
    try {
      const url = site.resolvedUrls!.local[0]!;
      const errors = consoleErrors.length;
      await page.goto(`${url}influence-explorer.html?pipeline=nbtest`);
      await page.locator("#proponents li").first().waitFor({ timeout: 60_000 });
      await page.locator("svg [aria-label='bar'] rect").first().waitFor({ timeout: 60_000 });
      expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
      expect(await page.locator("#tb-live").textContent()).toBe(""); // no live updates in a static site
      // The explorer's variants ship too (front matter tables: "influence*"), with their agreement.
      await page.locator("form input[type=radio]").nth(1).check();
      await expect.poll(async () => (await page.locator("#variant").textContent())!.replace(/\s+/g, " "), { timeout: 30_000 }).toMatch(/^influence_last_layer: TracIn last-layer, .* shares \d+% of the top proponents/);
      // A list of values (the contributors left out), bound in the page as on the server.
      const leaveOut = page.locator("form:has-text('Leave out') select");
      const first = (await leaveOut.locator("option").first().textContent())!.trim();
      await leaveOut.selectOption({ index: 0 });
      await expect.poll(async () => (await page.locator("#what-if-estimate").textContent())?.replace(/\s+/g, " ") ?? "", { timeout: 30_000 })
        .toMatch(new RegExp(`TracIn expects leaving out ${first.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} to weaken \\d+ of \\d+ predictions`));
      await page.screenshot({ path: path.join(SCREENS, "influence-explorer-static.png"), fullPage: true });
      // The curation queue is read-only there: no API, so no button records anything.
      await page.goto(`${url}curation-queue.html?pipeline=nbtest`);
      await page.locator("#queue li.tb-queue-item").first().waitFor({ timeout: 60_000 });
      expect(await page.locator(".tb-warn").textContent()).toMatch(/^Read-only: this is a static build/);
      expect(await page.locator("#queue button:not([disabled])").count()).toBe(0);
      // Contributors and rewards, down to which outputs each contributor's data helps.
      await page.goto(`${url}contributors-and-rewards.html?pipeline=nbtest`);
      await page.locator("#sides").waitFor({ timeout: 60_000 });
      expect((await page.locator("#sides").textContent())!).toMatch(/% of the influence mass/);
      expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
      // Model history as it was built: every model still in the workspace, each compared with the one
      // before it (the curator's rejection above retrained both cells); another pair needs the server.
      expect(built.models).toEqual([expect.stringMatching(/^nbtest: base \([1-9]\d* pairs?\), model \([1-9]\d* pairs?\)$/)]);
      await page.goto(`${url}model-history.html?pipeline=nbtest`);
      await page.locator("#history tr").nth(2).waitFor({ timeout: 60_000 });
      const staticCard = async () => (await page.locator("#diff").textContent())!.replace(/\s+/g, " ");
      await expect.poll(staticCard, { timeout: 30_000 }).toMatch(/^ ?[0-9a-f]{12} → [0-9a-f]{12}: 1 training row left and 0 entered \(\d+ → \d+\)/);
      expect(await staticCard()).toMatch(/On the \d+ held-out rows of nbtest\.queries, accuracy [\d.]+% → [\d.]+%/);
      expect((await page.locator("#diff-rows tr").nth(1).textContent())!).toMatch(/left.*mallory.*rejected.*rejected.*test:ann/);
      // The current model against itself is no pair; an earlier one as "this model" is one the build did not compare.
      await page.locator("select").nth(1).selectOption({ index: 1 });
      await expect.poll(staticCard, { timeout: 30_000 }).toMatch(/this static build compares each model with the one before it \(the latest \d+\): run `tracebook dev`, or `tracebook model diff [0-9a-f]{12} [0-9a-f]{12}`/);
      expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
      // The run log as it was built: every run of nbtest (fewer than the 200 a build ships at most), one cell's picked out in the page.
      expect(built.runs).toEqual([expect.stringMatching(/^nbtest: \d+ pipeline runs; 18 fresh$/)]);
      const builtRuns = Number(/(\d+) pipeline runs/.exec(built.runs[0]!)![1]);
      await page.goto(`${url}pipeline-runs.html?pipeline=nbtest`);
      await page.locator("#runs details").first().waitFor({ timeout: 60_000 });
      const staticRuns = async () => (await page.locator("#runs-summary").textContent())!.replace(/\s+/g, " ");
      expect(await staticRuns()).toBe(`nbtest: ${builtRuns} pipeline runs recorded${builtRuns > 10 ? "; the newest 10 shown" : ""} (${await page.locator("#runs tbody tr").count()} cell runs). As built: run \`tracebook dev\` to follow the pipeline.`);
      // The cells' states as built, worked out from the pipeline's file.
      expect((await page.locator("#cells-now-summary").textContent())!.replace(/\s+/g, " ")).toMatch(/^18 fresh\. As of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, from \S+nbtest\.pipeline\.m?ts when the site was built\.$/);
      await page.locator("select").first().selectOption("model");
      await expect.poll(staticRuns, { timeout: 30_000 }).toMatch(/^nbtest\.model: \d+ pipeline runs? that ran it recorded/);
      await settled(page);
      expect(new Set(await page.locator("#runs tbody tr td:first-child code").allTextContents())).toEqual(new Set(["model"]));
      expect(await page.locator(".tb-error, .tb-refused").allTextContents()).toEqual([]);
      // Explain an input runs in the page (a worker), on the portable explainer the build shipped:
      // an executed inference's message is explained as the pipeline's tracin cell traced it.
      const shipped = JSON.parse(fs.readFileSync(path.join(outDir, "_tracebook", "catalog", "nbtest.json"), "utf8")) as Catalog;
      expect(shipped.explainer).toMatchObject({ file: expect.stringMatching(/^nbtest\.[0-9a-f]{16}\.bin\.gz$/), influence: "influence", model_id: expect.stringMatching(/^[0-9a-f]{64}$/), train_rows: expect.any(Number) });
      expect(built.explainers).toEqual([expect.stringMatching(/^nbtest: influence, \d+ training rows \(\d+\.\d MiB gzipped\)$/)]);
      const shippedRows = (cell: string) => tableFromIPC(zlib.gunzipSync(fs.readFileSync(path.join(outDir, "_tracebook", "data", "nbtest", `${cell}.arrow.gz`)))).toArray()
        .map((r) => r.toJSON() as Record<string, unknown>);
      const model = (shipped.explainer as { model_id: string }).model_id;
      const query = String(shippedRows("usage").find((u) => u.model_id === model)!.id);
      const cellTop = shippedRows("influence").filter((r) => r.query === query && r.level === "contribution" && Number(r.rank) > 0)
        .sort((a, b) => Number(a.rank) - Number(b.rank)).map((r) => String(r.key).slice(0, 12));
      expect(cellTop.length).toBeGreaterThan(0);
      await page.goto(`${url}explain-an-input.html?pipeline=nbtest#from=${query}`);
      const shown = () => page.locator("#explain-proponents li .tb-meta code").allTextContents();
      await expect.poll(async () => (await shown()).slice(0, cellTop.length), { timeout: 60_000 }).toEqual(cellTop);
      expect((await page.textContent("#explained"))!.replace(/\s+/g, " ")).toMatch(/TracIn exact over checkpoints 1, 2 of model [0-9a-f]{12}, \d+ training contributions, .* \(portable explainer, TypeScript float64\)/);
      expect(await page.textContent("#explain-same-model")).toMatch(new RegExp(`Unedited, inference ${query.slice(0, 12)} is explained exactly as the pipeline traced it \\(here in float64, the pipeline in float32: scores agree to 1e-4 of the largest, and near-ties may swap places\\)`));
      // On the page's GPU (WebGPU through TF.js; here SwiftShader, a software adapter, so only when asked):
      // the same proponents, the engine named.
      await page.goto(`${url}explain-an-input.html?pipeline=nbtest&backend=webgpu#from=${query}`);
      await expect.poll(async () => (await shown()).slice(0, cellTop.length), { timeout: 90_000 }).toEqual(cellTop);
      expect((await page.textContent("#explained"))!.replace(/\s+/g, " ")).toMatch(/\(portable explainer, webgpu float32 on google swiftshader, software\)/);
      expect(await page.textContent("#explain-same-model")).toMatch(/\(here on the page's GPU in float32, the training side kept on it, summed in another order than the pipeline: scores agree to 1e-4 of the largest, and near-ties may swap places\)/);
      await page.goto(`${url}explain-an-input.html?pipeline=nbtest#from=${query}`);
      await expect.poll(async () => (await shown()).slice(0, cellTop.length), { timeout: 60_000 }).toEqual(cellTop);
      // An edit is explained too, and says what it moved.
      await page.fill("textarea", `${await page.inputValue("textarea")} winner casino discount offer pills`);
      await page.click("button:has-text('Explain')");
      await expect.poll(async () => ((await page.textContent("#explain-moved").catch(() => null)) ?? "").replace(/\s+/g, " "), { timeout: 60_000 })
        .toMatch(/What the edit moved \(against the unedited inference\): the prediction (holds|flips)/);
      expect(await page.locator("#explain-error, .tb-error").allTextContents()).toEqual([]);
      await page.screenshot({ path: path.join(SCREENS, "explain-an-input-static.png"), fullPage: true });
      expect(consoleErrors.slice(errors)).toEqual([]);
      // An explainer larger than a page should download is not shipped; the site says why.
      const data = new NotebookData({ home });
      try {
        expect(await shipExplainer(data, "nbtest", tempDir("tb-nb-explainer-"), 1000))
          .toEqual({ missing: expect.stringMatching(/^the explainer of nbtest would be \d+\.\d MiB \(\d+ training rows\), more than a page should download \(0\.0 MiB\): run `tracebook dev`/) });
      } finally {
        data.close();
      }
    } finally {
      await new Promise<void>((resolve) => site.httpServer.close(() => resolve()));
    }
  }, 120_000);

  it("builds the notebooks' own pipelines even where one never ran, and a failed build leaves nothing", async () => {
    const parent = tempDir("tb-nb-site-");
    const outDir = path.join(parent, "site");
    // By default the notebooks' pipelines: mail and mail-quality, neither of which ran in this workspace.
    const built = await buildNotebooks({ home, outDir });
    expect(built.tables).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(outDir, "_tracebook", "catalog", "mail-quality.json"), "utf8")))
      .toEqual({ pipeline: "mail-quality", cells: [], encoding: "gzip", missing: expect.stringMatching(/^pipeline "mail-quality" has no runs in workspace .*: run `tracebook run mail-quality` first$/) });
    // A folder that is not a site of ours is refused before anything is built, and left as it was.
    const foreign = path.join(parent, "mine");
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, "notes.txt"), "keep me");
    await expect(buildNotebooks({ home, outDir: foreign })).rejects.toThrow(/is not empty and was not written by build-notebooks/);
    expect(fs.readdirSync(foreign)).toEqual(["notes.txt"]);
    // A build that fails half way (an artifact gone) leaves the earlier site as it was, and no half one beside it.
    const marker = fs.readFileSync(path.join(outDir, ".tracebook-site"), "utf8");
    const ws = await openWorkspaceRetrying(home);
    let artifact: string;
    try {
      artifact = await artifactOf(ws, "influence");
    } finally {
      ws.close();
    }
    fs.renameSync(artifact, `${artifact}.away`);
    // The streams served before are kept on disk (a build would send them without the artifact): gone too.
    fs.rmSync(servedCacheDir(home), { recursive: true, force: true });
    try {
      await expect(buildNotebooks({ home, outDir, pipelines: [pipelineFile] })).rejects.toThrow(/artifact .* is missing/);
    } finally {
      fs.renameSync(`${artifact}.away`, artifact);
    }
    expect(fs.readFileSync(path.join(outDir, ".tracebook-site"), "utf8")).toBe(marker);
    expect(fs.readdirSync(parent).sort()).toEqual(["mine", "site"]);
    // A query the page would run over a table shipped without a column it reads (the front matter's
    // `columns` left it out) is found while building: no site, the earlier one kept.
    const notebooksDir = tempDir("tb-nb-columns-");
    for (const f of fs.readdirSync(DEFAULT_NOTEBOOKS).filter((f) => f.endsWith(".md"))) {
      const text = fs.readFileSync(path.join(DEFAULT_NOTEBOOKS, f), "utf8");
      fs.writeFileSync(path.join(notebooksDir, f), f === "influence-explorer.md" ? text.replace("receipts: [query, receipt_hash, model_id]", "receipts: [query, receipt_hash]") : text);
    }
    expect(fs.readFileSync(path.join(notebooksDir, "influence-explorer.md"), "utf8")).toContain("receipts: [query, receipt_hash]\n");
    await expect(buildNotebooks({ home, outDir, notebooksDir, pipelines: [pipelineFile] })).rejects.toThrow(new RegExp("^build-notebooks: the site was not built: nbtest: influence-explorer#receiptOf runs in the page, "
      + "over receipts \\(shipped with columns query, receipt_hash\\), and does not bind there \\(Binder Error: Referenced column \"model_id\" not found in FROM clause!.*\\): "
      + "add the columns it reads to its notebook's front matter `columns`$"));
    expect(fs.readFileSync(path.join(outDir, ".tracebook-site"), "utf8")).toBe(marker);
    expect(fs.readdirSync(parent).sort()).toEqual(["mine", "site"]);
  }, 120_000);

  // Last: it leaves the Influence explorer, whose state the tests above share.
  it("explains an input typed on the page as the pipeline's tracin cell explains it executed, nothing recorded", async () => {
    // An executed inference's text (one with a hostile proponent where there is one: its markup must stay inert), and what the cell says of it;
    // one of the current model's (an earlier model's is explained through the current model, unlike its receipt).
    const ws = await openWorkspaceRetrying(home);
    let text: string, query: string, cellTop: string[], cellPrediction: string, inferences: bigint;
    try {
      const [row] = await ws.rows<{ query: string; prediction: string; text: string }>(
        `select i.query, i.prediction, u.text from read_parquet(?) i join read_parquet(?) u on u.id = i.query
         where i.level = 'contribution' and u.model_cell is not null order by (i.contributor <> 'mallory'), abs(i.rank), i.query limit 1`,
        [await artifactOf(ws, "influence"), await artifactOf(ws, "usage")]);
      text = row!.text;
      query = row!.query;
      cellPrediction = row!.prediction;
      cellTop = (await ws.rows<{ key: string }>("select key from read_parquet(?) where query = ? and level = 'contribution' and rank > 0 order by rank",
        [await artifactOf(ws, "influence"), row!.query])).map((r) => r.key.slice(0, 12));
      inferences = (await ws.rows<{ n: bigint }>("select count(*) as n from inferences"))[0]!.n;
    } finally {
      ws.close();
    }
    // From the Influence explorer's link: the inference's message, prefilled and explained at once.
    await page.goto(`${server.url}influence-explorer?pipeline=nbtest#query=${query}`);
    await page.locator("#edit-and-explain").click({ timeout: 60_000 });
    await page.waitForURL(/explain-an-input\?pipeline=nbtest#from=/);
    expect(await page.inputValue("textarea")).toBe(text);
    expect(await page.textContent("#explain-from")).toMatch(new RegExp(`Starting from inference ${query.slice(0, 12)}`));
    const shown = () => page.locator("#explain-proponents li .tb-meta code").allTextContents();
    await expect.poll(async () => (await shown()).slice(0, cellTop.length), { timeout: 60_000 }).toEqual(cellTop);
    expect(await page.textContent("#explain-prediction")).toBe(cellPrediction);
    expect((await page.textContent("#explained"))!.replace(/\s+/g, " ")).toMatch(/TracIn exact over checkpoints 1, 2 of model [0-9a-f]{12}, \d+ training contributions, .* not an executed inference: nothing recorded, nothing paid/);
    expect(await page.textContent("#explain-same-model")).toMatch(new RegExp(`Unedited, inference ${query.slice(0, 12)} is explained exactly as the pipeline traced it${
      // The native engine keeps the training side between questions (TF.js computes each afresh).
      "error" in await nativeEngine() ? "\\." : " \\(the server keeps the training side between questions: scores agree to float32 rounding, within 1e-6 of the largest\\)"}`));
    expect(await page.textContent("#explain-proponents, #explain-opponents")).toBeTruthy();
    // The inference, the labels and what the model reads came from the server's queries: no table came to the page.
    expect(await page.evaluate<Record<string, string | null>>("window.__tracebook.mounted.db.registered()")).toEqual({});
    const dom = await page.evaluate<{ pwned: string | null; scripts: number }>(`({
      pwned: window.__pwned ?? null,
      scripts: document.querySelectorAll("main script, main iframe, main img, main [onerror], main [onmouseover], main [onload], main a[href^=javascript]").length,
    })`);
    expect(dom).toEqual({ pwned: null, scripts: 0 });
    await page.locator("figure svg, svg[class^=plot]").first().waitFor({ timeout: 30_000 });
    // Explained as the other label: what speaks for it; the prediction stays.
    const other = cellPrediction === "spam" ? "ham" : "spam";
    await page.locator(`label:has-text("${other}") input[type=radio]`).first().check();
    await expect.poll(() => page.textContent("#explained"), { timeout: 30_000 }).toContain(`explained as ${other}`);
    expect(await page.textContent("#explain-prediction")).toBe(cellPrediction);
    await page.screenshot({ path: path.join(SCREENS, "explain-an-input.png"), fullPage: true });
    // An edit is explained when submitted: other words, other proponents. Even while another
    // process holds the workspace (a recompute does for a minute on mail): the explainer loaded
    // for the current outputs answers without it.
    const before = await shown();
    const release = await holdWorkspace(home);
    try {
      await page.fill("textarea", `${text} winner casino discount offer pills`);
      await page.click("button:has-text('Explain')");
      // Answered, or refused: a server that needed the workspace would answer 503 once it gave up waiting.
      const refused = () => page.locator("#explain-error").count();
      await expect.poll(async () => (await refused()) > 0 || JSON.stringify(await shown()) !== JSON.stringify(before), { timeout: 60_000 }).toBe(true);
      expect(await refused()).toBe(0);
      // Against the unedited inference (asked as well, while the workspace is still held): what the edit moved.
      const movedText = async () => ((await page.textContent("#explain-moved").catch(() => null)) ?? "").replace(/\s+/g, " ");
      await expect.poll(movedText, { timeout: 60_000 }).toMatch(/What the edit moved \(against the unedited inference\): the prediction (holds|flips)/);
      expect(await movedText()).toMatch(/\d+ of the top \d+ proponents are new/);
    } finally {
      await release();
    }
    const after = await openWorkspaceRetrying(home);
    try {
      expect((await after.rows<{ n: bigint }>("select count(*) as n from inferences"))[0]!.n).toBe(inferences);
    } finally {
      after.close();
    }
    expect(log.some((l) => /^explain: nbtest: 1 input as influence explains them/.test(l))).toBe(true);

    // From the Curation queue: "why?" explains a contribution as its label.
    await page.goto(`${server.url}curation-queue?pipeline=nbtest`);
    const item = page.locator("#queue li.tb-queue-item").first();
    await item.locator("a.tb-explain").waitFor({ timeout: 60_000 });
    const id = (await item.getAttribute("data-id"))!;
    const check = await openWorkspaceRetrying(home);
    let label: string;
    try {
      label = (await check.rows<{ label: string }>("select label from contributions where id = ?", [id]))[0]!.label;
    } finally {
      check.close();
    }
    await item.locator("a.tb-explain").click();
    await page.waitForURL(/explain-an-input\?pipeline=nbtest#contribution=/);
    await expect.poll(() => page.textContent("#explain-from"), { timeout: 60_000 }).toMatch(new RegExp(`Contribution ${id.slice(0, 12)} by \\S+, labelled ${label}`));
    await page.locator("#explain-prediction").waitFor({ timeout: 60_000 });
    expect((await page.locator("label:has(input[type=radio]:checked)").textContent())?.trim()).toBe(label);
    const prediction = await page.textContent("#explain-prediction");
    if (prediction !== label) await expect.poll(() => page.textContent("#explained"), { timeout: 30_000 }).toContain(`explained as ${label}`);
    expect(consoleErrors).toEqual([]);
  });
});

function artifactOf(ws: Workspace, cell: string): Promise<string> {
  return outputOf(ws, "nbtest", cell);
}
