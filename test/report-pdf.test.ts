import fs from "node:fs";
import path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Workspace } from "../cells/store/workspace.ts";
import { writeReport, type WrittenReport } from "../reports/write.ts";
import { verifyReport } from "../reports/verify.ts";
import { chromiumPath } from "../reports/pdf.ts";
import { tempDir } from "./helpers/workspace.ts";
import { reportWorkspace } from "./input/report/workspace.ts";

const hasPdftoppm = spawnSync("pdftoppm", ["-v"]).error === undefined;
/** Page images land here for a person to look at (the folder is git-ignored). */
const SCREENS = path.resolve("test/output/screens");

// CI installs Debian's chromium and poppler-utils (.ci/run); elsewhere this is skipped.
describe.skipIf(!chromiumPath() || !hasPdftoppm)("report.pdf (Chromium, pdftoppm)", () => {
  let ws: Workspace;
  let report: WrittenReport;
  beforeAll(async () => {
    ({ ws } = await reportWorkspace());
    report = await writeReport(ws, "pay", { out: tempDir("tb-report-pdf-"), pdf: true });
  }, 240_000);
  afterAll(() => ws?.close());

  it("prints the page to an A4 PDF that report.json pins by hash", async () => {
    const pdf = path.join(report.dir, "report.pdf");
    const bytes = fs.readFileSync(pdf);
    expect(bytes.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    const info = execFileSync("pdfinfo", [pdf], { encoding: "utf8" });
    expect(info).toMatch(/Page size:\s+59[45](\.\d+)? x 84[12](\.\d+)? pts \(A4\)/);
    expect(Number(/Pages:\s+(\d+)/.exec(info)![1])).toBeGreaterThanOrEqual(3);
    expect(info).toMatch(/Title:\s+Attribution report: pay, epoch e1/);
    expect(info).toMatch(/JavaScript:\s+no/);
    expect((await verifyReport(ws, report.dir)).checks.find((c) => c.name === "report.pdf is the file report.json names")?.ok).toBe(true);
  });

  it("renders to PNG pages with pdftoppm that show the report", () => {
    fs.mkdirSync(SCREENS, { recursive: true });
    const prefix = path.join(SCREENS, "report-pay");
    for (const f of fs.readdirSync(SCREENS).filter((f) => f.startsWith("report-pay-"))) fs.rmSync(path.join(SCREENS, f));
    execFileSync("pdftoppm", ["-png", "-r", "60", path.join(report.dir, "report.pdf"), prefix]);
    const pages = fs.readdirSync(SCREENS).filter((f) => /^report-pay-\d+\.png$/.test(f)).sort();
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const p of pages) {
      const png = fs.readFileSync(path.join(SCREENS, p));
      expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
      // 60 dpi A4: 496 × 702 pixels (IHDR width and height).
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([496, 702]);
    }
    // A blank page compresses to almost nothing; a page of text and charts does not.
    expect(fs.statSync(path.join(SCREENS, pages[0]!)).size).toBeGreaterThan(20_000);
    // The text layer has the facts: the reconciliation line and a hash from the lineage.
    const text = execFileSync("pdftotext", ["-layout", path.join(report.dir, "report.pdf"), "-"], { encoding: "utf8" });
    expect(text).toContain("reconciles to the base unit");
    expect(text).toContain(report.facts.lineage.snapshot.root);
  });

  it("prints the same bytes twice (Chromium's timestamps pinned to the facts)", async () => {
    const again = await writeReport(ws, "pay", { out: tempDir("tb-report-pdf-"), pdf: true });
    expect(fs.readFileSync(path.join(again.dir, "report.pdf")).equals(fs.readFileSync(path.join(report.dir, "report.pdf")))).toBe(true);
  });
});
