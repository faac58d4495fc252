/** Where two JSON values differ: "path: was → now" lines, at most `limit`, arrays compared by index. */
export function jsonDiff(was: unknown, now: unknown, limit = 8): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (out.length >= limit) return;
    if (a === b) return;
    const objA = typeof a === "object" && a !== null, objB = typeof b === "object" && b !== null;
    if (objA && objB && Array.isArray(a) === Array.isArray(b)) {
      if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) out.push(`${path || "/"}: ${a.length} items → ${b.length} items`);
      const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}/${k}`);
      return;
    }
    out.push(`${path || "/"}: ${show(a)} → ${show(b)}`);
  };
  walk(was, now, "");
  return out;
}

function show(v: unknown): string {
  if (v === undefined) return "(absent)";
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}
