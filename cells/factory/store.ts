import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import type { FeaturizerSpec } from "./featurize.ts";
import type { HostWeights, LoraConfig, MlpSpec } from "./mlp.ts";
import type { TrainConfig } from "./train.ts";
import type { AdapterRecord } from "../compute/webgpu.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { makeDir } from "../store/make-dir.ts";

/**
 * Bump when training code changes what a model id stands for.
 * 2: on wasm, a dense layer's gradient products are computed untransposed (compute/matmul-gradient.ts):
 *    the same sums in another order, so weights equal to float32 rounding, not bit for bit.
 */
export const FACTORY_VERSION = "2";
export const MODEL_FORMAT = "tracebook.model/1";

export interface ContributionRef {
  datanet: string;
  /** The contribution id, which is its content hash. */
  id: string;
  contributor: string;
}

export interface CheckpointRecord {
  index: number;
  step: number;
  epoch: number;
  learningRate: number;
  file: string;
  sha256: string;
}

/** A model's lineage: everything its id is a hash of, and the receipts of what entered it. */
export interface ModelManifest {
  format: typeof MODEL_FORMAT;
  id: string;
  kind: "base" | "adapter" | "external";
  spec: MlpSpec;
  featurizer: FeaturizerSpec | null;
  lora: LoraConfig | null;
  base: string | null;
  training: TrainConfig | null;
  snapshot: { root: string; datanets: string[]; contributions: number; file: string } | null;
  /** adapter: the GPU a webgpu backend trained on (name, limits, features). */
  backend: { name: string; provider: string; adapter?: AdapterRecord };
  codeVersion: string;
  seed: number | null;
  checkpoints: CheckpointRecord[];
  /** sha256 of every file of the model folder but the manifest. */
  files: Record<string, string>;
  summary: { heldOutAccuracy: number | null; heldOutLoss: number | null; trainSeconds: number | null; examplesPerSecond: number | null };
  producedBy: { pipeline: string; cell: string } | null;
}

export type IdParts = Pick<ModelManifest, "kind" | "spec" | "featurizer" | "lora" | "base" | "training" | "seed" | "codeVersion"> & {
  snapshotRoot: string | null;
  backend: string;
};

/** model id = sha256 of base id, adapter config, training params, snapshot root, seed, backend and code version. */
export function modelId(parts: IdParts): string {
  return sha256(`${MODEL_FORMAT}\n${canonicalJson(parts)}`);
}

export function modelsRoot(home: string): string {
  return path.join(home, "models");
}

export function modelDir(home: string, id: string): string {
  return path.join(modelsRoot(home), id);
}

/**
 * TF.js weights format: `model.json` with a weightsManifest, and the float32 values of each
 * weight, in manifest order, concatenated in `weights.bin`.
 */
function tfjsFiles(manifest: ModelManifest, weights: HostWeights): { json: string; bin: Uint8Array } {
  const names = Object.keys(weights).sort();
  const total = names.reduce((n, k) => n + weights[k]!.data.length, 0);
  const bin = new Float32Array(total);
  let at = 0;
  for (const k of names) {
    bin.set(weights[k]!.data, at);
    at += weights[k]!.data.length;
  }
  const json = {
    format: "tracebook-mlp",
    generatedBy: `tracebook ${FACTORY_VERSION}`,
    convertedBy: null,
    modelTopology: { kind: manifest.kind, spec: manifest.spec, featurizer: manifest.featurizer, lora: manifest.lora, base: manifest.base },
    weightsManifest: [{ paths: ["weights.bin"], weights: names.map((name) => ({ name, shape: weights[name]!.shape, dtype: "float32" })) }],
  };
  return { json: JSON.stringify(json, null, 1), bin: new Uint8Array(bin.buffer) };
}

export interface SaveRequest {
  home: string;
  manifest: Omit<ModelManifest, "files" | "checkpoints" | "format"> & { checkpoints: Omit<CheckpointRecord, "file" | "sha256">[] };
  weights: HostWeights;
  checkpointWeights: HostWeights[];
  contributions: ContributionRef[] | null;
}

/**
 * Write a model folder under a temp name and rename it into place: a crash leaves no half
 * model. A model id names its content, so a folder that already exists is kept as is.
 */
