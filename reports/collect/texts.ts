import type { Workspace } from "../../cells/store/workspace.ts";
import { stageRows } from "../../cells/store/stage.ts";

/** How much contributed text a report quotes: enough to recognise a row, never a 1 MB line. */
export const QUOTE_CHARS = 240;

/**
 * A short quote of each contribution, cut in SQL so a 1 MB body never reaches JS: the title and
 * text, or the label for feature rows. Still untrusted text: the renderer escapes it.
 */
export async function quotes(ws: Workspace, keys: { datanet: string; id: string }[]): Promise<Map<string, string>> {
  if (!keys.length) return new Map();
  await stageRows(ws, "__report_quote_keys", [["datanet", "VARCHAR"], ["id", "VARCHAR"]], keys.map((k) => [k.datanet, k.id]));
  const rows = await ws.rows<{ datanet: string; id: string; quote: string }>(
    `select c.datanet, c.id,
            case when coalesce(c.title, '') = '' and coalesce(c.text, '') = '' then '(features; label ' || c.label || ')'
                 else left(concat_ws(' — ', nullif(left(c.title, ${QUOTE_CHARS + 1}), ''), nullif(left(c.text, ${QUOTE_CHARS + 1}), '')), ${QUOTE_CHARS + 1}) end as quote
     from contributions c join __report_quote_keys k on k.datanet = c.datanet and k.id = c.id`);
  return new Map(rows.map((r) => [`${r.datanet}\u0000${r.id}`, cut(r.quote)]));
}

export function quoteOf(m: Map<string, string>, datanet: string, id: string): string {
  return m.get(`${datanet}\u0000${id}`) ?? "(contribution no longer in the workspace)";
}

/** At most QUOTE_CHARS code points, with "…" when cut (a cut surrogate pair would be broken text). */
function cut(s: string): string {
  const chars = [...s];
  return chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join("")}…` : s;
}
