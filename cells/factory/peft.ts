import fs from "node:fs";
import path from "node:path";
import type { FeaturizerSpec } from "./featurize.ts";
import type { HostWeights, LoraConfig, MlpSpec } from "./mlp.ts";
import { loadWeights } from "./store.ts";
import { readSafetensors, writeSafetensors, type SafeTensor } from "./safetensors.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { makeDir } from "../store/make-dir.ts";

/**
 * Adapters in the layout of Hugging Face PEFT, so other tools can read them:
 *
 * - `adapter_config.json`: `peft_type: "LORA"`, `r`, `lora_alpha`, `target_modules`,
 *   `modules_to_save: ["head"]`, `lora_dropout: 0`, `bias: "none"`, `fan_in_fan_out: false`,
 *   `base_model_name_or_path: "tracebook:<base model id>"`, and a `tracebook` block (model id,
 *   base id, featurizer, layer sizes, classes) to rebuild the model here.
 * - `adapter_model.safetensors`: `base_model.model.<layer>.lora_A.weight` [r][in] and
 *   `….lora_B.weight` [out][r], `base_model.model.head.weight` [out][in] and `….head.bias`
 *   [out], float32. PyTorch's Linear stores [out][in], so every matrix is the transpose of the
 *   [in][out] layout used here; reading transposes back.
 */
export interface PeftExport { dir: string; files: string[] }

const PREFIX = "base_model.model.";

export async function exportAdapter(home: string, modelId: string, dir: string): Promise<PeftExport> {
  const { manifest, weights } = loadWeights(home, modelId);
  if (manifest.kind !== "adapter" || !manifest.lora) throw new Error(`model ${modelId.slice(0, 12)} is a ${manifest.kind} model, not an adapter`);
  const lora = manifest.lora;
  const config = {
    peft_type: "LORA", task_type: "SEQ_CLS", r: lora.rank, lora_alpha: lora.alpha, lora_dropout: 0.0,
    target_modules: lora.targets, modules_to_save: ["head"], bias: "none", fan_in_fan_out: false,
    inference_mode: true, init_lora_weights: true, base_model_name_or_path: `tracebook:${manifest.base}`, revision: null,
    tracebook: { model_id: manifest.id, base_id: manifest.base, featurizer: manifest.featurizer, spec: manifest.spec },
  };
  const tensors: Record<string, SafeTensor> = {};
  for (const t of lora.targets) {
    tensors[`${PREFIX}${t}.lora_A.weight`] = transposed(weights[`${t}.lora_A`]!);
    tensors[`${PREFIX}${t}.lora_B.weight`] = transposed(weights[`${t}.lora_B`]!);
  }
  tensors[`${PREFIX}head.weight`] = transposed(weights["head.kernel"]!);
  tensors[`${PREFIX}head.bias`] = { dtype: "F32", shape: weights["head.bias"]!.shape, data: weights["head.bias"]!.data };
  makeDir(dir);
  await writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors, { format: "pt", tracebook_model_id: manifest.id });
  await writeFileAtomic(path.join(dir, "adapter_config.json"), `${JSON.stringify(config, null, 2)}\n`);
  return { dir, files: ["adapter_config.json", "adapter_model.safetensors"] };
}

export interface LoadedPeftAdapter {
  modelId: string | null;
  baseId: string;
  lora: LoraConfig;
  spec: MlpSpec | null;
  featurizer: FeaturizerSpec | null;
  weights: HostWeights;
}

/** Read an exported adapter back, checking that every tensor it needs is there with its shape. */
export async function importAdapter(dir: string): Promise<LoadedPeftAdapter> {
  const configFile = path.join(dir, "adapter_config.json");
  if (!fs.existsSync(configFile)) throw new Error(`${configFile} does not exist`);
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as {
    peft_type?: string; r?: number; lora_alpha?: number; target_modules?: string[]; base_model_name_or_path?: string;
    tracebook?: { model_id?: string; spec?: MlpSpec; featurizer?: FeaturizerSpec };
  };
  if (config.peft_type !== "LORA") throw new Error(`${configFile}: peft_type is ${JSON.stringify(config.peft_type)}, expected "LORA"`);
  if (!Number.isInteger(config.r) || !(config.lora_alpha! > 0) || !Array.isArray(config.target_modules)) {
    throw new Error(`${configFile}: needs r (integer), lora_alpha (positive) and target_modules (list)`);
  }
  const baseId = config.base_model_name_or_path?.replace(/^tracebook:/, "") ?? "";
  const { tensors } = await readSafetensors(path.join(dir, "adapter_model.safetensors"));
  const need = (name: string) => {
    const t = tensors[`${PREFIX}${name}`];
    if (!t) throw new Error(`${path.join(dir, "adapter_model.safetensors")}: missing tensor ${PREFIX}${name}`);
    if (t.shape.length !== 2 && name !== "head.bias") throw new Error(`${PREFIX}${name} must be a matrix, has shape [${t.shape.join(", ")}]`);
    return t;
  };
  const weights: HostWeights = {};
  for (const target of config.target_modules) {
    weights[`${target}.lora_A`] = transposed(need(`${target}.lora_A.weight`));
    weights[`${target}.lora_B`] = transposed(need(`${target}.lora_B.weight`));
    if (weights[`${target}.lora_A`]!.shape[1] !== config.r) throw new Error(`${target}.lora_A has rank ${weights[`${target}.lora_A`]!.shape[1]}, config says r = ${config.r}`);
  }
  weights["head.kernel"] = transposed(need("head.weight"));
  const bias = need("head.bias");
  weights["head.bias"] = { shape: bias.shape, data: Float32Array.from(bias.data as Float32Array) };
  return {
    modelId: config.tracebook?.model_id ?? null, baseId,
    lora: { rank: config.r!, alpha: config.lora_alpha!, targets: config.target_modules },
    spec: config.tracebook?.spec ?? null, featurizer: config.tracebook?.featurizer ?? null, weights,
  };
}

/** [a][b] → [b][a], row-major. */
function transposed(t: { shape: number[]; data: ArrayLike<number> | BigInt64Array }): SafeTensor & { data: Float32Array } {
  const [a, b] = t.shape as [number, number];
  const src = t.data as ArrayLike<number>;
  const out = new Float32Array(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = src[i * b + j]!;
  return { dtype: "F32", shape: [b, a], data: out };
}
