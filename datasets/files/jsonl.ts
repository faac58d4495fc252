import { InputError } from "../../cells/datanet/errors.ts";
import {
  EMPTY_FILE,
  MAX_LINE_BYTES,
  decodeUtf8,
  findLongLine,
  lineAt,
  readBytes,
  type RawRecord,
  type RecordSet,
} from "./types.ts";

/** Read one JSON object per line; values keep their JSON types. */
export async function readJsonl(file: string): Promise<RecordSet> {
  const bytes = await readBytes(file);
  const text = decodeUtf8(file, bytes, (offset) => ({ row: lineAt(bytes, offset) }));
  if (!/\S/.test(text)) throw new InputError(EMPTY_FILE, { file });

  const long = findLongLine(bytes, MAX_LINE_BYTES);
  if (long !== -1) {
    throw new InputError(`row exceeds ${MAX_LINE_BYTES} bytes`, { file, row: lineAt(bytes, long) });
  }

  const columns = new Set<string>();
  const records: RawRecord[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // Row numbers are physical line numbers so an editor's "go to line" finds the row.
    const row = i + 1;
    if (!/\S/.test(line)) continue;
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
    const values = value as Record<string, unknown>;
    for (const key of Object.keys(values)) columns.add(key);
    records.push({ row, values });
  }
  if (records.length === 0) throw new InputError(EMPTY_FILE, { file });
  return { file, format: "jsonl", columns: [...columns], records };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