export async function saveModel(req: SaveRequest): Promise<ModelManifest> {
  const target = modelDir(req.home, req.manifest.id);
  const existing = fs.existsSync(path.join(target, "manifest.json")) ? readManifest(req.home, req.manifest.id) : null;
  if (existing) return existing;
  makeDir(modelsRoot(req.home));
  const tmp = path.join(modelsRoot(req.home), `.${req.manifest.id}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  makeDir(path.join(tmp, "checkpoints"));
  try {
    const files: Record<string, string> = {};
    const put = (name: string, data: string | Uint8Array) => {
      fs.writeFileSync(path.join(tmp, name), data);
      files[name] = sha256(data);
    };
    const provisional: ModelManifest = { ...req.manifest, format: MODEL_FORMAT, files: {}, checkpoints: [] };
    const { json, bin } = tfjsFiles(provisional, req.weights);
    put("model.json", json);
    put("weights.bin", bin);
    if (req.contributions) put("contributions.json", JSON.stringify(req.contributions));
    const checkpoints: CheckpointRecord[] = [];
    for (const [i, c] of req.manifest.checkpoints.entries()) {
      const file = `checkpoints/ckpt-${String(c.index).padStart(3, "0")}.safetensors`;
      await writeSafetensors(path.join(tmp, file), toSafe(req.checkpointWeights[i]!), {
        step: String(c.step), epoch: String(c.epoch), learning_rate: String(c.learningRate),
      });
      files[file] = sha256(fs.readFileSync(path.join(tmp, file)));
      checkpoints.push({ ...c, file, sha256: files[file]! });
    }
    const manifest: ModelManifest = { ...provisional, checkpoints, files };
    fs.writeFileSync(path.join(tmp, "manifest.json"), JSON.stringify(manifest, null, 1));
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      // Another process saved the same model first: same id, same content.
      if (fs.existsSync(path.join(target, "manifest.json"))) return readManifest(req.home, req.manifest.id);
      throw err;
    }
    return manifest;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export function readManifest(home: string, id: string): ModelManifest {
  const file = path.join(modelDir(home, id), "manifest.json");
  if (!fs.existsSync(file)) throw new Error(`model ${id.slice(0, 12)} is not in the workspace (${file} is missing): rerun the cell that trains it`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as ModelManifest;
}

/** Read a model's final weights back from its TF.js files, checking their hashes. */
export function loadWeights(home: string, id: string): { manifest: ModelManifest; weights: HostWeights } {
  const manifest = readManifest(home, id);
  const dir = modelDir(home, id);
  const json = fs.readFileSync(path.join(dir, "model.json"), "utf8");
  const bin = fs.readFileSync(path.join(dir, "weights.bin"));
  for (const [name, data] of [["model.json", json], ["weights.bin", bin]] as const) {
    if (manifest.files[name] && sha256(data) !== manifest.files[name]) throw new Error(`model ${id.slice(0, 12)}: ${name} does not match its hash in manifest.json (modified or corrupt)`);
  }
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const weights: HostWeights = {};
  let at = 0;
  const spec = (JSON.parse(json) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] }).weightsManifest[0]!.weights;
  for (const w of spec) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    weights[w.name] = { shape: w.shape, data: floats.slice(at, at + n) };
    at += n;
  }
  return { manifest, weights };
}

export async function loadCheckpoint(home: string, manifest: ModelManifest, index: number): Promise<HostWeights> {
  const c = manifest.checkpoints.find((k) => k.index === index);
  if (!c) throw new Error(`model ${manifest.id.slice(0, 12)} has no checkpoint ${index}`);
  const { tensors } = await readSafetensors(path.join(modelDir(home, manifest.id), c.file));
  return Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { shape: t.shape, data: t.data as Float32Array }]));
}

export function readContributions(home: string, manifest: ModelManifest): ContributionRef[] {
  if (!manifest.snapshot) return [];
  return JSON.parse(fs.readFileSync(path.join(modelDir(home, manifest.id), manifest.snapshot.file), "utf8")) as ContributionRef[];
}

function toSafe(w: HostWeights) {
  return Object.fromEntries(Object.entries(w).map(([k, v]) => [k, { dtype: "F32" as const, shape: v.shape, data: v.data }]));
}
