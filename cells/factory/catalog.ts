import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "../graph/nearest.ts";
import { cellHistories } from "../graph/runs.ts";
import { quoteLiteral } from "../store/export.ts";
import { formatAmount } from "../rewards/amounts.ts";
import { modelsRoot, readManifest, type ModelManifest } from "./store.ts";
import type { ModelStanding } from "./standing.ts";
import type { Pipeline } from "../graph/pipeline.ts";

/** The cell kinds whose output names a model they trained. */
const MODEL_KINDS: readonly string[] = ["base-model", "finetune"];
const MODEL_KIND_SQL = `kind in (${MODEL_KINDS.map(quoteLiteral).join(", ")})`;

/** The model ids a model cell's output artifact names (one per model cell). */
export async function modelIdsIn(ws: Workspace, artifact: string): Promise<string[]> {
  return (await ws.rows<{ model_id: string }>("select distinct model_id from read_parquet(?) order by model_id", [artifact])).map((r) => r.model_id);
}

/**
 * The model each model cell of a pipeline (base, fine-tune) currently outputs, by cell name: the
 * last succeeded run of each, from the run log alone (nothing is brought up to date).
 */
export async function currentModels(ws: Workspace, pipeline: string): Promise<{ id: string; cell: string }[]> {
  const out: { id: string; cell: string }[] = [];
  for (const [cell, h] of await cellHistories(ws, pipeline)) {
    const run = h.lastSucceeded;
    if (!run?.artifact || !MODEL_KINDS.includes(run.kind)) continue;
    const [id] = await modelIdsIn(ws, run.artifact);
    if (id) out.push({ id, cell });
  }
  return out.sort((a, b) => a.cell.localeCompare(b.cell));
}

