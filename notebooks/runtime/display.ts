import * as Inputs from "@observablehq/inputs";

/**
 * How a cell's value appears on the page. Data is untrusted (contributions are real spam with
 * HTML and script): every value that is not already a DOM node is rendered as text, never as
 * HTML. Only the notebook's own code builds DOM (with htl's `html`, which escapes what it
 * interpolates, or Plot and Inputs, which set text).
 */
export function displayValue(root: Element, value: unknown, inline: boolean): void {
  if (value === undefined) return;
  if (value instanceof Node) {
    root.append(value);
    return;
  }
  if (isArrowTable(value)) {
    root.append(Inputs.table(arrowRows(value)));
    return;
  }
  if (inline || typeof value !== "object" || value === null) {
    const el = document.createElement(inline ? "span" : "div");
    el.className = "tb-value";
    el.textContent = formatScalar(value);
    root.append(el);
    return;
  }
  const pre = document.createElement("pre");
  pre.className = "tb-inspect";
  pre.textContent = inspect(value);
  root.append(pre);
}

export function displayError(root: Element, error: unknown): void {
  const el = document.createElement("div");
  el.className = "tb-error";
  el.textContent = error instanceof Error ? `${error.name === "RuntimeError" ? "" : `${error.name}: `}${error.message}` : String(error);
  root.append(el);
}

export interface ArrowLike {
  numRows: number;
  schema: { fields: { name: string }[] };
  toArray(): { toJSON(): Record<string, unknown> }[];
}

export function isArrowTable(value: unknown): value is ArrowLike {
  return typeof value === "object" && value !== null && "schema" in value && "numRows" in value && typeof (value as ArrowLike).toArray === "function";
}

/** Rows of an Arrow table as plain objects (what Inputs and most code expect). */
export function arrowRows(table: ArrowLike): Record<string, unknown>[] {
  return table.toArray().map((r) => r.toJSON());
}

function formatScalar(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "object" && value !== null) return inspect(value);
  return String(value);
}

function inspect(value: unknown): string {
  if (isArrowTable(value)) value = arrowRows(value);
  try {
    const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? `${v}n` : typeof v === "function" ? `ƒ ${(v as { name?: string }).name ?? ""}()` : v), 2);
    return text.length > 20_000 ? `${text.slice(0, 20_000)}\n…` : text;
  } catch {
    return String(value);
  }
}
