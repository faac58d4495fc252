import { nowUtc, type Workspace } from "../../cells/store/workspace.ts";
import { catchUpReceipts } from "../../cells/rewards/archive.ts";
import { REPORT_FORMAT, type Check, type ReportFacts } from "../facts.ts";
import { findCells, modelIdOf } from "./cells.ts";
import { collectLedger, type Ledger } from "./ledger.ts";
import { collectLineage, type Lineage } from "./lineage.ts";
import { collectInfluence } from "./influence.ts";
import { collectQuality } from "./quality.ts";
import { collectTrust } from "./trust.ts";
import { collectRetrain } from "./retrain.ts";
import { collectMethodology } from "./methodology.ts";
import { collectReproducibility } from "./provenance.ts";
import { amount, sumUnits } from "./amount.ts";

export interface CollectOptions {
  /** One settlement epoch; default: every epoch the pipeline settled. */
  epoch?: string;
  /** Several epochs (what `report verify` passes: the epochs of the report it checks). */
  epochs?: string[];
  /** The rewardSplit cell, when the pipeline has several. */
  cell?: string;
}

/**
 * Every fact of a pipeline's attribution report, read from the workspace: the run log, the
 * cells' artifacts, the model folders (hashed again), the ledger, rewards and settlements.
 * Reads only; the same workspace gives the same facts.
 */
export async function collectFacts(ws: Workspace, pipeline: string, options: CollectOptions = {}): Promise<ReportFacts> {
  const cells = await findCells(ws, pipeline, options.cell);
  // Receipts of lines settled before the archive existed, from the files still on disk: the
  // report and its verification then find the same ones.
  await catchUpReceipts(ws, nowUtc());
  const ledger = await collectLedger(ws, pipeline, cells, options.epochs ?? (options.epoch === undefined ? undefined : [options.epoch]));
  const modelId = await modelIdOf(ws, cells.model);
  const lineage = await collectLineage(ws, pipeline, cells, modelId, ledger);
  const facts: Omit<ReportFacts, "checks"> = {
    format: REPORT_FORMAT,
    pipeline,
    epochs: ledger.epochs,
    summary: summary(ledger, lineage),
    methodology: await collectMethodology(ws, cells, lineage.manifest),
    lineage: lineage.facts,
    influence: await collectInfluence(ws, pipeline, cells, ledger),
    quality: await collectQuality(ws, cells, lineage),
    trust: await collectTrust(ws, pipeline, modelId),
    retrain: await collectRetrain(ws, cells, modelId),
    statement: ledger.statement,
    never_executed: ledger.neverExecuted,
    reproducibility: await collectReproducibility(ws, pipeline, ledger.epochs, cells, lineage.manifest, lineage.base),
  };
  return { ...facts, checks: integrityChecks(facts) };
}

function summary(ledger: Ledger, lineage: Lineage): ReportFacts["summary"] {
  const m = lineage.facts.model;
  const times = ledger.settled.map((s) => s.executed_at).sort();
  const roles = new Map<string, { total: bigint; recipients: number }>();
  for (const e of ledger.statement) {
    for (const l of e.lines) {
      if (l.role === "model") continue; // models never executed: their own section
      const r = roles.get(l.role) ?? { total: 0n, recipients: 0 };
      r.total += BigInt(l.amount.units);
      if (BigInt(l.amount.units) > 0n) r.recipients++;
      roles.set(l.role, r);
    }
  }
  const order = ["contributor", "creator", "validator", "protocol"];
  return {
    model: { cell: m.cell, id: m.id, kind: m.kind, held_out_accuracy: m.held_out_accuracy },
    datanets: lineage.facts.contributions.by_datanet.map((d) => ({ name: d.datanet, contributions: d.count })),
    period: { epochs: ledger.epochs, first_inference: times[0] ?? null, last_inference: times.at(-1) ?? null },
    inferences: ledger.settled.length,
    fees: amount(sumUnits(ledger.statement.map((e) => BigInt(e.fees.units)))),
    paid: amount(sumUnits(ledger.statement.map((e) => BigInt(e.paid.units)))),
    payouts_by_role: [...roles].sort(([a], [b]) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b))
      .map(([role, r]) => ({ role, amount: amount(r.total), recipients: r.recipients })),
    policies: [...new Set(ledger.statement.map((e) => e.policy))],
    reconciles: ledger.statement.every((e) => e.reconciles),
  };
}

/** The check on quality-evaluation tables, listed only when a report quotes one. */
export const QUALITY_CHECK = "quality-evaluation tables match the run log";
export const ATTRIBUTION_CHECK = "attribution recomputes from the checkpoints";
export const ARCHIVE_CHECK = "every receipt a reward line cites is archived";
export const PENALTY_CHECK = "no penalised contributor is paid from the inferences its penalty covers";
export const CLOSURE_CHECK = "closed epochs keep the reward lines they were closed with";

