// Browser tests of the notebooks: a real dev server (Vite, DuckDB-wasm in the page) over a small
// workspace built here, driven by Debian's chromium through playwright-core.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { runPipeline } from "../cells/index.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { startNotebookServer, type NotebookServer } from "../cells/notebooks/server.ts";
import { buildNotebooks } from "../cells/notebooks/build.ts";
import { preview } from "vite";
import { separableDatanet } from "./helpers/datanets.ts";
import { tempDir } from "./helpers/workspace.ts";

const CHROMIUM = process.env.TRACEBOOK_CHROMIUM ?? "/usr/bin/chromium";
const SCREENS = path.resolve("test/output/screens");
const CELLS = path.resolve("cells/index.ts");

/**
 * Real spam carries markup: these must show as text and never run. Half are labelled ham
 * although they read as spam: mislabelled rows have large gradients, so TracIn ranks them
 * among the top contributions of many inferences (and some land in the test split, so
 * they are inferences themselves).
 */
const HOSTILE = [
  `casino winner discount offer pills <script>window.__pwned = "script"</script> casino winner`,
  `pills offer discount <img src=x onerror="window.__pwned = 'img'"> winner casino offer`,
  `winner discount <b onmouseover="window.__pwned='b'">bold?</b> <iframe src="javascript:window.__pwned='iframe'"></iframe> pills casino`,
  `offer offer <script src="data:text/javascript,window.__pwned='src'"></script> discount pills winner`,
  `<svg onload="window.__pwned='svg'"><circle r=5></circle></svg> casino pills offer discount`,
  `discount winner <a href="javascript:window.__pwned='a'">click</a> <style>body{display:none}</style> offer casino`,
];

/** The pay fixture's shape, reading approved contributions only (so a curator's rejection retrains without it). */
function pipelineSource(): string {
  return `import { baseModel, datanet, finetune, hashedNgrams, inferences, pipeline, receipts, sql, tracin } from ${JSON.stringify(CELLS)};
const common = { epochs: 4, batchSize: 16, optimizer: { name: "adam" }, seed: 5 };
export default pipeline("nbtest", {
  notes: datanet("notes", { status: "approved" }),
  train: sql\`select * from \${"notes"} where split = 'train'\`,
  queries: sql\`select * from \${"notes"} where split = 'test'\`,
  half: sql\`select * from \${"train"} where id < '8'\`,
  base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 128 }), hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
  model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 2, ...common }),
  usage: inferences({ models: { model: 1, base: 0 }, queries: "queries", calls: 30, fee: "0.001", callers: ["agent:a", "agent:b"], epoch: "e1", seed: 3 }),
  influence: tracin({ model: "model", train: "train", test: "usage", topK: 5 }),
  receipts: receipts({ influence: "influence" }),
});
`;
}

