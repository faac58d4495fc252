// How long a notebook page takes to draw, as a user sees it: the dev server started on a
// workspace (no watcher), Debian's Chromium headless, the page opened, the clock stopped at its
// first chart. Used by bench/usage-scale.ts on the Influence explorer at 21,201 paid inferences.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Page } from "playwright-core";
import { startNotebookServer } from "../cells/notebooks/server.ts";
import { secondsSince } from "./report.ts";

const CHROMIUM = process.env.TRACEBOOK_CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Seconds from opening `page` on a server started just before (its in-memory caches empty) to
 * the first element matching `selector`, once per entry of `loads` (each a new server; `before`
 * runs first, e.g. to empty the tables kept on disk). Null where there is no Chromium.
 */
export async function pageSeconds(home: string, page: string, selector: string, loads: { before?: () => void }[]): Promise<number[] | null> {
  if (!fs.existsSync(CHROMIUM)) return null;
  const seconds: number[] = [];
  // A load first, not counted: Vite bundles the page's dependencies on the first visit after a fresh install.
  for (const [i, load] of [{}, ...loads].entries()) {
    (load as { before?: () => void }).before?.();
    await onFreshServer(home, async (url, tab) => {
      const t0 = performance.now();
      await tab.goto(`${url}${page}`);
      await tab.locator(selector).first().waitFor({ timeout: 600_000 });
      if (i > 0) seconds.push(secondsSince(t0));
    });
  }
  return seconds;
}

/** `work` with a tab of Chromium (a profile of its own) on a notebook server just started on `home` (no watcher); both closed after. */
async function onFreshServer<T>(home: string, work: (url: string, tab: Page) => Promise<T>): Promise<T> {
  const server = await startNotebookServer({ home, port: 0, watch: false, log: () => undefined });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-chrome-"));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, viewport: { width: 1280, height: 900 }, args: FLAGS });
  try {
    return await work(server.url, context.pages()[0] ?? (await context.newPage()));
  } finally {
    await context.close();
    await server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** What one new output cost an open page: until it settled, the server queries it asked again, whether its list of inferences was drawn again. */
export interface PageFollow {
  cell: string;
  seconds: number;
  queries_asked_again: string[];
  list_drawn_again: boolean;
  search_kept: boolean;
}

/**
 * The Influence explorer open on `home` with a search typed, then each of `cells` told to it as
 * the watcher tells a page of a new output (`tracebook:output-changed`; the data version made up,
 * so the server answers from the outputs it has: the page's own work and its requests are what is
 * measured). Null where there is no Chromium.
 */
export async function explorerFollows(home: string, pipeline: string, cells: string[], search = "viagra"): Promise<PageFollow[] | null> {
  if (!fs.existsSync(CHROMIUM)) return null;
  return onFreshServer(home, async (url, tab) => {
    const asked: string[] = [];
    let inflight = 0;
    let busyAt = 0; // when the page was last seen working: a request out or answered, a cell running
    tab.on("request", (r) => {
      if (!r.url().includes("/@tracebook/")) return;
      inflight++;
      busyAt = performance.now();
      const key = /\/query\/[^/]+\/([0-9a-f]{16})\.arrow/.exec(r.url())?.[1];
      if (key) asked.push(key);
    });
    const answered = () => { inflight--; busyAt = performance.now(); };
    tab.on("requestfinished", answered);
    tab.on("requestfailed", answered);
    // Settled once nothing has been out or running for 300 ms; the time is to the last work seen.
    const settled = async () => {
      for (;;) {
        if (inflight > 0 || (await tab.evaluate("document.querySelectorAll('.tb-running').length"))) busyAt = performance.now();
        else if (performance.now() - busyAt > 300) return;
        await tab.waitForTimeout(10);
      }
    };
    await tab.goto(`${url}influence-explorer?pipeline=${encodeURIComponent(pipeline)}`);
    await tab.locator("#proponents").first().waitFor({ timeout: 600_000 });
    await tab.locator("input[type=search]").first().fill(search);
    await settled();
    const names = new Map(await tab.evaluate<[string, string][]>("window.__tracebook.notebook.cells.filter((c) => c.serverQuery).map((c) => [c.serverQuery, c.outputs[0] ?? 'cell ' + c.id])"));
    const follows: PageFollow[] = [];
    for (const cell of cells) {
      await tab.evaluate("document.querySelector('form select').__drawn = 'before'");
      asked.length = 0;
      const t0 = (busyAt = performance.now());
      await tab.evaluate(`window.__tracebook.mounted.outputChanged({ pipeline: ${JSON.stringify(pipeline)}, cell: ${JSON.stringify(cell)}, dataVersion: "made-up-${cell}" })`);
      await settled();
      follows.push({
        cell,
        seconds: +((busyAt - t0) / 1000).toFixed(2),
        queries_asked_again: [...new Set(asked.map((k) => names.get(k) ?? k))],
        list_drawn_again: await tab.evaluate<boolean>("document.querySelector('form select').__drawn !== 'before'"),
        search_kept: (await tab.locator("input[type=search]").first().inputValue()) === search,
      });
    }
    return follows;
  });
}
