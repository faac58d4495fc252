import { loadCheckpoint, loadWeights, type ModelManifest } from "../factory/store.ts";
import type { TracinModel } from "./factors.ts";
import type { TracinCheckpoint } from "./tracin.ts";

/** A stored model as TracIn sees it: what is trainable, over what frozen base, at which checkpoints. */
export async function loadForTracin(home: string, modelId: string): Promise<{ manifest: ModelManifest; model: TracinModel; checkpoints: TracinCheckpoint[]; final: ReturnType<typeof loadWeights>["weights"] }> {
  const { manifest, weights } = loadWeights(home, modelId);
  if (!manifest.checkpoints.length) throw new Error(`model ${modelId.slice(0, 12)} has no checkpoints to trace influence through`);
  const base = manifest.kind === "adapter" ? loadWeights(home, manifest.base!).weights : {};
  const checkpoints: TracinCheckpoint[] = [];
  for (const c of manifest.checkpoints) {
    checkpoints.push({ index: c.index, learningRate: c.learningRate, weights: await loadCheckpoint(home, manifest, c.index) });
  }
  return { manifest, model: { spec: manifest.spec, base, lora: manifest.kind === "adapter" ? manifest.lora : null }, checkpoints, final: weights };
}