const haveChromium = fs.existsSync(CHROMIUM);
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
    home = tempDir("tb-nb-ws-");
    const dir = tempDir("tb-nb-pipe-");
    pipelineFile = path.join(dir, "nbtest.pipeline.mts");
    fs.writeFileSync(pipelineFile, pipelineSource());
    const ws = await openWorkspace({ home });
    try {
      await separableDatanet(ws, "notes", 120);
      await ingest(ws, { name: "notes", kind: "text", description: "notes", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.25 },
        HOSTILE.map((text, i) => ({ text, label: i % 2 ? "ham" : "spam", contributor: "mallory", submittedAt: new Date("2024-01-02T00:00:00Z"), source: `hostile#${i}` })),
        { mode: "append", status: "approved", validator: "test", importer: "test@1" });
      hostileIds = (await ws.rows<{ id: string }>("select id from contributions where contributor = 'mallory' order by id")).map((r) => r.id);
      const { pipeline } = await loadPipeline(pipelineFile);
      const summary = await runPipeline(ws, pipeline);
      expect(summary.failed).toEqual([]);
    } finally {
      ws.close();
    }
    server = await startNotebookServer({ home, port: 0, pipelines: [pipelineFile], cacheDir: path.join(home, "vite-cache"), log: (l) => log.push(l) });
    fs.mkdirSync(SCREENS, { recursive: true });
    context = await chromium.launchPersistentContext(tempDir("tb-chrome-"), {
      executablePath: CHROMIUM,
      viewport: { width: 1280, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(`pageerror: ${e.message}`));
  }, 600_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  /** The proponents and opponents as the page shows them. */
  // (Browser-side code is passed as strings: this project's tsconfig has no DOM types.)
  const listText = () => page.evaluate<string>(`["proponents", "opponents"].map((id) => document.getElementById(id)?.textContent ?? "").join("\\n---\\n")`);
  const pickedText = () => page.locator("#prediction").textContent();

  it("serves an index of the notebooks on 127.0.0.1", async () => {
    expect(new URL(server.url).hostname).toBe("127.0.0.1");
    await page.goto(server.url);
    await expect.poll(() => page.locator("#tb-notebooks a").allTextContents()).toEqual(["Influence explorer", "nbtest"]);
    expect(await page.locator("h2").allTextContents()).toEqual(["Pipeline mail", "Pipeline nbtest"]);
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
    expect(await page.locator("svg [aria-label='bar'] rect").count()).toBeGreaterThan(0);
    expect(await page.locator(".tb-error").allTextContents()).toEqual([]);
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
    const pickedBefore = await pickedText();
    const ws = await openWorkspaceRetrying(home);
    try {
      await decide(ws, { ids: [victim], verdict: "rejected", validator: "test:curator", reason: "markup in a contribution" });
    } finally {
      ws.close();
    }
    // The watcher retrains without it; the new influence reaches the page over Vite's websocket.
    await expect.poll(() => page.evaluate<string[]>("window.__tracebook.events.map((e) => e.cell)"), { timeout: 240_000, interval: 1000 })
      .toContain("influence");
    // Settled: the page holds the new influence table, and the lists are drawn from it without the victim.
    const newInfluence = server.data.catalog("nbtest").then((c) => c.cells.find((x) => x.cell === "influence")!.dataVersion);
    await expect.poll(() => page.evaluate<string | null>("window.__tracebook.mounted.db.registered().influence ?? null"), { timeout: 30_000 }).toBe(await newInfluence);
    await expect.poll(async () => { const t = await listText(); return /#1 /.test(t) && !t.includes(victim.slice(0, 12)); }, { timeout: 30_000 }).toBe(true);
    expect(await page.evaluate("window.__marker")).toBe(1);
    // The same message (the workload replayed through the retrained model: new inference ids,
    // same payloads), now without the rejected contribution.
    expect((await pickedText())!.replace(/confidence [\d.]+%|receipt \w+|called by \S+/g, "")).toBe(pickedBefore!.replace(/confidence [\d.]+%|receipt \w+|called by \S+/g, ""));
    await page.screenshot({ path: path.join(SCREENS, "influence-explorer-after-rejection.png"), fullPage: true });
    console.log(`rejected ${victim.slice(0, 12)}; server log:\n  ${log.join("\n  ")}`);
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  it("builds a static site that works without the dev server", async () => {
    const outDir = path.join(tempDir("tb-nb-site-"), "site");
    const built = await buildNotebooks({ home, outDir, pipelines: [pipelineFile] });
    expect(built.tables.map((t) => t.split(" ")[0]).sort()).toEqual(["nbtest.influence", "nbtest.receipts", "nbtest.train", "nbtest.usage"]);
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
      await page.screenshot({ path: path.join(SCREENS, "influence-explorer-static.png"), fullPage: true });
      expect(consoleErrors.slice(errors)).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => site.httpServer.close(() => resolve()));
    }
  }, 120_000);
});

async function openWorkspaceRetrying(home: string): Promise<Workspace> {
  for (let i = 0; ; i++) {
    try {
      return await openWorkspace({ home });
    } catch (err) {
      if (i > 100 || !/open in another process|lock/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function artifactOf(ws: Workspace, cell: string): Promise<string> {
  const [row] = await ws.rows<{ artifact: string }>(
    "select artifact from runs where pipeline = 'nbtest' and cell = ? and status = 'succeeded' order by finished_at desc limit 1", [cell]);
  return row!.artifact;
}
