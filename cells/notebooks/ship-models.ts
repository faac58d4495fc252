import fs from "node:fs";
import path from "node:path";
import { cellHistory, paidUse, standingOf } from "../factory/catalog.ts";
import { modelDiff } from "./models.ts";
import type { NotebookData } from "./data.ts";
import type { ModelsAnswer } from "./wire.ts";
import { makeDir } from "../store/make-dir.ts";

/** Pairs compared per model cell: each runs two models over the held-out rows (about a second on mail). */
export const MAX_SHIPPED_PAIRS = 10;

/** What a static build ships of a pipeline's models: per model cell, its history and each model compared with the one before it. */
export interface ShippedModels {
  pipeline: string;
  cells: Record<string, { history: ModelsAnswer["history"]; diffs: NonNullable<ModelsAnswer["diff"]>[] }>;
}

/**
 * Write the Model history page's answers for a static site: per model cell of the pipeline, every
 * model it trained still in the workspace, and each of the latest MAX_SHIPPED_PAIRS compared with
 * the one it trained before (the page's default pair among them), as `tracebook model diff` does.
 * The workspace is opened once for all of it. Returns how many pairs were compared, by cell.
 */
export async function shipModels(data: NotebookData, pipeline: string, cells: readonly string[], dir: string): Promise<{ file: string; pairs: Record<string, number> }> {
  const shipped: ShippedModels = { pipeline, cells: {} };
  await data.withWorkspace(async (ws) => {
    const paid = await paidUse(ws);
    for (const cell of cells) {
      const history = await cellHistory(ws, pipeline, cell); // newest first
      if (!history.length) continue; // a model cell that trained nothing here
      const diffs: ShippedModels["cells"][string]["diffs"] = [];
      for (let i = 0; i + 1 < history.length && diffs.length < MAX_SHIPPED_PAIRS; i++) {
        diffs.push(await modelDiff(ws, history[i + 1]!.manifest, history[i]!.manifest));
      }
      shipped.cells[cell] = { history: history.map((e) => standingOf(e, paid)), diffs };
    }
  }, { attempts: 8 });
  const file = `${pipeline}.json`;
  makeDir(dir);
  fs.writeFileSync(path.join(dir, file), JSON.stringify(shipped));
  return { file, pairs: Object.fromEntries(Object.entries(shipped.cells).map(([c, v]) => [c, v.diffs.length])) };
}
