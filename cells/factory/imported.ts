import fs from "node:fs";
import { sha256 } from "../graph/fingerprint.ts";
import { rawFeatures } from "./featurize.ts";
import { readExternalMlp, type ExternalCheckpoint } from "./external.ts";
import type { HostWeights, MlpSpec } from "./mlp.ts";
import { FACTORY_VERSION, saveModel, type ModelManifest } from "./store.ts";

/**
 * Bring a plain MLP trained in another tool into the model store, with its checkpoints and
 * their learning rates, so its behaviour can be attributed like a model trained here. Its id
 * is the hash of the file's bytes: the same file imports as the same model.
 */
export async function importExternal(home: string, file: string): Promise<ModelManifest> {
  const mlp = await readExternalMlp(file);
  const bytes = fs.readFileSync(file);
  const layers = mlp.checkpoints[0]!.layers;
  const spec: MlpSpec = { inputSize: mlp.inputSize, hidden: layers.slice(0, -1).map((l) => l.outputs), classes: mlp.classes };
  const last = mlp.checkpoints[mlp.checkpoints.length - 1]!;
  return saveModel({
    home,
    manifest: {
      id: sha256(`tracebook.external-model/1\n${sha256(bytes)}`), kind: "external", spec, featurizer: rawFeatures(mlp.inputSize), lora: null, base: null,
      training: null, snapshot: null, backend: { name: "external", provider: file }, codeVersion: FACTORY_VERSION, seed: null,
      checkpoints: mlp.checkpoints.map((c, i) => ({ index: i + 1, step: c.step ?? i + 1, epoch: 0, learningRate: c.learningRate })),
      summary: { heldOutAccuracy: null, heldOutLoss: null, trainSeconds: null, examplesPerSecond: null },
      producedBy: null,
    },
    weights: toWeights(last),
    checkpointWeights: mlp.checkpoints.map(toWeights),
    contributions: null,
  });
}

/** External layers in order are dense_1 … dense_n, then head: the same names as models trained here. */
function toWeights(c: ExternalCheckpoint): HostWeights {
  const out: HostWeights = {};
  c.layers.forEach((l, i) => {
    const name = i === c.layers.length - 1 ? "head" : `dense_${i + 1}`;
    out[`${name}.kernel`] = { shape: [l.inputs, l.outputs], data: l.kernel };
    out[`${name}.bias`] = { shape: [l.outputs], data: l.bias };
  });
  return out;
}
