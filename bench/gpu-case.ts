// The GPU benchmark's fixed inputs in one safetensors file: the TracIn benchmark case's rows and
// the checkpoints of its two models, trained once (gpu-case-build.ts, on this machine's CPU
// backend). Every backend the GPU benchmark measures then scores the very same checkpoints, so
// their influence scores can be compared value by value, and the packed benchmark needs neither
// DuckDB nor the digits corpus.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { denseMatrix } from "../cells/factory/featurize.ts";
import type { HostWeights } from "../cells/factory/layers.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../cells/factory/safetensors.ts";
import type { TracinCheckpoint } from "../cells/attribution/tracin.ts";
import { D, type Rows } from "./tracin-case.ts";

/** Where the builder writes the case and the benchmark reads it (TRACEBOOK_GPU_CASE moves it). */
export function gpuCaseFile(): string {
  return process.env.TRACEBOOK_GPU_CASE ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "cases", "tracin-gpu.safetensors");
}

export interface GpuCaseModel { hidden: number; trainAccuracy: number; checkpoints: TracinCheckpoint[] }
export interface GpuCase {
  classes: string[];
  tr: Rows;
  te: Rows;
  models: GpuCaseModel[];
  /** How the checkpoints were made: backend, seed, training. */
  trainedOn: string;
}

const rowsTensors = (prefix: string, r: Rows): Record<string, SafeTensor> => {
  const x = new Float32Array(r.x.rows * D);
  for (let i = 0; i < r.x.rows; i++) r.x.fill(i, x, i * D);
  return {
    [`${prefix}.x`]: { dtype: "F32", shape: [r.x.rows, D], data: x },
    [`${prefix}.y`]: { dtype: "I32", shape: [r.y.length], data: r.y },
    [`${prefix}.groups`]: { dtype: "I32", shape: [r.groups.length], data: r.groups },
  };
};

export function encodeGpuCase(c: GpuCase): Uint8Array {
  const tensors: Record<string, SafeTensor> = { ...rowsTensors("train", c.tr), ...rowsTensors("query", c.te) };
  for (const m of c.models) {
    for (const ck of m.checkpoints) {
      for (const [name, w] of Object.entries(ck.weights)) tensors[`h${m.hidden}.ck${ck.index}.${name}`] = { dtype: "F32", shape: w.shape, data: w.data };
    }
  }
  return encodeSafetensors(tensors, {
    classes: JSON.stringify(c.classes), trained_on: c.trainedOn,
    ids: JSON.stringify({ train: c.tr.ids, query: c.te.ids }), groups: JSON.stringify({ train: c.tr.nGroups, query: c.te.nGroups }),
    models: JSON.stringify(c.models.map((m) => ({ hidden: m.hidden, train_accuracy: m.trainAccuracy, checkpoints: m.checkpoints.map((k) => ({ index: k.index, learning_rate: k.learningRate })) }))),
  });
}

export function decodeGpuCase(bytes: Uint8Array, source: string): GpuCase {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const need = (name: string) => {
    const t = tensors[name];
    if (!t) throw new Error(`${source}: no tensor ${name} (rebuild it: tsx bench/gpu-case-build.ts)`);
    return t;
  };
  const ids = JSON.parse(metadata.ids ?? "null") as { train: string[]; query: string[] } | null;
  const groups = JSON.parse(metadata.groups ?? "null") as { train: number; query: number } | null;
  if (!ids || !groups || !metadata.models || !metadata.classes) throw new Error(`${source}: metadata lacks ids, groups, models or classes`);
  const rows = (prefix: "train" | "query"): Rows => {
    const x = need(`${prefix}.x`);
    return {
      ids: ids[prefix], x: denseMatrix(x.data as Float32Array, x.shape[0]!, x.shape[1]!),
      y: need(`${prefix}.y`).data as Int32Array, groups: need(`${prefix}.groups`).data as Int32Array, nGroups: groups[prefix],
    };
  };
  const models = (JSON.parse(metadata.models) as { hidden: number; train_accuracy: number; checkpoints: { index: number; learning_rate: number }[] }[]).map((m) => ({
    hidden: m.hidden, trainAccuracy: m.train_accuracy,
    checkpoints: m.checkpoints.map((k) => {
      const prefix = `h${m.hidden}.ck${k.index}.`;
      const weights: HostWeights = {};
      for (const [name, t] of Object.entries(tensors)) if (name.startsWith(prefix)) weights[name.slice(prefix.length)] = { shape: t.shape, data: t.data as Float32Array };
      return { index: k.index, learningRate: k.learning_rate, weights };
    }),
  }));
  return { classes: JSON.parse(metadata.classes) as string[], tr: rows("train"), te: rows("query"), models, trainedOn: metadata.trained_on ?? "unknown" };
}

export async function readGpuCase(file = gpuCaseFile()): Promise<GpuCase> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message} (build it first: tsx bench/gpu-case-build.ts)`);
  }
  return decodeGpuCase(bytes, file);
}
