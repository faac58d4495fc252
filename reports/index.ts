// Attribution reports: the public surface, re-exports only.
export { collectFacts } from "./collect/collect.ts";
export type { CollectOptions } from "./collect/collect.ts";
export { DEFAULT_OUT, REPORT_FORMAT, runIdOf, runFolder } from "./facts.ts";
export type { ReportFacts, ReportDocument, Amount, Check } from "./facts.ts";
export { renderHtml } from "./render/page.ts";
export { charts } from "./render/charts.ts";
export { escapeHtml, html } from "./render/escape.ts";
export { writeReport, folderName } from "./write.ts";
export type { WriteOptions, WrittenReport } from "./write.ts";
export { verifyReport } from "./verify.ts";
export type { Verification } from "./verify.ts";
export { reportErrors, SCHEMA_FILE } from "./schema.ts";
export { chromiumPath, renderPdf } from "./pdf.ts";
