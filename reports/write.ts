import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Workspace } from "../cells/store/workspace.ts";
import { sha256 } from "../cells/graph/fingerprint.ts";
import { collectFacts, type CollectOptions } from "./collect/collect.ts";
import { DEFAULT_OUT, REPORT_FORMAT, runFolder, runIdOf, type ReportDocument, type ReportFacts } from "./facts.ts";
import { renderHtml } from "./render/page.ts";
import { chromiumPath, renderPdf } from "./pdf.ts";
import { assertValidReport } from "./schema.ts";
import { makeDir } from "../cells/store/make-dir.ts";

export interface WriteOptions extends CollectOptions {
  /** Where report folders go; default reports/out under the current directory. */
  out?: string;
  /** "auto" (default): a PDF when Chromium is present; false: never; true: required. */
  pdf?: boolean | "auto";
}

export interface WrittenReport {
  dir: string;
  runId: string;
  files: Record<string, number>;
  /** Why there is no report.pdf, when there is none. */
  pdfSkipped: string | null;
  facts: ReportFacts;
}

/** A pipeline name as one safe path segment (names are free text). */
export function folderName(pipeline: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(pipeline) ? pipeline : `${pipeline.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._-]+/, "").slice(0, 40) || "pipeline"}-${sha256(pipeline).slice(0, 8)}`;
}

/**
 * Collect, render and write `<out>/<pipeline>/<run id>/`: index.html, report.json and, with
 * Chromium, report.pdf. The folder is built under a temp name beside its final place and
 * renamed in only when complete, so a reader never finds half a report; a report with the same
 * facts (same run id) is replaced whole.
 */
export async function writeReport(ws: Workspace, pipeline: string, options: WriteOptions = {}): Promise<WrittenReport> {
  const facts = await collectFacts(ws, pipeline, options);
  const runId = runIdOf(facts);
  const parent = path.resolve(options.out ?? DEFAULT_OUT, folderName(pipeline));
  const dir = path.join(parent, runFolder(runId));
  makeDir(parent);
  const tmp = path.join(parent, `.${runFolder(runId)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  fs.mkdirSync(tmp);
  try {
    const html = renderHtml(facts, runId);
    const files: Record<string, string> = {};
    const put = (name: string, data: string | Uint8Array) => {
      fs.writeFileSync(path.join(tmp, name), data);
      files[name] = sha256(data);
    };
    put("index.html", html);
    let pdfSkipped: string | null = null;
    const chromium = options.pdf === false ? null : chromiumPath();
    if (options.pdf === false) pdfSkipped = "not requested";
    else if (!chromium) {
      pdfSkipped = "Chromium not found (/usr/bin/chromium, or TRACEBOOK_CHROMIUM=<path>)";
      if (options.pdf === true) throw new Error(`report.pdf: ${pdfSkipped}`);
    } else {
      await renderPdf(path.join(tmp, "index.html"), path.join(tmp, "report.pdf"), chromium, facts.summary.period.last_inference);
      files["report.pdf"] = sha256(fs.readFileSync(path.join(tmp, "report.pdf")));
    }
    const doc: ReportDocument = { format: REPORT_FORMAT, run_id: runId, files, facts };
    assertValidReport(doc);
    fs.writeFileSync(path.join(tmp, "report.json"), `${JSON.stringify(doc, null, 1)}\n`);
    for (const f of fs.readdirSync(tmp)) fsync(path.join(tmp, f));
    swapIn(tmp, dir);
    const sizes = Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.statSync(path.join(dir, f)).size]));
    return { dir, runId, files: sizes, pdfSkipped, facts };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function fsync(file: string): void {
  const fd = fs.openSync(file, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Rename the finished folder into place. A directory cannot be renamed over a non-empty one,
 * so an existing report is first moved aside, then removed; if the swap fails it is put back.
 */
function swapIn(tmp: string, dir: string): void {
  if (!fs.existsSync(dir)) {
    fs.renameSync(tmp, dir);
    return;
  }
  const old = `${tmp}.old`;
  fs.renameSync(dir, old);
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.renameSync(old, dir);
    throw err;
  }
  fs.rmSync(old, { recursive: true, force: true });
}
