import path from "node:path";
import { reportErrors } from "./schema.ts";
import { readDocument } from "./verify.ts";
import { runIdOf, type Check, type ReportDocument } from "./facts.ts";

/** What a report publishes about one recipient in one closed epoch: the root, and the recipient's total under the report's policy. */
export interface Published {
  /** The report folder, for messages. */
  report: string;
  root: string | null;
  policy: string | null;
  /** Integer base units: the recipient's lines in the report's statement, every role. */
  total: string;
  checks: Check[];
}

/**
 * Read what a report folder says of a recipient's epoch, checking first that report.json is a
 * report (its schema) and was not edited (its run id is the hash of its facts): a proof verified
 * against it then holds against what the report published, with no workspace and no copied root.
 */
export function publishedFor(dir: string, q: { pipeline: string; epoch: string; recipient: string }): Published {
  const report = path.resolve(dir);
  const doc = readDocument(report);
  const checks: Check[] = [];
  const errors = reportErrors(doc);
  checks.push({ name: "the report is a report", ok: !errors.length, detail: errors.slice(0, 3).join("; ") || `${report} (report.json matches its schema)` });
  if (errors.length) return { report, root: null, policy: null, total: "0", checks };
  const d = doc as ReportDocument;
  const id = runIdOf(d.facts);
  checks.push({ name: "the report was not edited", ok: id === d.run_id, detail: id === d.run_id ? `its facts hash to its run id ${d.run_id.slice(0, 16)}…` : `its facts hash to ${id}, not to the run id ${d.run_id} it states` });
  const e = d.facts.pipeline === q.pipeline ? d.facts.statement.find((s) => s.epoch === q.epoch) : undefined;
  const total = (e?.lines ?? []).filter((l) => l.recipient === q.recipient).reduce((s, l) => s + BigInt(l.amount.units), 0n).toString();
  checks.push({
    name: "the report shows the epoch closed", ok: !!e?.closure,
    detail: e?.closure ? `epoch ${q.epoch} of ${q.pipeline}, closed at ${e.closure.closed_at} by ${e.closure.closed_by}, root ${e.closure.lines_root.slice(0, 16)}…`
      : e ? `the report shows epoch ${q.epoch} open: it publishes no root for it` : `the report (pipeline ${d.facts.pipeline}, epochs ${d.facts.statement.map((s) => s.epoch).join(", ")}) has no statement of epoch ${q.epoch} of ${q.pipeline}`,
  });
  return { report, root: e?.closure?.lines_root ?? null, policy: e?.policy ?? null, total, checks };
}
