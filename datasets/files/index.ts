import path from "node:path";
import { InputError } from "../../cells/datanet/errors.ts";
import { readCsv } from "./csv.ts";
import { readJsonl } from "./jsonl.ts";
import { readParquet } from "./parquet.ts";
import type { RecordSet } from "./types.ts";

export type { FileFormat, RawRecord, RecordSet } from "./types.ts";
export { readCsv, readJsonl, readParquet };

export interface ReadOptions {
  /** Delimited text only: the field separator, where the extension's (",", tab for .tsv) is not the file's. */
  delimiter?: string;
}

/** The readers by extension; a delimited one with the separator its extension implies. */
const READERS: Record<string, { read: (file: string, options: ReadOptions) => Promise<RecordSet>; delimited?: true }> = {
  ".csv": { read: (file, o) => readCsv(file, { delimiter: o.delimiter ?? "," }), delimited: true },
  ".tsv": { read: (file, o) => readCsv(file, { delimiter: o.delimiter ?? "\t" }), delimited: true },
  ".jsonl": { read: (file) => readJsonl(file) },
  ".ndjson": { read: (file) => readJsonl(file) },
  ".parquet": { read: readParquet },
};

/** Read a user's data file into raw records, choosing the reader from the extension. */
export async function readRecords(file: string, options: ReadOptions = {}): Promise<RecordSet> {
  const ext = path.extname(file).toLowerCase();
  const reader = READERS[ext];
  if (reader === undefined) {
    const shown = ext === "" ? "no extension" : `extension "${ext}"`;
    throw new InputError(
      `unsupported file type (${shown}); supported: ${Object.keys(READERS).join(", ")}`,
      { file },
    );
  }
  if (options.delimiter !== undefined && !reader.delimited) {
    throw new InputError(`a delimiter applies to delimited text (.csv, .tsv), not to ${ext} files`, { file });
  }
  return reader.read(file, options);
}
