import { InputError } from "../../cells/datanet/errors.ts";
import { EMPTY_FILE, checkFile, lineAt, type RawRecord, type RecordSet } from "./types.ts";
import { TextFault, describeFault, openChecked, type CheckedText } from "./checked-text.ts";

/**
 * Read one JSON object per line; values keep their JSON types. Streamed in two passes, so a file
 * of 2 GiB reads in bounded memory: the first checks every line and gathers the columns (the
 * union of the objects' keys: a mapping is checked against them before any row is read), the
 * second yields the rows as they are iterated. `check` sees each object in the first pass, so a
 * reader of its own kind of line refuses a bad one before any row is yielded.
 */
export async function readJsonl(file: string, options: { check?: (values: Record<string, unknown>, row: number) => void } = {}): Promise<RecordSet> {
  const size = await checkFile(file);
  const columns = new Set<string>();
  let rows = 0;
  for await (const { row, line } of lines(file)) {
    const values = parseLine(file, row, line);
    for (const key of Object.keys(values)) columns.add(key);
    options.check?.(values, row);
    rows++;
  }
  if (rows === 0) throw new InputError(EMPTY_FILE, { file });
  let reading: CheckedText | null = null;
  const records = lines(file, (t) => (reading = t));
  async function* parsed(): AsyncGenerator<RawRecord> {
    for await (const { row, line } of records) yield { row, values: parseLine(file, row, line) };
  }
  return {
    file, format: "jsonl", columns: [...columns], records: parsed(), close: () => void records.return(undefined),
    progress: () => ({ done: reading?.bytesRead ?? 0, total: size }),
    sha256: () => reading?.sha256 ?? null,
  };
}

/** The lines that hold something, each with its physical line number (so an editor's "go to line" finds the row). */
async function* lines(file: string, onStart?: (text: CheckedText) => void): AsyncGenerator<{ row: number; line: string }> {
  const { text, close } = openChecked(file);
  onStart?.(text);
  let rest = "";
  let row = 0;
  try {
    for await (const chunk of text as AsyncIterable<string>) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        row++;
        if (/\S/.test(line)) yield { row, line };
      }
    }
    if (/\S/.test(rest)) yield { row: row + 1, line: rest };
  } catch (err) {
    if (err instanceof TextFault) throw describeFault(file, err, (bytes, offset) => ({ row: lineAt(bytes, offset) }));
    throw err;
  } finally {
    close();
  }
}

function parseLine(file: string, row: number, line: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new InputError(`invalid JSON: ${reason}`, { file, row });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InputError(`expected a JSON object, got ${describe(value)}`, { file, row });
  }
  return value as Record<string, unknown>;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
