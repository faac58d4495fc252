import fs from "node:fs";
import { modelDir, readContributions, readManifest } from "../factory/store.ts";
import { columnsOf } from "../store/columns.ts";
import { quoteLiteral } from "../store/export.ts";
import { stageRows } from "../store/stage.ts";
import type { Workspace } from "../store/workspace.ts";

/** The models other than `modelId` that executed queries of this relation (none when it names no model). */
export async function otherModels(ws: Workspace, queries: string, modelId: string): Promise<string[]> {
  if (!(await columnsOf(ws, queries)).includes("model_id")) return [];
  return (await ws.rows<{ model_id: string }>(`select distinct model_id from ${queries} where model_id <> ${quoteLiteral(modelId)} order by model_id`))
    .map((r) => r.model_id);
}

/**
 * The rows a stored model's lineage names (`contributions.json`), read back from the workspace's
 * contributions by Datanet and content hash, as a relation; `why` when the model cannot be traced
 * here. loadAttribution checks the rows against the model's snapshot root.
 */
export async function lineageTrain(ws: Workspace, id: string): Promise<{ name: string; relation: string } | { why: string }> {
  if (!fs.existsSync(modelDir(ws.home, id))) return { why: "the model is not in this workspace's model store" };
  const manifest = readManifest(ws.home, id);
  if (!manifest.snapshot) return { why: `it has no lineage to trace through (a ${manifest.kind} model trained elsewhere)` };
  // One staged table per model: a cell may trace several, and each relation is read after the next is staged.
  const table = `__tracebook_lineage_${id.slice(0, 16)}`;
  await stageRows(ws, table, [["datanet", "VARCHAR"], ["id", "VARCHAR"]], readContributions(ws.home, manifest).map((r) => [r.datanet, r.id]));
  return { name: `the contributions model ${id.slice(0, 12)} was trained on`, relation: `(select c.* from contributions c join ${table} l on c.datanet = l.datanet and c.id = l.id)` };
}
