import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../../cells/store/workspace.ts";
import { merkleRoot, sha256 } from "../../cells/graph/fingerprint.ts";
import { modelDir, readContributions, readManifest, type ModelManifest } from "../../cells/factory/store.ts";
import { lossGradientOf, RECEIPT_FORMAT, receiptHash, receiptHashOf } from "../../cells/attribution/receipts.ts";
import { stageRows } from "../../cells/store/stage.ts";
import type { AttributionRecomputed, FileHash, ModelFacts, ReportFacts } from "../facts.ts";
import type { CellOutput, ReportCells } from "./cells.ts";
import { SETTLED_IDS, ledgerRoots, ledgerSources, type Ledger } from "./ledger.ts";
import { NOT_ATTRIBUTED } from "../../cells/rewards/archive.ts";

/** The model folder's files, hashed again from disk: the manifest's word is not taken for it. */
function hashFile(home: string, m: ModelManifest, file: string): FileHash {
  const p = path.join(modelDir(home, m.id), file);
  const actual = fs.existsSync(p) ? sha256(fs.readFileSync(p)) : "missing";
  return { file, sha256: actual, matches_manifest: actual === m.files[file] };
}

function modelFacts(home: string, m: ModelManifest, cell: string): ModelFacts {
  const manifestFile = path.join(modelDir(home, m.id), "manifest.json");
  return {
    cell, id: m.id, kind: m.kind, manifest_sha256: sha256(fs.readFileSync(manifestFile)),
    held_out_accuracy: m.summary.heldOutAccuracy,
    files: Object.keys(m.files).filter((f) => !f.startsWith("checkpoints/")).sort().map((f) => hashFile(home, m, f)),
  };
}

export interface Lineage {
  facts: ReportFacts["lineage"];
  manifest: ModelManifest;
  base: ModelManifest | null;
  /** Contributions that trained the model, now in another status (or gone): a curation flag. */
  changed: { datanet: string; id: string; contributor: string; status: string }[];
}

/**
 * The chain from the paid inferences back to the contributions: ledger → receipts → model
 * (adapter) → base → checkpoints → snapshot root → contributions, every hash recomputed.
 */