/** The integrity checks a report states about itself; `report verify` re-derives them from the workspace. */
export function integrityChecks(f: Omit<ReportFacts, "checks">): Check[] {
  const l = f.lineage;
  const files = [...l.model.files, ...(l.base?.files ?? []), ...l.checkpoints];
  const badFiles = files.filter((x) => !x.matches_manifest).map((x) => x.file);
  const quality = f.trust ? [f.trust.loco, f.trust.lds, f.trust.mislabel, ...(f.trust.counterfactuals ?? [])].flatMap((x) => (x ? [x.run] : [])) : [];
  const badTables = quality.filter((r) => r.data_version !== r.recomputed_data_version).map((r) => `${r.pipeline}/${r.cell}`);
  const badLines = f.statement.flatMap((e) => e.lines.filter((x) => x.amount.units !== x.lines_total.units).map((x) => `${e.epoch} ${x.role} ${x.recipient}`));
  return [
    {
      name: "fees reconcile to the base unit",
      ok: f.statement.every((e) => e.fees.units === e.paid.units),
      detail: f.statement.map((e) => `${e.epoch}: fees ${e.fees.tokens}, statement ${e.paid.tokens}`).join("; "),
    },
    {
      name: "statement equals the sum of reward lines",
      ok: badLines.length === 0,
      detail: badLines.length ? `differs for ${badLines.slice(0, 5).join(", ")}${badLines.length > 5 ? ` and ${badLines.length - 5} more` : ""}` : `${l.reward_lines.count} reward lines sum to every recipient's total`,
    },
    {
      name: "receipts recompute",
      ok: l.receipts.mismatched === 0 && l.receipts.missing === 0,
      detail: `${l.receipts.recomputed} of ${l.receipts.count} receipt hashes recompute and name the model; ${l.receipts.mismatched} mismatched; ${l.receipts.missing} settled inferences cite no stored receipt`,
    },
    ...(l.receipts.archive ? [{
      name: ARCHIVE_CHECK,
      ok: l.receipts.archive.archived === l.receipts.archive.cited && l.receipts.archive.recomputed === l.receipts.archive.archived,
      detail: `${l.receipts.archive.recomputed} of the ${l.receipts.archive.cited} receipts the reward lines cite are in the workspace's archive and recompute from their JSON` +
        (l.receipts.archive.archived < l.receipts.archive.cited ? `; ${l.receipts.archive.cited - l.receipts.archive.archived} are nowhere` : ""),
    }] : []),
    ...(l.receipts.attribution ? [{
      name: ATTRIBUTION_CHECK,
      ok: l.receipts.attribution.ok,
      detail: `${l.receipts.attribution.sampled} of ${l.receipts.attribution.of} receipts drawn with seed ${l.receipts.attribution.seed}: ${l.receipts.attribution.detail}`,
    }] : []),
    ...(f.influence.penalties_paid ? [penaltyCheck(f.influence.penalties_paid)] : []),
    ...closureCheck(f.statement),
    {
      name: "model files match their manifest",
      ok: badFiles.length === 0,
      detail: badFiles.length ? `differ: ${badFiles.join(", ")}` : `${files.length} files (model, base, checkpoints) hashed again`,
    },
    {
      name: "snapshot root recomputes",
      ok: l.snapshot.root === l.snapshot.recomputed_root,
      detail: `root ${l.snapshot.root.slice(0, 16)}…, recomputed from ${l.contributions.count} contributions: ${l.snapshot.recomputed_root.slice(0, 16)}…`,
    },
    // Only when the report quotes a quality evaluation: the tables hold what the run log says they hold.
    ...(quality.length ? [{
      name: QUALITY_CHECK,
      ok: badTables.length === 0,
      detail: badTables.length ? `hash differs from the recorded data version: ${badTables.join(", ")}` : `${quality.map((r) => `${r.pipeline}/${r.cell}`).join(", ")} hashed again: data versions match`,
    }] : []),
  ];
}

function penaltyCheck(p: NonNullable<ReportFacts["influence"]["penalties_paid"]>): Check {
  const scoped = p.records - p.unscoped;
  const older = p.unscoped ? `; ${p.unscoped} recorded before penalties were per model (several models' inferences as one) not checked` : "";
  return {
    name: PENALTY_CHECK,
    ok: p.paid.length === 0,
    detail: p.paid.length
      ? `paid anyway: ${p.paid.slice(0, 5).map((x) => `${x.contributor} ${x.amount.tokens} from ${x.inferences} inference${x.inferences === 1 ? "" : "s"} of model ${x.model_id.slice(0, 12)} in ${x.epoch}`).join(", ")}` +
        `${p.paid.length > 5 ? ` and ${p.paid.length - 5} more` : ""}${older}`
      : `${scoped} penalty record${scoped === 1 ? "" : "s"} (epoch, model, contributor): none is paid from that model's inferences in its epoch${older}`,
  };
}

/** Only when the report covers a closed epoch: its reward lines hash to the root they were closed with. */
function closureCheck(statement: ReportFacts["statement"]): Check[] {
  const closed = statement.filter((e) => e.closure);
  if (!closed.length) return [];
  const bad = closed.filter((e) => e.closure!.recomputed_root !== e.closure!.lines_root || e.closure!.recomputed_lines !== e.closure!.lines);
  return [{
    name: CLOSURE_CHECK,
    ok: bad.length === 0,
    detail: bad.length
      ? `changed since closed: ${bad.map((e) => `${e.epoch} (closed with ${e.closure!.lines} lines, root ${e.closure!.lines_root.slice(0, 16)}…; now ${e.closure!.recomputed_lines}, ${e.closure!.recomputed_root.slice(0, 16)}…)`).join(", ")}`
      : closed.map((e) => `${e.epoch}: ${e.closure!.lines} lines hash to the root it was closed with at ${e.closure!.closed_at}`).join("; "),
  }];
}
