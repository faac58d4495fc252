import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../store/workspace.ts";
import { cellHistories } from "../graph/runs.ts";
import { modelsRoot, readManifest, type ModelManifest } from "./store.ts";

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
    if (!run?.artifact || !["base-model", "finetune"].includes(run.kind)) continue;
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

/**
 * A model named by id, unique id prefix (≥ 8 hex) or `<pipeline>.<cell>` (the model that
 * cell last produced).
 */
export async function resolveModel(ws: Workspace, ref: string): Promise<ModelManifest> {
  const cellRef = /^([\w-]+)\.([\w-]+)$/.exec(ref);
  if (cellRef) {
    const [, pipeline, cell] = cellRef;
    const last = (await cellHistories(ws, pipeline!)).get(cell!)?.lastSucceeded;
    if (!last?.artifact) throw new Error(`${ref}: cell "${cell}" of pipeline "${pipeline}" has not produced a model yet (run \`tracebook run ${pipeline}\`)`);
    const [id] = await modelIdsIn(ws, last.artifact).catch(() => {
      throw new Error(`${ref} is not a model cell`);
    });
    return readManifest(ws.home, id!);
  }
  if (!/^[0-9a-f]{8,64}$/.test(ref)) throw new Error(`"${ref}" is neither a model id (≥ 8 hex characters) nor <pipeline>.<cell>`);
  const hits = listModels(ws.home).filter((m) => m.id.startsWith(ref));
  if (!hits.length) throw new Error(`no model in the workspace matches "${ref}"`);
  if (hits.length > 1) throw new Error(`"${ref}" matches ${hits.length} models (${hits.map((m) => m.id.slice(0, 16)).join(", ")}): give more characters`);
  return hits[0]!;
}
