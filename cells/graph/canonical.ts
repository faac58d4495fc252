// No imports: featurize.ts (which the notebooks' browser code runs) keys its cache by it.

/**
 * Canonical JSON: object keys sorted, bigint as decimal strings, typed arrays as lists, Dates
 * as ISO strings. Two params objects that mean the same thing give the same text; anything
 * that cannot be canonicalised (functions, symbols, undefined in lists) is refused.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value, "params"));
}

function canonical(value: unknown, path: string): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`${path}: ${value} cannot be part of a fingerprint`);
    return value;
  }
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof Date) return { $date: value.toISOString() };
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map((v, i) => canonical(v, `${path}[${i}]`));
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = canonical(v, `${path}.${key}`);
    }
    return out;
  }
  throw new Error(`${path}: a ${typeof value} cannot be part of a fingerprint`);
}