/** Every model in the workspace, newest folder first. */
export function listModels(home: string): ModelManifest[] {
  const root = modelsRoot(home);
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root)
    .filter((d) => /^[0-9a-f]{64}$/.test(d) && fs.existsSync(path.join(root, d, "manifest.json")))
    .map((d) => ({ d, t: fs.statSync(path.join(root, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t || a.d.localeCompare(b.d))
    .map(({ d }) => readManifest(home, d));
}

/** One model a cell produced, and the last time it did. */
export interface CellModel {
  id: string;
  /** When the cell last output it (from the run log), else when its manifest was written. */
  trainedAt: Date;
  /** Whether it is the cell's current output. */
  current: boolean;
}

/**
 * The models a model cell has produced that are still in the workspace, newest first: from the
 * run log where the run's output is still on disk (a cached run that returned to an earlier
 * model counts as its latest time; the newest run's is the current output), then the manifests
 * that name the cell (a superseded output `tracebook gc` removed, of a model kept because it was
 * paid for). `manifests` is the store as listModels reads it, for a caller that has it already.
 */
export async function cellModels(ws: Workspace, pipeline: string, cell: string, manifests: readonly ModelManifest[] = listModels(ws.home)): Promise<CellModel[]> {
  const runs = await ws.rows<{ artifact: string; finished_at: Date }>(
    `select artifact, finished_at from runs where pipeline = ? and cell = ? and status = 'succeeded' and artifact is not null and ${MODEL_KIND_SQL} order by finished_at desc`,
    [pipeline, cell],
  );
  const seen = new Map<string, Date>();
  let current: string | undefined;
  for (const [i, r] of runs.entries()) {
    if (!fs.existsSync(r.artifact)) continue;
    const ids = await modelIdsIn(ws, r.artifact);
    if (i === 0) current = ids[0];
    for (const id of ids) if (!seen.has(id)) seen.set(id, new Date(r.finished_at));
  }
  const stored = new Set(manifests.map((m) => m.id));
  const out: CellModel[] = [...seen].filter(([id]) => stored.has(id)).map(([id, trainedAt]) => ({ id, trainedAt, current: id === current }));
  for (const m of manifests) {
    if (seen.has(m.id) || m.producedBy?.pipeline !== pipeline || m.producedBy.cell !== cell) continue;
    out.push({ id: m.id, trainedAt: manifestTime(ws.home, m.id), current: false });
  }
  // The current output first whatever the clock says; then newest first.
  return out.sort((a, b) => Number(b.current) - Number(a.current) || b.trainedAt.getTime() - a.trainedAt.getTime() || a.id.localeCompare(b.id));
}

/** When a model's manifest was written: its training time where the run log no longer says. */
function manifestTime(home: string, id: string): Date {
  return fs.statSync(path.join(modelsRoot(home), id, "manifest.json")).mtime;
}

/**
 * `<pipeline>.<cell>`, or `<pipeline>.<cell>~N` (`back`: N models before the current one; 0 is
 * the current one); null for anything else (a model id, a prefix).
 */
export function parseCellRef(ref: string): { pipeline: string; cell: string; back: number } | null {
  const m = /^([\w-]+)\.([\w-]+)(?:~(\d+))?$/.exec(ref);
  return m ? { pipeline: m[1]!, cell: m[2]!, back: Number(m[3] ?? 0) } : null;
}

/** A model id or a unique prefix of one: at least 8 hex characters. */
const MODEL_ID_PREFIX = /^[0-9a-f]{8,64}$/;

/**
 * A model named by id, unique id prefix (≥ 8 hex), `<pipeline>.<cell>` (the model that cell
 * currently outputs) or `<pipeline>.<cell>~N` (the N-th model that cell produced before it).
 * With `pipeline` (`tracebook infer mail --model model`), a cell of it by its name alone too.
 */
export async function resolveModel(ws: Workspace, ref: string, options: { pipeline?: Pipeline } = {}): Promise<ModelManifest> {
  const p = options.pipeline;
  if (p?.cells.has(ref)) return resolveModel(ws, `${p.name}.${ref}`);
  if (p && !MODEL_ID_PREFIX.test(ref) && !parseCellRef(ref)) {
    const models = [...p.cells].filter(([, c]) => MODEL_KINDS.includes(c.kind)).map(([n]) => n);
    throw new InputError(`--model ${ref}: pipeline ${p.name} has no cell of that name (${didYouMean(ref, models)}its model cells: ${models.join(", ") || "none"}), and it is not a model id (≥ 8 hex characters)`);
  }
  const cellRef = parseCellRef(ref);
  if (cellRef) {
    const { pipeline, cell, back } = cellRef;
    const history = (await cellHistories(ws, pipeline)).get(cell);
    if (!history) {
      // Nothing of that name ever ran here: a mistyped name, more likely than a model still to train.
      const known = await ws.rows<{ ref: string }>(
        `select distinct pipeline || '.' || cell as ref from runs where ${MODEL_KIND_SQL} and status = 'succeeded' order by 1`);
      const refs = known.map((k) => k.ref);
      throw new InputError(`${ref}: no cell "${cell}" of pipeline "${pipeline}" has run in this workspace (${didYouMean(`${pipeline}.${cell}`, refs)}model cells that have: ${refs.join(", ") || "none"}; a cell new to its pipeline trains on \`tracebook run ${pipeline}\`)`);
    }
    const last = history.lastSucceeded;
    if (!last?.artifact) throw new Error(`${ref}: cell "${cell}" of pipeline "${pipeline}" has not produced a model yet (run \`tracebook run ${pipeline}\`)`);
    if (!MODEL_KINDS.includes(last.kind)) throw new InputError(`${ref} is not a model cell (a ${last.kind} cell)`);
    const [id] = await modelIdsIn(ws, last.artifact);
    if (!back) return readManifest(ws.home, id!);
    const models = await cellModels(ws, pipeline, cell);
    const earlier = models.filter((m) => m.id !== id);
    if (back > earlier.length) {
      throw new InputError(`${ref}: ${pipeline}.${cell} produced ${earlier.length ? `only ${earlier.length} model${earlier.length > 1 ? "s" : ""}` : "no model"} before its current one that ${earlier.length > 1 ? "are" : "is"} still in the workspace (\`tracebook gc\` removes unpaid ones)`);
    }
    return readManifest(ws.home, earlier[back - 1]!.id);
  }
  if (!MODEL_ID_PREFIX.test(ref)) throw new InputError(`"${ref}" is neither a model id (≥ 8 hex characters) nor <pipeline>.<cell>`);
  const hits = listModels(ws.home).filter((m) => m.id.startsWith(ref));
  if (!hits.length) throw new InputError(`no model in the workspace matches "${ref}"`);
  if (hits.length > 1) throw new InputError(`"${ref}" matches ${hits.length} models (${hits.map((m) => m.id.slice(0, 16)).join(", ")}): give more characters`);
  return hits[0]!;
}

/**
 * The rows a model cell was evaluated on (its `heldOut` input, as the run that trained it was
 * given), as that cell currently outputs them; else the pipeline's `queries` cell (the held-out
 * split, by the shipped pipelines' convention); null when it has neither, or is imported.
 */
export async function heldOutOf(ws: Workspace, m: ModelManifest): Promise<{ relation: string; name: string } | null> {
  if (!m.producedBy) return null;
  const { pipeline, cell } = m.producedBy;
  const history = await cellHistories(ws, pipeline); // read once: the model's run and the rows' both
  const run = history.get(cell)?.lastSucceeded;
  const heldOut = (run ? (JSON.parse(run.params_json) as { heldOut?: string }).heldOut : undefined) ?? (history.get("queries")?.lastSucceeded ? "queries" : null);
  return heldOut ? outputView(ws, history, pipeline, heldOut) : null;
}

/** A cell's current output named as `<pipeline>.<cell>`, as a relation to read. */
export async function cellOutput(ws: Workspace, ref: string): Promise<{ relation: string; name: string }> {
  const m = parseCellRef(ref);
  if (!m || m.back) throw new Error(`"${ref}" does not name a cell's output: write <pipeline>.<cell>, e.g. mail.queries`);
  return outputView(ws, await cellHistories(ws, m.pipeline), m.pipeline, m.cell);
}

async function outputView(ws: Workspace, history: Awaited<ReturnType<typeof cellHistories>>, pipeline: string, cell: string): Promise<{ relation: string; name: string }> {
  const last = history.get(cell)?.lastSucceeded;
  if (!last?.artifact || !fs.existsSync(last.artifact)) throw new Error(`${pipeline}.${cell}: cell "${cell}" of pipeline "${pipeline}" has no output (run \`tracebook run ${pipeline}\`)`);
  // A view, as the scheduler gives a cell its inputs: readable by `describe` and by name.
  const view = `"__tracebook_out_${pipeline.replace(/\W/g, "_")}__${cell.replace(/\W/g, "_")}"`;
  await ws.run(`create or replace temp view ${view} as select * from read_parquet(${quoteLiteral(last.artifact)})`);
  return { relation: view, name: `${pipeline}.${cell}` };
}

/** Executed inferences and fees per model, from the ledger: what each model was paid for. */
export async function paidUse(ws: Workspace): Promise<PaidUse> {
  const rows = await ws.rows<{ model_id: string; n: bigint; fees: bigint }>("select model_id, count(*) as n, sum(fee) as fees from inferences group by model_id");
  return new Map(rows.map((r) => [r.model_id, { inferences: Number(r.n), fees: BigInt(r.fees) }]));
}

export type PaidUse = ReadonlyMap<string, { inferences: number; fees: bigint }>;

/** A model in the workspace with its place in its cell's history. */
export interface ModelEntry {
  manifest: ModelManifest;
  /** `<pipeline>.<cell>` that trained it; null for an imported model. */
  from: string | null;
  state: ModelStanding["state"];
  trainedAt: Date;
}

/** A model cell's models as entries (cellModels with their manifests), newest first. */
export async function cellHistory(ws: Workspace, pipeline: string, cell: string, manifests: readonly ModelManifest[] = listModels(ws.home)): Promise<ModelEntry[]> {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  return (await cellModels(ws, pipeline, cell, manifests)).map((c) => ({ manifest: byId.get(c.id)!, from: `${pipeline}.${cell}`, state: c.current ? "current" : "earlier", trainedAt: c.trainedAt }));
}

/** Every model, grouped by the cell that trained it (current first, then newest), imported ones last. */
export async function modelHistory(ws: Workspace): Promise<ModelEntry[]> {
  const manifests = listModels(ws.home);
  const out: ModelEntry[] = [];
  const listed = new Set<string>();
  const cells = [...new Set(manifests.flatMap((m) => (m.producedBy ? [`${m.producedBy.pipeline}.${m.producedBy.cell}`] : [])))].sort();
  for (const from of cells) {
    const [pipeline, cell] = from.split(".") as [string, string];
    // Two pipelines that share cells (mail-quality reuses mail's) output the same model: listed once.
    for (const e of await cellHistory(ws, pipeline, cell, manifests)) {
      if (listed.has(e.manifest.id)) continue;
      listed.add(e.manifest.id);
      out.push(e);
    }
  }
  for (const m of manifests) {
    if (!m.producedBy) out.push({ manifest: m, from: null, state: "imported", trainedAt: manifestTime(ws.home, m.id) });
  }
  return out;
}

/** A model's standing (standing.ts): its history entry and the ledger's paid use of it. */
export function standingOf(e: ModelEntry, paid: PaidUse): ModelStanding {
  const use = paid.get(e.manifest.id);
  return {
    id: e.manifest.id, from: e.from, state: e.state, trainedAt: e.trainedAt.toISOString(), contributions: e.manifest.snapshot?.contributions ?? 0,
    heldOutAccuracy: e.manifest.summary.heldOutAccuracy, inferences: use?.inferences ?? 0, fees: formatAmount(use?.fees ?? 0n),
  };
}
