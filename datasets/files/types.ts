import { stat } from "node:fs/promises";
import { InputError } from "../../cells/datanet/errors.ts";
import { MAX_FILE_BYTES, MAX_TEXT_BYTES } from "../../cells/datanet/limits.ts";

export type FileFormat = "csv" | "jsonl" | "parquet";

/** One data row as read from the file. `row` is 1-based and counts data rows only (CSV header excluded; for JSONL, the line number, blank lines skipped but counted). */
export interface RawRecord {
  row: number;
  values: Record<string, unknown>;
}

export interface RecordSet {
  file: string;
  format: FileFormat;
  columns: string[];
  /** Read as iterated where the reader streams (CSV): iterate once. */
  records: Iterable<RawRecord> | AsyncIterable<RawRecord>;
  /** CSV: the field separator it was read with. */
  delimiter?: string;
  /** Let go of the file when the records are not read to the end (a streamed reader holds it open). */
  close?: () => void;
  /** Where a streamed reader is in the file: bytes read of its size (for a progress bar). */
  progress?: () => { done: number; total: number };
  /** The file's sha256, from the pass that read the records, once they were read to the end (null before). */
  sha256?: () => string | null;
}

// Helpers shared by the readers. They live here rather than in index.ts so the readers do
// not import their own dispatcher (a cycle).

/** A text line longer than this is rejected before parsing: no legitimate row needs it. */
export const MAX_LINE_BYTES = MAX_TEXT_BYTES * 4;

export const EMPTY_FILE = "empty file: no data rows";

/** Stat the file and return its size, turning fs failures into InputErrors that name it. */
export async function checkFile(file: string): Promise<number> {
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new InputError("not a regular file", { file });
    size = info.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(fsReason(err), { file });
  }
  if (size > MAX_FILE_BYTES) {
    throw new InputError(`file is ${size} bytes, over the ${MAX_FILE_BYTES} byte limit`, { file });
  }
  if (size === 0) throw new InputError(EMPTY_FILE, { file });
  return size;
}

function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return "file not found";
  if (code === "EACCES" || code === "EPERM") return "cannot read file: permission denied";
  if (code === "EISDIR") return "not a regular file";
  return `cannot read file: ${err instanceof Error ? err.message : String(err)}`;
}

/** Offset of the first byte that starts an invalid sequence (WHATWG rules), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // overlong
      if (c === 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90; // overlong
      if (c === 0xf4) hi = 0x8f; // past U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < lo || d > hi) return i;
      lo = 0x80;
      hi = 0xbf;
    }
    i += need + 1;
  }
  return -1;
}

/** 1-based physical line number of a byte offset. */
export function lineAt(bytes: Uint8Array, offset: number): number {
  let line = 1;
  let i = bytes.indexOf(0x0a);
  while (i !== -1 && i < offset) {
    line++;
    i = bytes.indexOf(0x0a, i + 1);
  }
  return line;
}
