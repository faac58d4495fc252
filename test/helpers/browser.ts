import fs from "node:fs";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { tempDir } from "./workspace.ts";

export const CHROMIUM = process.env.TRACEBOOK_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENS = path.resolve("test/output/screens");
export const haveChromium = fs.existsSync(CHROMIUM);

/**
 * Debian's chromium, headless with the flags this machine needs, on a fresh profile: its first
 * page, with console errors and page errors collected into `errors` (a test expects none).
 */
export async function openBrowser(errors: string[]): Promise<{ context: BrowserContext; page: Page }> {
  fs.mkdirSync(SCREENS, { recursive: true });
  const context = await chromium.launchPersistentContext(tempDir("tb-chrome-"), {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 900 },
    // --enable-unsafe-webgpu: Chromium here then offers WebGPU on SwiftShader, a software adapter,
    // which the explainer passes over unless a page asks for it (?backend=webgpu).
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--enable-unsafe-webgpu"],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return { context, page };
}
