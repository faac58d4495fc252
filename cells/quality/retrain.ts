import fs from "node:fs";
import path from "node:path";
import { tf } from "../compute/backend.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { initAdapter, initBase, toTensors, type HostWeights } from "../factory/mlp.ts";
import { classProbabilities } from "../factory/predict.ts";
import { modelId, type ModelManifest } from "../factory/store.ts";
import { train, type Examples, type TrainResult } from "../factory/train.ts";

/** Bump when a retrain would give other numbers for the same inputs. (2: the full run's batches, left-out rows masked.) */
const RETRAIN_VERSION = "2";

export interface RetrainSetup {
  home: string;
  manifest: ModelManifest;
  /** The frozen base's weights, for an adapter. */
  baseWeights: HostWeights | null;
  train: Examples;
  heldOut: Examples;
}

export interface HeldOutOutcome {
  /** log p(true label) per held-out example: the model output LDS correlates with. */
  logProb: Float64Array;
  /** Mean cross-entropy on the held-out set. */
  loss: number;
  cached: boolean;
}

/**
 * Retrain the model as its manifest says (same init, seed, schedule, optimizer) on the training
 * rows `keep`, and measure it on the held-out set. The left-out rows are masked out of the full
 * run's batches (train()'s `keep`) rather than the rest reshuffled: the difference from the full
 * run is then the left-out rows' effect, not a new batch order's noise. Each retrain is cached under
 * `<workspace>/quality/` by (model id, kept rows): an interrupted evaluation resumes where it was.
 */
export async function retrainOn(s: RetrainSetup, keep: number[], signal?: AbortSignal, seed?: number): Promise<HeldOutOutcome> {
  const key = sha256(`tracebook.retrain/${RETRAIN_VERSION}\n${trainingIdentity(s.manifest, seed)}\n${keep.join(",")}\n${s.heldOut.y.length}`);
  const file = path.join(s.home, "quality", key.slice(0, 2), `${key}.json`);
  if (fs.existsSync(file)) {
    const c = JSON.parse(fs.readFileSync(file, "utf8")) as { logProb: number[]; loss: number };
    return { logProb: Float64Array.from(c.logProb), loss: c.loss, cached: true };
  }
  const { weights, frozen } = await trainAsManifest(s.manifest, s.baseWeights, s.train, { keep, seed, checkpoints: 1, signal });
  try {
    const out = await heldOutLogProb(s, weights, frozen);
    await writeFileAtomic(file, JSON.stringify({ logProb: Array.from(out.logProb), loss: out.loss }));
    return { ...out, cached: false };
  } finally {
    if (frozen) tf.dispose(Object.values(frozen));
  }
}

/**
 * Train again as the manifest says (init, seed, schedule, optimizer), on the rows `keep` of
 * `data` (default all; masked out of the full run's batches, see train()'s `keep`), with another
 * seed or checkpoint count when asked. The caller disposes `frozen` (the base's tensors).
 */
export async function trainAsManifest(
  m: ModelManifest, baseWeights: HostWeights | null, data: Examples,
  o: { keep?: number[]; seed?: number; checkpoints?: number; signal?: AbortSignal; onProgress?: (step: number, total: number, label: string) => void } = {},
): Promise<TrainResult & { frozen: ReturnType<typeof toTensors> | null }> {
  if (!m.training) throw new Error(`model ${m.id.slice(0, 12)} records no training configuration: it cannot be retrained`);
  // Another seed (a replicate: how much of a retrain's outcome is the seed's) changes init and order.
  const config = { ...m.training, ...(o.checkpoints !== undefined ? { checkpoints: o.checkpoints } : {}), ...(o.seed !== undefined ? { seed: o.seed } : {}) };
  let mask: Uint8Array | undefined;
  if (o.keep) {
    mask = new Uint8Array(data.y.length);
    for (const i of o.keep) mask[i] = 1;
  }
  const adapter = m.kind === "adapter";
  const frozen = adapter ? toTensors(baseWeights!) : null;
  try {
    const r = await train({
      spec: m.spec, config, train: data, keep: mask, signal: o.signal, onProgress: o.onProgress,
      trainable: adapter ? initAdapter(m.spec, m.lora!, baseWeights!, config.seed) : initBase(m.spec, config.seed),
      frozen: adapter ? { weights: frozen!, lora: m.lora! } : undefined,
    });
    return { ...r, frozen };
  } catch (err) {
    if (frozen) tf.dispose(Object.values(frozen));
    throw err;
  }
}

/**
 * What determines a retrain's final weights: the model id as if it had kept one checkpoint (and
 * had the seed asked for). Models that differ only in how many checkpoints they kept share retrains.
 */
export function trainingIdentity(m: ModelManifest, seed?: number): string {
  if (!m.training) return m.id;
  const s = seed ?? m.training.seed;
  return modelId({
    kind: m.kind, spec: m.spec, featurizer: m.featurizer, lora: m.lora, base: m.base, training: { ...m.training, checkpoints: 1, seed: s },
    seed: seed ?? m.seed, codeVersion: m.codeVersion, snapshotRoot: m.snapshot?.root ?? null, backend: m.backend.name,
  });
}

async function heldOutLogProb(s: RetrainSetup, weights: HostWeights, frozen: ReturnType<typeof toTensors> | null): Promise<{ logProb: Float64Array; loss: number }> {
  const n = s.heldOut.y.length, C = s.manifest.spec.classes.length;
  const w = toTensors(weights);
  let lp: Float32Array;
  try {
    lp = await classProbabilities(s.manifest.spec, s.heldOut.x, w, frozen ? { base: frozen, lora: s.manifest.lora! } : undefined, { log: true });
  } finally {
    tf.dispose(Object.values(w));
  }
  const logProb = Float64Array.from({ length: n }, (_, r) => lp[r * C + s.heldOut.y[r]!]!);
  let loss = 0;
  for (const v of logProb) loss -= v;
  return { logProb, loss: loss / n };
}
