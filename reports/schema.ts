import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import type { ReportDocument } from "./facts.ts";

export const SCHEMA_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), "report.schema.json");

let validator: ValidateFunction | null = null;

/** The compiled schema of report.json, compiled once per process. */
function validate(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    validator = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA_FILE, "utf8")) as object);
  }
  return validator;
}

/** Schema errors of a parsed report.json, as "path: message" lines; empty when it is valid. */
export function reportErrors(doc: unknown): string[] {
  const v = validate();
  if (v(doc)) return [];
  return (v.errors ?? []).map((e: ErrorObject) => `${e.instancePath || "/"}: ${e.message ?? "invalid"}${e.params && "allowedValue" in e.params ? ` (${JSON.stringify(e.params.allowedValue)})` : ""}`);
}

/** A writer's last check: never write a report.json that its own schema rejects. */
export function assertValidReport(doc: ReportDocument): void {
  const errors = reportErrors(doc);
  if (errors.length) throw new Error(`internal: report.json does not match ${path.basename(SCHEMA_FILE)}: ${errors.slice(0, 5).join("; ")}`);
}
