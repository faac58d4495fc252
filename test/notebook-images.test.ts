// Browser tests of the notebooks on a feature Datanet (images, as digits): a real dev server over
// a small workspace of 8×8 strokes, driven by Debian's chromium through playwright-core.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { SCREENS, haveChromium, openBrowser } from "./helpers/browser.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { loadPipeline, runPipeline } from "../cells/index.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { startNotebookServer, type NotebookServer } from "../cells/notebooks/server.ts";
import { buildNotebooks } from "../cells/notebooks/build.ts";
import { preview } from "vite";
import { openWorkspaceRetrying, tempDir } from "./helpers/workspace.ts";
import { listed } from "./helpers/notebook-workspace.ts";

const CELLS = path.resolve("cells/index.ts");
const SIDE = 8;

/** A vertical or horizontal stroke at a random place on an 8×8 grid, with a little seeded noise. */
function stroke(kind: "vertical" | "horizontal", i: number, column?: number): number[] {
  let s = 7 + i * 31;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const at = column ?? 1 + Math.floor(next() * (SIDE - 2));
  return Array.from({ length: SIDE * SIDE }, (_, p) => {
    const [y, x] = [Math.floor(p / SIDE), p % SIDE];
    const on = kind === "vertical" ? x === at : y === at;
    return Math.max(0, Math.min(1, (on ? 0.9 : 0) + 0.1 * next()));
  });
}

async function strokesWorkspace(): Promise<{ home: string; file: string }> {
  const home = tempDir("tb-img-ws-");
  const ws = await openWorkspace({ home });
  try {
    const rows = Array.from({ length: 96 }, (_, i) => {
      const kind = i % 2 ? "horizontal" : "vertical";
      return { features: stroke(kind, i), label: kind, contributor: `hand-${i % 3}`, submittedAt: new Date("2024-01-01T00:00:00Z"), source: `strokes#${i}` };
    });
    // A smudger: vertical strokes in the first column labelled horizontal (the what-if test leaves
    // them out, and predictions there flip back).
    rows.push(...Array.from({ length: 40 }, (_, i) => ({
      features: stroke("vertical", 1000 + i, 1), label: "horizontal", contributor: "smudger", submittedAt: new Date("2024-01-02T00:00:00Z"), source: `smudge#${i}`,
    })));
    await ingest(ws, { name: "strokes", kind: "features", description: "strokes", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0.25 }, rows, {
      mode: "create", status: "approved", validator: "test", importer: "test@1",
    });
  } finally {
    ws.close();
  }
  const dir = tempDir("tb-img-pipe-");
  const file = path.join(dir, "strokes.pipeline.mts");
  fs.writeFileSync(file, `import { baseModel, datanet, finetune, inferences, pipeline, sql, tracin } from ${JSON.stringify(CELLS)};
const common = { epochs: 6, batchSize: 8, optimizer: { name: "adam" }, seed: 5 };
export default pipeline("strokes", {
  strokes: datanet("strokes", { status: "approved" }),
  train: sql\`select * from \${"strokes"} where split = 'train'\`,
  queries: sql\`select * from \${"strokes"} where split = 'test'\`,
  half: sql\`select * from \${"train"} where id < '8'\`,
  base: baseModel({ data: "half", featurizer: "features", hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
  model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 2, ...common }),
  usage: inferences({ models: { model: 1 }, queries: "queries", calls: 30, fee: "0.001", callers: ["agent:a"], epoch: "e1", seed: 3 }),
  influence: tracin({ model: "model", train: "train", test: "usage", topK: 4 }),
});
`);
  const w = await openWorkspace({ home });
  try {
    const summary = await runPipeline(w, (await loadPipeline(file)).pipeline);
    if (summary.failed.length) throw new Error(`the strokes pipeline failed: ${summary.failed.join(", ")}`);
  } finally {
    w.close();
  }
  return { home, file };
}


