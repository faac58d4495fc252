import { formatTable, toJson } from "../output.ts";
import type { Workspace } from "../../cells/store/workspace.ts";
import type { ModelManifest } from "../../cells/factory/store.ts";
import { modelHistory, paidUse, standingOf } from "../../cells/factory/catalog.ts";
import { diffLineage, type RowChange, type RowsDiff } from "../../cells/factory/diff.ts";
import { compareBehaviour } from "../../cells/quality/behaviour.ts";

interface DiffRequest {
  a: ModelManifest;
  b: ModelManifest;
  aRef: string;
  bRef: string;
  /** The rows whose outputs are compared, or null: lineages only. */
  rows: { relation: string; name: string } | null;
  /** Why the outputs are not compared, when asked for and there are no rows to compare them on. */
  noRows?: string;
  limit: number;
  json: boolean;
}

const n = (v: number) => v.toLocaleString("en-US");
const when = (d: Date) => d.toISOString().slice(0, 16).replace("T", " ");
/** A model id or hash as the other tables show it. */
const short = (v: string) => (/^[0-9a-f]{64}$/.test(v) ? v.slice(0, 12) : v);

/** `tracebook model diff`: the lineage comparison, then the outputs on the same rows. */
export async function printModelDiff(ws: Workspace, r: DiffRequest): Promise<void> {
  const { a, b } = r;
  const lineage = await diffLineage(ws, a, b);
  const behaviour = r.rows ? await compareBehaviour(ws, a, b, r.rows.relation, r.rows.name) : null;
  const [history, paid] = [await modelHistory(ws), await paidUse(ws)];
  // Every model resolveModel names is in the store, so in its history.
  const [sa, sb] = [a, b].map((m) => standingOf(history.find((h) => h.manifest.id === m.id)!, paid)) as [ReturnType<typeof standingOf>, ReturnType<typeof standingOf>];
  if (r.json) {
    const { a: _a, b: _b, ...rest } = lineage;
    console.log(toJson({ a: sa, b: sb, ...rest, outputs: behaviour }));
    return;
  }

  console.log(`${r.aRef} → ${r.bRef}`);
  for (const [side, s] of [["a", sa], ["b", sb]] as const) {
    const where = s.from ? `${s.from} (${s.state}, trained ${when(new Date(s.trainedAt))})` : "imported";
    const acc = s.heldOutAccuracy === null ? "" : `, held-out accuracy ${s.heldOutAccuracy.toFixed(4)}`;
    console.log(`  ${side}  ${s.id.slice(0, 12)}  ${where}: ${n(s.contributions)} training contributions${acc}; paid for ${n(s.inferences)} inferences (${s.fees} in fees)`);
  }
  if (a.id === b.id) return console.log("\nThe same model: nothing differs.");

  console.log(lineage.settings.length
    ? `\nSettings that differ:\n${formatTable(lineage.settings.map((c) => ({ setting: c.field, a: short(c.a), b: short(c.b) })), { maxCell: 70 })}`
    : "\nSettings: the same (base architecture, featurizer, adapter, training, seed, backend, code version).");
  printRows("Training rows", lineage.rows, r.limit);
  if (lineage.base) {
    console.log(`\nThe base changed (${lineage.base.a.slice(0, 12)} → ${lineage.base.b.slice(0, 12)}): a row that trained it left or entered too.`);
    printRows("The base's training rows", lineage.base.rows, r.limit);
  }
  if (!behaviour) {
    if (r.noRows) console.log(`\nOutputs: not compared (${r.noRows}).`);
    return;
  }
  const metric = (x: { accuracy: number; loss: number } | null, y: { accuracy: number; loss: number } | null) =>
    x && y ? `: accuracy ${x.accuracy.toFixed(4)} → ${y.accuracy.toFixed(4)}, mean loss ${x.loss.toFixed(4)} → ${y.loss.toFixed(4)}` : "";
  console.log(`\nOutputs on ${behaviour.on} (${n(behaviour.rows)} rows, ${n(behaviour.labelled)} labelled)${metric(behaviour.a, behaviour.b)}; ${n(behaviour.changed.length)} prediction${behaviour.changed.length === 1 ? "" : "s"} changed${behaviour.changed.length ? ", the largest fall first:" : "."}`);
  if (behaviour.changed.length) {
    console.log(formatTable(behaviour.changed.slice(0, r.limit).map((c) => ({
      id: c.id.slice(0, 12), label: c.label ?? "", "a → b": `${c.a} → ${c.b}`, [`p(a's) a → b`]: `${c.pA.toFixed(3)} → ${c.pBofA.toFixed(3)}`, text: c.text,
    })), { maxCell: 70 }));
    if (behaviour.changed.length > r.limit) console.log(`… and ${n(behaviour.changed.length - r.limit)} more (--limit, --json)`);
  }
}

function printRows(title: string, d: RowsDiff, limit: number): void {
  const changed = d.added.length + d.removed.length;
  console.log(`\n${title}: ${n(d.a)} → ${n(d.b)} (${n(d.added.length)} entered, ${n(d.removed.length)} left)${changed ? "" : ": the same rows."}`);
  if (!changed) return;
  const line = (sign: string, c: RowChange) => ({
    "": sign, id: c.id.slice(0, 12), contributor: c.contributor, label: c.label ?? "", "status now": c.status ?? "gone",
    "last record": c.record ? `${c.record.verdict} by ${c.record.validator}, ${when(c.record.decidedAt)}${c.record.reason ? `: ${c.record.reason}` : ""}` : "",
  });
  // Rows that left first: a curator's rejection is the usual reason for a retrain.
  const lines = [...d.removed.map((c) => line("−", c)), ...d.added.map((c) => line("+", c))];
  console.log(formatTable(lines.slice(0, limit), { maxCell: 70 }));
  if (lines.length > limit) console.log(`… and ${n(lines.length - limit)} more (--limit, --json)`);
  if (d.contributors.length > 1 && changed > limit) {
    console.log(formatTable(d.contributors.slice(0, limit).map((c) => ({ contributor: c.contributor, entered: c.added, left: c.removed }))));
  }
}
