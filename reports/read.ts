import fs from "node:fs";
import path from "node:path";
import { InputError } from "../cells/datanet/errors.ts";
import { runIdOf, type Check, type ReportDocument } from "./facts.ts";
import { reportErrors } from "./schema.ts";

// Its own module: a proof is checked against a report (reports/published.ts) without loading
// what renders or recomputes one (Plot, linkedom, the TracIn engine).

/**
 * A report folder's report.json with the checks that need nothing else: it matches the schema
 * (else no document), and its run id is the hash of its facts (else it was edited).
 */
export function readReport(dir: string): { doc: ReportDocument | null; checks: Check[] } {
  const doc = readDocument(dir);
  const schemaErrors = reportErrors(doc);
  const checks: Check[] = [{ name: "report.json matches reports/report.schema.json", ok: !schemaErrors.length, detail: schemaErrors.slice(0, 5).join("; ") || "valid" }];
  if (schemaErrors.length) return { doc: null, checks };
  const d = doc as ReportDocument;
  const runId = runIdOf(d.facts);
  checks.push({ name: "run id is the hash of the facts", ok: runId === d.run_id, detail: runId === d.run_id ? d.run_id : `report.json says ${d.run_id}, its facts hash to ${runId}: report.json was edited` });
  return { doc: d, checks };
}

/** A report folder's report.json, parsed; the caller's mistake (exit 2) when the folder or the file is not one. */
function readDocument(dir: string): unknown {
  const file = path.join(dir, "report.json");
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new InputError(`${dir} is not a report folder`);
  if (!fs.existsSync(file)) throw new InputError(`${dir} has no report.json: not a report folder`);
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as unknown;
  } catch (err) {
    throw new InputError(`${file} is not JSON: ${(err as Error).message}`);
  }
}