describe.skipIf(!haveChromium)("notebooks on a feature Datanet: images, drawn inputs", () => {
  let home: string;
  let file: string;
  let server: NotebookServer;
  let context: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const built = await strokesWorkspace();
    home = built.home;
    file = built.file;
    server = await startNotebookServer({ home, port: 0, pipelines: [built.file], watch: false, cacheDir: path.join(home, "vite-cache"), log: () => undefined });
    ({ context, page } = await openBrowser(consoleErrors));
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  /** How many of an element's canvases have ink (a drawn image, not a blank one). */
  const inked = (selector: string) => page.evaluate<number>(`[...document.querySelectorAll(${JSON.stringify(selector)})].filter((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 128) return true;
    return false;
  }).length`);

  it("shows the inference and its proponents as images, and starts an explanation from that image", async () => {
    const ws = await openWorkspaceRetrying(home);
    let query: string, cellTop: string[];
    try {
      const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'influence' and status = 'succeeded'");
      const rows = await ws.rows<{ query: string; key: string }>(
        "select query, key from read_parquet(?) where level = 'contribution' and rank > 0 order by query, rank", [run!.artifact]);
      query = rows[0]!.query;
      cellTop = rows.filter((r) => r.query === query).map((r) => r.key.slice(0, 12));
    } finally {
      ws.close();
    }
    await page.goto(`${server.url}influence-explorer?pipeline=strokes#query=${query}`);
    await page.locator("#proponents li canvas").first().waitFor({ timeout: 60_000 });
    expect(await inked("#prediction canvas")).toBe(1);
    expect(await inked("#proponents li canvas")).toBe(cellTop.length);
    await page.locator("#edit-and-explain").click();
    await page.waitForURL(/explain-an-input\?pipeline=strokes#from=/);
    // The pad starts from the inference's image, and its explanation is the cell's.
    await page.locator(".tb-pad canvas").waitFor({ timeout: 60_000 });
    expect(await inked(".tb-pad canvas")).toBe(1);
    const shown = () => page.locator("#explain-proponents li .tb-meta code").allTextContents();
    await expect.poll(async () => (await shown()).slice(0, cellTop.length), { timeout: 60_000 }).toEqual(cellTop);
    const listed = (await shown()).length;
    await expect.poll(() => inked("#explain-proponents li canvas"), { timeout: 30_000 }).toBe(listed);
    // A stroke drawn over it: what the edit moved, against the inference as executed.
    const box = (await page.locator(".tb-pad canvas").boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.9);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height * 0.9, { steps: 12 });
    await page.mouse.up();
    await expect.poll(async () => ((await page.textContent("#explain-moved").catch(() => null)) ?? "").replace(/\s+/g, " "), { timeout: 30_000 })
      .toMatch(/What the edit moved \(against the unedited inference\): the prediction (holds|flips)/);
    expect(consoleErrors).toEqual([]);
  });

  it("shows the images of the predictions that flip in a what-if answer (they have no text)", async () => {
    await page.goto(`${server.url}influence-explorer?pipeline=strokes`);
    const leaveOut = page.locator("select[multiple]");
    await leaveOut.waitFor({ timeout: 60_000 });
    await leaveOut.selectOption(["smudger"]);
    await page.locator("#what-if-run").click();
    await page.locator("#what-if-flips").waitFor({ timeout: 120_000 });
    const flips = await page.locator("#what-if-flipped li").count();
    console.log(`strokes what-if without the smudger: ${await page.textContent("#what-if-flips")} flips, ${flips} shown`);
    expect(await inked("#what-if-flipped li canvas")).toBe(flips);
    expect(flips).toBeGreaterThan(0);
    expect(consoleErrors).toEqual([]);
  });

  it("shows the held-out images whose prediction a retrain changed, on the Model history page", async () => {
    // A curator rejects the smudger's training rows; the pipeline retrains without them.
    const ws = await openWorkspaceRetrying(home);
    try {
      const { decide } = await import("../cells/datanet/decisions.ts");
      const ids = (await ws.rows<{ id: string }>("select id from contributions where contributor = 'smudger' and split = 'train'")).map((r) => r.id);
      await decide(ws, { ids, verdict: "rejected", validator: "curator:test", reason: "vertical strokes labelled horizontal" });
      const summary = await runPipeline(ws, (await loadPipeline(file)).pipeline);
      expect(summary.failed).toEqual([]);
    } finally {
      ws.close();
    }
    await page.goto(`${server.url}model-history?pipeline=strokes`);
    await page.locator("#diff").waitFor({ timeout: 60_000 });
    // No heldOut on the model cell: the pipeline's queries cell stands in.
    expect((await page.locator("#diff").textContent())!.replace(/\s+/g, " ")).toMatch(/training rows left and 0 entered .* held-out rows of strokes\.queries/);
    const shown = await page.locator("#diff-outputs li").count();
    expect(shown).toBeGreaterThan(0);
    expect(await inked("#diff-outputs li canvas")).toBe(shown);
    expect(consoleErrors).toEqual([]);
  });

  /** Open Explain an input at `url`, draw a vertical stroke at column `x` of the pad, and wait for it to be read as vertical. */
  async function drawVertical(url: string, x: number): Promise<void> {
    await page.goto(url);
    const pad = page.locator(".tb-pad canvas");
    await pad.waitFor({ timeout: 60_000 });
    expect(await page.textContent("#explained")).toMatch(/Draw a digit/);
    const box = (await pad.boundingBox())!;
    const at = (x: number, y: number) => [box.x + (box.width * x) / SIDE, box.y + (box.height * y) / SIDE] as const;
    await page.mouse.move(...at(x, 0.3));
    await page.mouse.down();
    for (let y = 0.3; y <= 7.7; y += 0.5) await page.mouse.move(...at(x, y));
    await page.mouse.up();
    await expect.poll(() => page.textContent("#explain-prediction"), { timeout: 60_000 }).toBe("vertical");
    await expect.poll(() => inked("#explain-proponents li canvas"), { timeout: 30_000 }).toBeGreaterThan(0);
  }

  it("explains a digit drawn on the pad: a vertical stroke is read as vertical", async () => {
    await drawVertical(`${server.url}explain-an-input?pipeline=strokes`, 3.5);
    await page.screenshot({ path: path.join(SCREENS, "explain-drawn.png"), fullPage: true });
    // Cleared, nothing is explained.
    await page.click(".tb-pad button");
    await expect.poll(() => page.textContent("#explained"), { timeout: 30_000 }).toMatch(/Draw a digit/);
    expect(consoleErrors).toEqual([]);
  });

  it("explains a drawn digit in a static build, in the page, as the server does", async () => {
    const outDir = path.join(tempDir("tb-img-site-"), "site");
    const built = await buildNotebooks({ home, outDir, pipelines: [file] });
    expect(built.explainers).toEqual([expect.stringMatching(/^strokes: influence, \d+ training rows/)]);
    // Contributors and rewards' sums ran when it built; those over a table this pipeline lacks (it pays nothing) were not shipped, and say why.
    expect(listed(built)).toEqual([expect.stringMatching(
      /^strokes: attribution-quality#.*, contributors-and-rewards#totals not shipped: strokes: server query: Catalog Error: Table with name rewards does not exist!, .*, contributors-and-rewards#byOutput \(\d+ rows, [\d.]+ KiB gzipped\), curation-queue#.*, explain-an-input#.*, influence-explorer#queries \(\d+ rows, [\d.]+ KiB gzipped\), .*influence-explorer#trainingRows \(runs in the page\), .*$/)]);
    const site = await preview({ root: path.dirname(outDir), configFile: false, logLevel: "warn", build: { outDir: "site" }, preview: { host: "127.0.0.1", port: 0 } });
    try {
      const draw = async (base: string) => {
        await drawVertical(`${base}?pipeline=strokes`, 5.5);
        return {
          proponents: await page.locator("#explain-proponents li .tb-meta code").allTextContents(),
          engine: (await page.textContent("#explained"))!.replace(/\s+/g, " "),
        };
      };
      const served = await draw(`${server.url}explain-an-input`);
      const local = await draw(`${site.resolvedUrls!.local[0]!}explain-an-input.html`);
      // The same stroke, the same proponents, in order: the server's TracIn, and the page's own.
      expect(local.proponents).toEqual(served.proponents);
      expect(local.engine).toMatch(/\(portable explainer, TypeScript float64\)/);
      expect(served.engine).not.toMatch(/portable explainer/);
      // The explorer's queries on the picked inference run in the page there, its training images too.
      await page.goto(`${site.resolvedUrls!.local[0]!}influence-explorer.html?pipeline=strokes`);
      await page.locator("#proponents li canvas").first().waitFor({ timeout: 60_000 });
      expect(await inked("#proponents li canvas")).toBe(await page.locator("#proponents li").count());
      await page.screenshot({ path: path.join(SCREENS, "explain-drawn-static.png"), fullPage: true });
      expect(consoleErrors).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => site.httpServer.close(() => resolve()));
    }
  }, 120_000);
});
