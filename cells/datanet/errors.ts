/** Where bad input was found: the file, the 1-based row (data row, header excluded) and the field. */
export interface InputLocation {
  file?: string;
  row?: number;
  field?: string;
}

/**
 * Bad user input. The message always names the file, row and field that are known, so a
 * curator can find the offending cell without re-reading the whole file.
 */
export class InputError extends Error {
  readonly file: string | undefined;
  readonly row: number | undefined;
  readonly field: string | undefined;
  readonly reason: string;

  constructor(reason: string, where: InputLocation = {}) {
    super(formatLocation(where) + reason);
    this.name = "InputError";
    this.reason = reason;
    this.file = where.file;
    this.row = where.row;
    this.field = where.field;
  }
}

function formatLocation({ file, row, field }: InputLocation): string {
  const parts: string[] = [];
  if (file !== undefined) parts.push(file);
  if (row !== undefined) parts.push(`row ${row}`);
  if (field !== undefined) parts.push(`field "${field}"`);
  return parts.length ? parts.join(", ") + ": " : "";
}
