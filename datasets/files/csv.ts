import { parse } from "csv-parse/sync";
import { InputError, type InputLocation } from "../../cells/datanet/errors.ts";
import {
  EMPTY_FILE,
  MAX_LINE_BYTES,
  decodeUtf8,
  findLongLine,
  readBytes,
  type RawRecord,
  type RecordSet,
} from "./types.ts";

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

export interface CsvOptions {
  /** The field separator, one ASCII character: "," (the default), "\t" for TSV, ";" as spreadsheets write it where the comma is the decimal mark, "|". */
  delimiter?: string;
}

/** The separator, checked: a character the parser and the row locator both read as one byte. */
function checkDelimiter(file: string, delimiter: string): number {
  const code = delimiter.length === 1 ? delimiter.charCodeAt(0) : -1;
  if (code < 0x01 || code > 0x7e || code === QUOTE || code === LF || code === CR || /[\w ]/.test(delimiter)) {
    throw new InputError(`delimiter ${JSON.stringify(delimiter)}: give one ASCII character that is not a letter, digit, space, quote or line break (tab: "\\t")`, { file });
  }
  return code;
}

interface ParsedRow {
  record: Record<string, string>;
  info: { records: number };
}

/** Read a CSV file with a header line (a TSV file: `delimiter: "\t"`); every value stays a string. */
export async function readCsv(file: string, options: CsvOptions = {}): Promise<RecordSet> {
  const delimiter = options.delimiter ?? ",";
  const separator = checkDelimiter(file, delimiter);
  const bytes = await readBytes(file);
  const locate = (offset: number) => locateCsv(bytes, offset, separator);
  const text = decodeUtf8(file, bytes, locate);
  if (!/\S/.test(text.replace(/^\uFEFF/, ""))) throw new InputError(EMPTY_FILE, { file });

  const long = findLongLine(bytes, MAX_LINE_BYTES);
  if (long !== -1) {
    const where = locate(long);
    const what = where.row === undefined ? "header line" : "row";
    throw new InputError(`${what} exceeds ${MAX_LINE_BYTES} bytes`, { file, row: where.row });
  }

  let columns: string[] = [];
  let rows: ParsedRow[];
  try {
    rows = parse(text, {
      // A function instead of `true` so the header is checked before csv-parse silently
      // lets a duplicate name overwrite the earlier column.
      columns: (header: string[]) => (columns = checkHeader(file, header)),
      delimiter,
      bom: true,
      // Explicit, because csv-parse otherwise guesses from the first line ending and then
      // leaves a stray "\r" on values of files with mixed line endings.
      record_delimiter: ["\r\n", "\n"],
      relax_column_count: false,
      skip_empty_lines: true,
      info: true,
    }) as ParsedRow[];
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw csvError(file, err);
  }
  if (rows.length === 0) throw new InputError(EMPTY_FILE, { file });

  // info.records counts data records emitted so far, which is exactly the data-row number
  // (header and skipped blank lines excluded, quoted newlines not double-counted).
  const records: RawRecord[] = rows.map(({ record, info }) => ({ row: info.records, values: record }));
  return { file, format: "csv", columns, records, delimiter };
}

function checkHeader(file: string, header: string[]): string[] {
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name.trim() === "") throw new InputError(`empty column name in header (column ${i + 1})`, { file });
    if (seen.has(name)) throw new InputError("duplicate column name in header", { file, field: name });
    seen.add(name);
  });
  return header;
}

function csvError(file: string, err: unknown): InputError {
  const e = err as { message?: string; records?: unknown; lines?: unknown };
  const reason = (e.message ?? String(err)).replace(/\s+/g, " ").trim();
  // csv-parse counts emitted data records in `records`; the failing one is the next.
  const row = typeof e.records === "number" ? e.records + 1 : undefined;
  return new InputError(`malformed CSV: ${reason}`, { file, row });
}

/**
 * Map a byte offset to the data row and column it falls in. Scans quote-aware, so quoted
 * newlines and blank lines count the same way csv-parse does; the column is best effort
 * (a bad byte inside the header yields no row).
 */
export function locateCsv(bytes: Uint8Array, offset: number, separator = 0x2c): InputLocation {
  let records = 0; // completed non-empty records, header included
  let field = 0;
  let content = false;
  let quoted = false;
  let headerEnd = -1;
  for (let i = 0; i < offset && i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      quoted = !quoted; // an escaped "" toggles twice, which is what we want
      content = true;
    } else if (quoted) {
      continue;
    } else if (c === LF) {
      if (content) {
        if (records === 0) headerEnd = i;
        records++;
      }
      field = 0;
      content = false;
    } else if (c === separator) {
      field++;
      content = true;
    } else if (c !== CR) {
      content = true;
    }
  }
  if (records === 0) return {};
  const name = headerNames(bytes.subarray(0, headerEnd), String.fromCharCode(separator))[field];
  return name === undefined ? { row: records } : { row: records, field: name };
}

function headerNames(headerBytes: Uint8Array, delimiter: string): string[] {
  try {
    const text = new TextDecoder("utf-8").decode(headerBytes);
    const [first] = parse(text, { delimiter, bom: true, to_line: 1, relax_quotes: true }) as string[][];
    return first ?? [];
  } catch {
    return [];
  }
}
