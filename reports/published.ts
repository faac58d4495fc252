import path from "node:path";
import { readReport } from "./read.ts";
import type { Check } from "./facts.ts";

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
 * report and was not edited (readReport, as `report verify` checks it): a proof verified
 * against it then holds against what the report published, with no workspace and no copied root.
 */
export function publishedFor(dir: string, q: { pipeline: string; epoch: string; recipient: string }): Published {
  const report = path.resolve(dir);
  const { doc: d, checks } = readReport(report);
  if (!d) return { report, root: null, policy: null, total: "0", checks };
  const e = d.facts.pipeline === q.pipeline ? d.facts.statement.find((s) => s.epoch === q.epoch) : undefined;
  const total = (e?.lines ?? []).filter((l) => l.recipient === q.recipient).reduce((s, l) => s + BigInt(l.amount.units), 0n).toString();
  checks.push({
    name: "the report shows the epoch closed", ok: !!e?.closure,
    detail: e?.closure ? `epoch ${q.epoch} of ${q.pipeline}, closed at ${e.closure.closed_at} by ${e.closure.closed_by}, root ${e.closure.lines_root.slice(0, 16)}…`
      : e ? `the report shows epoch ${q.epoch} open: it publishes no root for it` : `the report (pipeline ${d.facts.pipeline}, epochs ${d.facts.statement.map((s) => s.epoch).join(", ")}) has no statement of epoch ${q.epoch} of ${q.pipeline}`,
  });
  return { report, root: e?.closure?.lines_root ?? null, policy: e?.policy ?? null, total, checks };
}
