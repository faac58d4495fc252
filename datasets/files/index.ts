import path from "node:path";
import { InputError } from "../../cells/datanet/errors.ts";
import { readCsv } from "./csv.ts";
import { readJsonl } from "./jsonl.ts";
import { readParquet } from "./parquet.ts";
import type { RecordSet } from "./types.ts";

export type { FileFormat, RawRecord, RecordSet } from "./types.ts";
export { readCsv, readJsonl, readParquet };

const READERS: Record<string, (file: string) => Promise<RecordSet>> = {
  ".csv": readCsv,
  ".jsonl": readJsonl,
  ".ndjson": readJsonl,
  ".parquet": readParquet,
};

/** Read a user's data file into raw records, choosing the reader from the extension. */
export async function readRecords(file: string): Promise<RecordSet> {
  const ext = path.extname(file).toLowerCase();
  const reader = READERS[ext];
  if (reader === undefined) {
    const shown = ext === "" ? "no extension" : `extension "${ext}"`;
    throw new InputError(
      `unsupported file type (${shown}); supported: ${Object.keys(READERS).join(", ")}`,
      { file },
    );
  }
  return reader(file);
}
