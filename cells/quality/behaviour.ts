import type { Workspace } from "../store/workspace.ts";
import { ModelServer } from "../factory/serve.ts";
import type { ModelManifest } from "../factory/store.ts";
import type { Payload } from "../factory/featurize.ts";
import { columnOrNull, columnsOf } from "../store/columns.ts";
import { snippets } from "../attribution/cells.ts";
import { accuracyAndLoss } from "./counterfactual.ts";
import type { ChangedOutput } from "./changed.ts";
import { rowsWithVectors } from "../store/vector-rows.ts";

// Two models on the same rows: accuracy and loss of each where the rows are labelled, and every
// row whose prediction changed. The behaviour half of `tracebook model diff` (the lineage half
// is factory/diff.ts): what the rows that entered or left did to the outputs.

export type { ChangedOutput } from "./changed.ts";

export interface Behaviour {
  /** The rows compared, as named by the caller (`mail.queries`). */
  on: string;
  rows: number;
  labelled: number;
  a: { accuracy: number; loss: number } | null;
  b: { accuracy: number; loss: number } | null;
  /** Rows whose prediction differs, the largest fall of a's prediction first. */
  changed: ChangedOutput[];
}

/** Run both models over a relation's rows (id, label, and the payload columns) and compare. */
export async function compareBehaviour(ws: Workspace, a: ModelManifest, b: ModelManifest, relation: string, on: string): Promise<Behaviour> {
  const classes = a.spec.classes;
  if (classes.join("\u0000") !== b.spec.classes.join("\u0000")) {
    throw new Error(`the two models predict different classes (${classes.join(", ")} against ${b.spec.classes.join(", ")}): their outputs cannot be compared row by row`);
  }
  const columns = await columnsOf(ws, relation);
  if (!columns.includes("id")) throw new Error(`${on} has no column "id" (columns: ${columns.join(", ")})`);
  const pick = (c: string) => columnOrNull(columns, c);
  const rows = await rowsWithVectors<{ id: string; label: string | null; title: string | null; text: string | null; features: ArrayLike<number> | null }>(ws,
    `select id, ${pick("label")}, ${pick("title")}, ${pick("text")}, ${pick("features")} from ${relation} order by id`,
  );
  const payloads: Payload[] = rows.map((r) => ({ title: r.title, text: r.text, features: r.features }));
  const server = new ModelServer(ws.home);
  const [pa, pb] = [await server.infer(a.id, payloads), await server.infer(b.id, payloads)];
  const C = classes.length;
  const logp = (preds: typeof pa) => Float32Array.from(preds.flatMap((p) => p.probabilities.map((v) => Math.log(Math.max(v, 1e-30)))));
  const labels = Int32Array.from(rows.map((r) => (r.label === null ? -1 : classes.indexOf(r.label))));
  const text = await snippets(ws, relation);
  const changed: ChangedOutput[] = [];
  rows.forEach((r, j) => {
    const [x, y] = [pa[j]!, pb[j]!];
    if (x.label === y.label) return;
    const k = classes.indexOf(x.label);
    changed.push({
      id: r.id, label: r.label, a: x.label, b: y.label, pA: x.probabilities[k]!, pBofA: y.probabilities[k]!,
      text: text.get(r.id) ?? "",
    });
  });
  changed.sort((x, y) => x.pBofA - x.pA - (y.pBofA - y.pA) || x.id.localeCompare(y.id));
  return {
    on, rows: rows.length, labelled: labels.filter((y) => y >= 0).length,
    a: accuracyAndLoss(C, logp(pa), labels), b: accuracyAndLoss(C, logp(pb), labels), changed,
  };
}