export async function collectLineage(ws: Workspace, pipeline: string, cells: ReportCells, modelId: string, ledger: Ledger): Promise<Lineage> {
  const manifest = readManifest(ws.home, modelId);
  const baseCell = manifest.base ? await cellOfModel(ws, cells.models, manifest.base) : null;
  const base = manifest.base ? readManifest(ws.home, manifest.base) : null;
  const roots = ledgerRoots(ledger);

  // Each receipt's hash recomputed from its text, in DuckDB where the text is stored canonical
  // (HASHES_AS_STORED); only a text that is not comes to JS, for receiptHashOf. Reading 84 MB of
  // receipts into JS to hash them took 2.4 s of a report at 21,201 inferences.
  const receipts = await ws.rows<{ query: string; receipt_hash: string; model_id: string | null; loss_gradient: string | null; receipt: string | null }>(
    `select query, receipt_hash,
            case when canonical then json_extract_string(receipt, '$.model.id') end as model_id,
            case when canonical then json_extract_string(receipt, '$.attribution.loss_gradient') end as loss_gradient,
            case when canonical then null else receipt end as receipt
     from (select query, receipt_hash, receipt, ${HASHES_AS_STORED} as canonical from read_parquet(?) where query in (select id from ${SETTLED_IDS}))
     order by query`, [RECEIPT_FORMAT, cells.receipts.artifact]);
  // A receipt names the model that executed its inference: this model, or an earlier one whose
  // inference no run settled before a retrain (traced through that model's own lineage).
  const executedBy = new Map(ledger.settled.map((s) => [s.id, s.model_id]));
  let mismatched = 0;
  const lossGradients = { summed: 0, subtracted: 0 };
  for (const r of receipts) {
    const body = r.receipt === null
      ? { model: { id: r.model_id ?? undefined }, attribution: { loss_gradient: r.loss_gradient ?? undefined } }
      : JSON.parse(r.receipt) as { model?: { id?: string }; attribution?: { loss_gradient?: string } };
    const hashes = r.receipt === null || receiptHashOf(body) === r.receipt_hash;
    if (!hashes || body.model?.id !== executedBy.get(r.query)) mismatched++;
    lossGradients[lossGradientOf(body)]++;
  }
  // A line cites a stored receipt: the receipts cell's, or one the archive kept when the line was
  // written. A closed epoch keeps its lines while a later trace (another engine, a new tracin
  // version, --force) may give its inferences receipts that differ in their last bits; the lines
  // cite the archived ones (the archive check recomputes those).
  const archived = await ws.rows<{ inference_id: string; receipt_hash: string }>("select inference_id, receipt_hash from attribution_receipts where pipeline = ?", [pipeline]);
  const known = new Set([...receipts.map((r) => `${r.query}\u0000${r.receipt_hash}`), ...archived.map((r) => `${r.inference_id}\u0000${r.receipt_hash}`)]);
  // The inferences the receipts cell holds must cite a stored receipt; an earlier model's settled
  // before a retrain (their lines kept) cite the receipts of that model's own run.
  const ours = new Set([...ledger.settled.filter((s) => s.model_id === modelId).map((s) => s.id), ...receipts.map((r) => r.query)]);
  const missing = new Set(ledger.lines.filter((l) => ours.has(l.inference_id) && !known.has(`${l.inference_id}\u0000${l.receipt_hash}`)).map((l) => l.inference_id)).size;

  const refs = readContributions(ws.home, manifest);
  const contributionsFile = manifest.snapshot ? path.join(modelDir(ws.home, manifest.id), manifest.snapshot.file) : null;
  await stageRows(ws, "__report_trained", [["datanet", "VARCHAR"], ["id", "VARCHAR"], ["contributor", "VARCHAR"]], refs.map((r) => [r.datanet, r.id, r.contributor]));
  const byDatanet = await ws.rows<{ datanet: string; n: bigint; changed: bigint }>(
    `select t.datanet, count(*) as n, count(*) filter (where c.status is distinct from 'approved') as changed
     from __report_trained t left join contributions c on c.datanet = t.datanet and c.id = t.id group by t.datanet order by t.datanet`);
  const changed = await ws.rows<{ datanet: string; id: string; contributor: string; status: string }>(
    `select t.datanet, t.id, t.contributor, coalesce(c.status, 'deleted') as status
     from __report_trained t left join contributions c on c.datanet = t.datanet and c.id = t.id
     where c.status is distinct from 'approved' order by t.datanet, t.id limit 20`);

  return {
    manifest, base, changed,
    facts: {
      ledger: { inferences: ledger.settled.length, root: roots.ledger, unsettled: ledger.unsettled, sources: ledgerSources(ledger.settled) },
      receipts: {
        cell: cells.receipts.cell, count: receipts.length, root: merkleRoot(receipts.map((r) => r.receipt_hash)), recomputed: receipts.length - mismatched, mismatched, missing, loss_gradients: lossGradients,
        archive: await archivedReceipts(ws, ledger),
        attribution: await recomputedAttribution(ws, pipeline, cells.receipts.cell),
      },
      model: modelFacts(ws.home, manifest, cells.model.cell),
      adapter: manifest.lora ? { rank: manifest.lora.rank, alpha: manifest.lora.alpha, targets: [...manifest.lora.targets] } : null,
      base: base ? modelFacts(ws.home, base, baseCell ?? "(not a cell of this pipeline)") : null,
      checkpoints: manifest.checkpoints.map((c) => ({ index: c.index, step: c.step, learning_rate: c.learningRate, ...hashFile(ws.home, manifest, c.file) })),
      snapshot: {
        root: manifest.snapshot?.root ?? "none",
        // What entered training, hashed again from the model's own list of contributions.
        recomputed_root: manifest.snapshot ? merkleRoot(refs.map((r) => sha256(`${r.datanet}\u0000${r.id}`))) : "none",
        datanets: manifest.snapshot?.datanets ?? [],
        contributions: manifest.snapshot?.contributions ?? 0,
      },
      contributions: {
        file_sha256: contributionsFile && fs.existsSync(contributionsFile) ? sha256(fs.readFileSync(contributionsFile)) : "missing",
        count: refs.length,
        by_datanet: byDatanet.map((r) => ({ datanet: r.datanet, count: Number(r.n), not_approved_now: Number(r.changed) })),
      },
      reward_lines: { cell: cells.rewards.cell, count: ledger.lines.length, root: roots.lines },
    },
  };
}

