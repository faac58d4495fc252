import { pipeline } from "node:stream/promises";
import { parse } from "csv-parse";
import { parse as parseSync } from "csv-parse/sync";
import { InputError, type InputLocation } from "../../cells/datanet/errors.ts";
import { EMPTY_FILE, checkFile, type RawRecord, type RecordSet } from "./types.ts";
import { TextFault, describeFault, openChecked } from "./checked-text.ts";

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

/**
 * Read a CSV file with a header line (a TSV file: `delimiter: "\t"`); every value stays a string.
 * The header is read now, the rows as they are iterated: a file is streamed, so one of 2 GiB
 * imports in bounded memory (read whole, 412 MB of CSV held 2.3 GB and a file past 512 MiB could
 * not be read at all). A fault found while iterating throws then, naming its row; a reader that
 * stops early calls `close`.
 */
export async function readCsv(file: string, options: CsvOptions = {}): Promise<RecordSet> {
  const delimiter = options.delimiter ?? ",";
  const separator = checkDelimiter(file, delimiter);
  const size = await checkFile(file);
  let columns: string[] = [];
  const parser = parse({
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
  });
  const { text, close: closeText } = openChecked(file);
  pipeline(text, parser).catch(() => undefined); // the error reaches the parser's reader
  const rows = parser[Symbol.asyncIterator]() as AsyncIterator<ParsedRow>;
  const close = () => {
    closeText();
    parser.destroy();
  };
  const next = async (): Promise<IteratorResult<ParsedRow>> => {
    try {
      return await rows.next();
    } catch (err) {
      close();
      throw explain(file, err, separator);
    }
  };
  const first = await next();
  if (first.done) throw new InputError(EMPTY_FILE, { file });

  // info.records counts data records emitted so far, which is exactly the data-row number
  // (header and skipped blank lines excluded, quoted newlines not double-counted).
  async function* records(): AsyncGenerator<RawRecord> {
    try {
      for (let r: IteratorResult<ParsedRow> = first; !r.done; r = await next()) yield { row: r.value.info.records, values: r.value.record };
    } finally {
      close();
    }
  }
  return { file, format: "csv", columns, records: records(), delimiter, close, progress: () => ({ done: text.bytesRead, total: size }), sha256: () => text.sha256 };
}

/** A streamed read's failure as the curator's error: a text fault located, a parse error with its row. */
function explain(file: string, err: unknown, separator: number): InputError {
  if (err instanceof InputError) return err;
  if (err instanceof TextFault) {
    return describeFault(file, err, (bytes, offset) => locateCsv(bytes, offset, separator));
  }
  return csvError(file, err);
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
    const [first] = parseSync(text, { delimiter, bom: true, to_line: 1, relax_quotes: true }) as string[][];
    return first ?? [];
  } catch {
    return [];
  }
}
