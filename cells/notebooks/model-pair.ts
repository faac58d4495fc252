/**
 * Which two models of a cell's history a models request compares: b (default the current one,
 * first in the history) and a (default the one before b), each an id or a unique prefix. Pure:
 * the dev server (models.ts) and a static build's page (notebooks/runtime/models.ts) both pick so.
 */
export function pickModelPair(
  history: readonly { id: string }[], where: string, req: { a?: string; b?: string },
): { a: string | null; b: string } | { field: "a" | "b"; message: string } {
  const pick = (field: "a" | "b", prefix: string) => {
    const hits = history.filter((m) => m.id.startsWith(prefix));
    return hits.length === 1 ? hits[0]!.id
      : { field, message: `${field}: "${prefix}" ${hits.length ? `matches ${hits.length} models` : "is no model"} of ${where} (${history.map((m) => m.id.slice(0, 12)).join(", ")})` };
  };
  const b = req.b ? pick("b", req.b) : history[0]!.id;
  if (typeof b !== "string") return b;
  const a = req.a ? pick("a", req.a) : history.find((m) => m.id !== b)?.id ?? null;
  if (a !== null && typeof a !== "string") return a;
  return { a, b };
}
