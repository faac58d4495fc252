import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** Debian's chromium, unless TRACEBOOK_CHROMIUM names another binary ("none": never print a PDF). */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.TRACEBOOK_CHROMIUM === "none") return null;
  const candidates = [env.TRACEBOOK_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

/** Flags for a headless Chromium that reaches nothing outside (see STACK.md). */
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/**
 * Print a report's HTML to PDF with headless Chromium. The page is loaded from its file, under
 * its own Content-Security-Policy, so the PDF shows exactly what a reader's browser would. A
 * throwaway profile directory: `launchPersistentContext` is the launch that accepts one.
 */
export async function renderPdf(htmlFile: string, pdfFile: string, executablePath: string, asOf: string | null): Promise<void> {
  const { chromium } = await import("playwright-core");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "tracebook-pdf-"));
  try {
    const context = await chromium.launchPersistentContext(profile, { executablePath, args: FLAGS, offline: true });
    try {
      const page = await context.newPage();
      await page.goto(`file://${path.resolve(htmlFile)}`, { waitUntil: "load" });
      await page.emulateMedia({ media: "print" });
      // Untagged: a tagged PDF names its structure elements after Blink's DOM node ids, which
      // differ from one print to the next, and an archived report must print to the same bytes.
      // The HTML is the accessible form; the PDF is the archive.
      const pdf = await page.pdf({ format: "A4", printBackground: true, preferCSSPageSize: true, tagged: false, outline: true });
      fs.writeFileSync(pdfFile, pinDates(pdf, asOf));
    } finally {
      await context.close();
    }
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * Chromium stamps the PDF with the time it printed, the only bytes that differ between two
 * prints of the same page. They are replaced, in place and at the same length (so the xref
 * offsets stay valid), by the time the facts are as of (the last paid inference), or by the Unix
 * epoch when there is none: the same report then gives the same PDF bytes.
 */
export function pinDates(pdf: Uint8Array, asOf: string | null): Buffer {
  const text = Buffer.from(pdf).toString("latin1");
  const stamp = asOf ? asOf.replace(/\.\d+Z$/, "").replace(/[-:T]/g, "") : "19700101000000";
  if (!/^\d{14}$/.test(stamp)) return Buffer.from(pdf);
  return Buffer.from(text.replace(/\/(CreationDate|ModDate) \(D:\d{14}([+-Z][^)]{0,8})\)/g, (m, key: string, zone: string) => {
    const pinned = `/${key} (D:${stamp}${zone.startsWith("Z") ? zone : "+00'00'"})`;
    return pinned.length === m.length ? pinned : m;
  }), "latin1");
}

