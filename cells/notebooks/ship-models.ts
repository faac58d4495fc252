import fs from "node:fs";
import path from "node:path";
import { ApiError } from "./api.ts";
import { answerModels } from "./models.ts";
import type { NotebookData } from "./data.ts";
import type { ModelsAnswer } from "./wire.ts";

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
 * Returns how many pairs were compared, by cell.
 */
export async function shipModels(data: NotebookData, pipeline: string, cells: readonly string[], dir: string): Promise<{ file: string; pairs: Record<string, number> }> {
  const shipped: ShippedModels = { pipeline, cells: {} };
  for (const cell of cells) {
    let first: ModelsAnswer;
    try {
      first = await answerModels(data, { pipeline, cell });
    } catch (err) {
      if (err instanceof ApiError) continue; // a model cell that trained nothing here
      throw err;
    }
    const diffs = first.diff ? [first.diff] : [];
    const h = first.history;
    for (let i = 1; i + 1 < h.length && diffs.length < MAX_SHIPPED_PAIRS; i++) {
      const { diff } = await answerModels(data, { pipeline, cell, a: h[i + 1]!.id, b: h[i]!.id });
      if (diff) diffs.push(diff);
    }
    shipped.cells[cell] = { history: h, diffs };
  }
  const file = `${pipeline}.json`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, file), JSON.stringify(shipped));
  return { file, pairs: Object.fromEntries(Object.entries(shipped.cells).map(([c, v]) => [c, v.diffs.length])) };
}
