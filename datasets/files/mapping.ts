import { InputError } from "../../cells/datanet/errors.ts";
import type { ContributionInput } from "../../cells/datanet/types.ts";
import type { RawRecord, RecordSet } from "./types.ts";

/** Which columns of a user's file hold what. */
export interface ColumnMapping {
  text?: string;
  title?: string;
  label: string;
  contributor: string;
  /**
   * Numeric payload: one column holding an array, a comma-separated list of columns, or a
   * pattern with `*` (e.g. `px*`) matched against the file's columns in file order.
   */
  features?: string;
  submittedAt?: string;
}

/** Separators a delimited file may have been written with, tried for a hint in this order. */
const SEPARATORS = [";", "\t", "|", ","];

/**
 * When a delimited file read as one column names several (a spreadsheet's ";"-separated export read
 * as CSV), the separator that splits its name: a hint for the error that no mapped column is there.
 */
function separatorHint(set: RecordSet): string {
  if (set.delimiter === undefined || set.columns.length !== 1) return "";
  const found = SEPARATORS.find((s) => s !== set.delimiter && set.columns[0]!.includes(s));
  return found ? ` (one column: if the file separates fields with ${JSON.stringify(found)}, pass --delimiter ${JSON.stringify(found)})` : "";
}

/** Resolve the mapping against the file's columns; a missing column fails before any row is read. */
export function resolveColumns(set: RecordSet, mapping: ColumnMapping): { featureColumns: string[] | null } {
  const need = (column: string | undefined, role: string) => {
    if (column !== undefined && !set.columns.includes(column)) {
      throw new InputError(`column "${column}" (${role}) is not in the file; its columns are: ${set.columns.join(", ")}${separatorHint(set)}`, {
        file: set.file,
        field: column,
      });
    }
  };
  if (mapping.text === undefined && mapping.features === undefined) {
    throw new InputError("name the payload: --text <column> for text, --features <columns> for numbers", { file: set.file });
  }
  need(mapping.text, "text");
  need(mapping.title, "title");
  need(mapping.label, "label");
  need(mapping.contributor, "contributor");
  need(mapping.submittedAt, "submitted at");
  if (mapping.features === undefined) return { featureColumns: null };
  const spec = mapping.features.trim();
  let columns: string[];
  if (spec.includes("*")) {
    const re = new RegExp(`^${spec.split("*").map(escapeRegExp).join(".*")}$`);
    columns = set.columns.filter((c) => re.test(c));
    if (!columns.length) throw new InputError(`no column matches the feature pattern "${spec}"`, { file: set.file, field: spec });
  } else {
    columns = spec.split(",").map((c) => c.trim()).filter(Boolean);
    for (const c of columns) need(c, "feature");
  }
  return { featureColumns: columns };
}

/** Turn raw records into contributions, with every problem pinned to its row and column. */
export async function* mapRecords(set: RecordSet, mapping: ColumnMapping, importedAt: Date): AsyncGenerator<ContributionInput> {
  const { featureColumns } = resolveColumns(set, mapping);
  for await (const record of set.records) {
    const at = (field: string) => ({ file: set.file, row: record.row, field });
    yield {
      contributor: scalarText(record, mapping.contributor, at),
      label: scalarText(record, mapping.label, at),
      title: mapping.title === undefined ? null : optionalText(record, mapping.title, at),
      text: mapping.text === undefined ? null : optionalText(record, mapping.text, at) ?? "",
      features: featureColumns ? readFeatures(record, featureColumns, at) : null,
      submittedAt: mapping.submittedAt === undefined ? importedAt : readTime(record, mapping.submittedAt, at),
      source: `${set.file}#row=${record.row}`,
      where: { file: set.file, row: record.row },
      columns: {
        text: mapping.text, title: mapping.title, label: mapping.label, contributor: mapping.contributor,
        features: featureColumns?.length === 1 ? featureColumns[0] : mapping.features, submitted_at: mapping.submittedAt,
      },
    };
  }
}

type At = (field: string) => { file: string; row: number; field: string };

/** Labels and contributor ids: strings, or integers written as numbers (JSON, Parquet). */
function scalarText(record: RawRecord, column: string, at: At): string {
  const v = record.values[column];
  if (typeof v === "string") {
    if (v.trim() === "") throw new InputError("value is empty", at(column));
    return v.trim();
  }
  if (typeof v === "number" && Number.isInteger(v)) return String(v);
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return String(v);
  throw new InputError(v == null ? "value is missing" : `expected text or an integer, got ${describe(v)}`, at(column));
}

function optionalText(record: RawRecord, column: string, at: At): string | null {
  const v = record.values[column];
  if (v == null) return null;
  if (typeof v !== "string") throw new InputError(`expected text, got ${describe(v)}`, at(column));
  return v;
}

function readFeatures(record: RawRecord, columns: string[], at: At): number[] {
  if (columns.length === 1) {
    const v = record.values[columns[0]!];
    if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      return Array.from(v as ArrayLike<unknown>, (x, i) => toFinite(x, () => at(`${columns[0]}[${i}]`)));
    }
  }
  return columns.map((c) => toFinite(record.values[c], () => at(c)));
}

function toFinite(v: unknown, at: () => ReturnType<At>): number {
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "bigint") n = Number(v);
  else if (typeof v === "string" && v.trim() !== "") n = Number(v.trim());
  else throw new InputError(v == null || v === "" ? "feature value is missing" : `expected a number, got ${describe(v)}`, at());
  if (Number.isNaN(n)) throw new InputError(typeof v === "string" && !/^\s*nan\s*$/i.test(v) ? `"${v}" is not a number` : "feature is NaN", at());
  if (!Number.isFinite(n) || !Number.isFinite(Math.fround(n))) throw new InputError(`feature ${String(v)} is infinite or out of float32 range`, at());
  return n;
}

function readTime(record: RawRecord, column: string, at: At): Date {
  const v = record.values[column];
  const d = v instanceof Date ? v : typeof v === "string" || typeof v === "number" ? new Date(v) : null;
  if (!d || Number.isNaN(d.getTime())) throw new InputError(`"${String(v)}" is not a time (use ISO 8601)`, at(column));
  return d;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (v === null) return "null";
  return typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