async function cellOfModel(ws: Workspace, models: CellOutput[], id: string): Promise<string | null> {
  for (const c of models) {
    const [row] = await ws.rows<{ model_id: string }>("select distinct model_id from read_parquet(?)", [c.artifact]);
    if (row?.model_id === id) return c.cell;
  }
  return null;
}

/** How many receipts a report has recomputed with TracIn, and with which seed (a reviewer's `report verify --recompute n --seed s` draws others). */
export const RECOMPUTED_SAMPLE = { sample: 20, seed: 0 };

/**
 * The hashes say the receipts are the stored ones; this says they follow from the lineage: a
 * seeded sample recomputed with TracIn from the model's checkpoints and the training rows
 * (TF.js and the native engine load only for this).
 */
export async function recomputedAttribution(ws: Workspace, pipeline: string, receiptsCell: string, o = RECOMPUTED_SAMPLE): Promise<AttributionRecomputed> {
  try {
    const { recomputeReceipts } = await import("../../cells/attribution/recompute.ts");
    const r = await recomputeReceipts(ws, pipeline, receiptsCell, o);
    const shown = r.mismatched.slice(0, 3).map((m) => `${m.query.slice(0, 12)}: ${m.why}`).join("; ");
    return {
      ok: !r.mismatched.length, sampled: r.sampled, of: r.of, seed: r.seed, mismatched: r.mismatched.length,
      detail: r.mismatched.length
        ? `${r.mismatched.length} of ${r.sampled} differ: ${shown}${r.mismatched.length > 3 ? "; …" : ""}`
        : `all ${r.sampled} match: prediction, top contributions in order with their scores, contributor and Datanet shares (TracIn run again as ${r.influence} ran it)`,
    };
  } catch (err) {
    return { ok: false, sampled: 0, of: 0, seed: o.seed, mismatched: 0, detail: `could not be recomputed: ${(err as Error).message.split("\n")[0]}` };
  }
}

/**
 * The receipts the reward lines in the report's epochs cite (every model's inferences, earlier
 * ones too), as the workspace's archive holds them: how many are there, and how many of those
 * recompute from their JSON (in DuckDB where stored canonical, as the receipts cell's are).
 */
async function archivedReceipts(ws: Workspace, ledger: Ledger): Promise<{ cited: number; archived: number; recomputed: number }> {
  const cited = [...new Set(ledger.lines.map((l) => l.receipt_hash).filter((h) => h !== NOT_ATTRIBUTED))];
  await stageRows(ws, "__report_cited_receipts", [["receipt_hash", "VARCHAR"]], cited.map((h) => [h]));
  const rows = await ws.rows<{ receipt_hash: string; receipt: string | null }>(
    `select receipt_hash, case when ${HASHES_AS_STORED} then null else receipt end as receipt
     from attribution_receipts where receipt_hash in (select receipt_hash from __report_cited_receipts)`, [RECEIPT_FORMAT]);
  return { cited: cited.length, archived: rows.length, recomputed: rows.filter((r) => r.receipt === null || receiptHash(r.receipt) === r.receipt_hash).length };
}

/**
 * SQL over a row's `receipt` and `receipt_hash` (RECEIPT_FORMAT bound to its `?`): the text hashes
 * to its hash as it is stored. Receipts are written as canonical JSON, and a text that hashes as
 * stored is that canonical text (parsing and canonicalJson give it back), so this and
 * receiptHashOf give the same verdict; a text that does not (stored otherwise, or doctored) is
 * hashed in JS through canonicalJson, as before.
 */
const HASHES_AS_STORED = "sha256(? || chr(10) || receipt) = receipt_hash";
