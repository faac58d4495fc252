// How long a notebook page takes to draw, as a user sees it: the dev server started on a
// workspace (no watcher), Debian's Chromium headless, the page opened, the clock stopped at its
// first chart. Used by bench/usage-scale.ts on the Influence explorer at 21,201 paid inferences.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
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
    const server = await startNotebookServer({ home, port: 0, watch: false, log: () => undefined });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tb-bench-chrome-"));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, viewport: { width: 1280, height: 900 }, args: FLAGS });
    try {
      const tab = context.pages()[0] ?? (await context.newPage());
      const t0 = performance.now();
      await tab.goto(`${server.url}${page}`);
      await tab.locator(selector).first().waitFor({ timeout: 600_000 });
      if (i > 0) seconds.push(secondsSince(t0));
    } finally {
      await context.close();
      await server.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  }
  return seconds;
}
