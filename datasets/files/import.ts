import path from "node:path";
import type { Workspace } from "../../cells/store/workspace.ts";
import { ingest, loadDatanetSpec, type ImportSummary } from "../../cells/datanet/ingest.ts";
import { InputError } from "../../cells/datanet/errors.ts";
import { datanetNames, unknownDatanet } from "../../cells/datanet/known.ts";
import { fileSha256 } from "../../cells/datanet/hash.ts";
import type { DatanetSpec, Status } from "../../cells/datanet/types.ts";
import { readRecords } from "./index.ts";
import { mapRecords, type ColumnMapping } from "./mapping.ts";

export interface FileImportOptions {
  /** Make the Datanet if it does not exist (without it, an unknown name is an error: typos must not fork a Datanet). */
  create?: boolean;
  replace?: boolean;
  status?: Status;
  /** Who vouches for a non-pending initial status. */
  validator?: string;
  description?: string;
  labels?: string[];
  seed?: number;
  testFraction?: number;
  /** A delimited file's field separator, where its extension's is not it (a .csv written with ";"). */
  delimiter?: string;
  /** Bytes of the file read so far, of its size, as rows are staged (CSV and JSONL). */
  onProgress?: (done: number, total: number) => void;
}

export const FILE_IMPORTER = "tracebook/file@1";

/** Import a CSV, TSV, JSONL or Parquet file into a Datanet, all or nothing. */
export async function importFile(
  ws: Workspace,
  name: string,
  file: string,
  mapping: ColumnMapping,
  options: FileImportOptions = {},
): Promise<ImportSummary> {
  const existing = await loadDatanetSpec(ws, name);
  if (!existing && !options.create) {
    throw new InputError(`${unknownDatanet(name, await datanetNames(ws))}; pass --create to make a new one`, { file });
  }
  const kind = mapping.features !== undefined ? "features" : "text";
  if (existing && !options.replace && existing.kind !== kind) {
    throw new InputError(`Datanet "${name}" holds ${existing.kind} contributions; this file was mapped as ${kind}`, { file });
  }
  const set = await readRecords(file, { delimiter: options.delimiter });
  const spec: DatanetSpec = {
    name,
    kind,
    description: options.description ?? `imported from ${path.basename(file)}`,
    source: `file:${path.resolve(file)}`,
    labels: options.labels ?? null,
    featureDim: null,
    contributorRule: `column "${mapping.contributor}" of the imported file`,
    splitSeed: options.seed ?? 0,
    testFraction: options.testFraction ?? 0.2,
  };
  const status = options.status ?? "pending";
  // The streamed text readers hash the bytes they read; DuckDB reads a Parquet file itself.
  const hashedApart = set.sha256 ? null : await fileSha256(file);
  try {
    return await ingest(ws, spec, mapRecords(set, mapping, new Date()), {
      mode: options.replace ? "replace" : existing ? "append" : "create",
      status,
      validator: options.validator ?? `${FILE_IMPORTER}:${process.env.USER ?? "user"}`,
      statusReason: status === "pending" ? undefined : `import --status ${status}`,
      importer: FILE_IMPORTER,
      sourceSha256: () => set.sha256?.() ?? hashedApart,
      onProgress: () => {
        const at = set.progress?.();
        if (at) options.onProgress?.(at.done, at.total);
      },
    });
  } catch (err) {
    // A message with only a subject line is a real contribution: say where its words are.
    const titled = mapping.title === undefined ? set.columns.find((c) => /^(title|subject|headline|summary)$/i.test(c)) : undefined;
    if (err instanceof InputError && err.reason === "text is empty" && titled) {
      throw new InputError(`text is empty, and no title was named: the file has a "${titled}" column (--title ${titled}); a row with a title and no text is kept`, { file: err.file, row: err.row, field: err.field });
    }
    throw err;
  } finally {
    set.close?.();
  }
}

