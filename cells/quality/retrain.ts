import fs from "node:fs";
import path from "node:path";
import { tf } from "../compute/backend.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { batch, type FeatureMatrix } from "../factory/featurize.ts";
import { forward, initAdapter, initBase, toTensors, type HostWeights } from "../factory/mlp.ts";
import type { ModelManifest } from "../factory/store.ts";
import { train, type Examples } from "../factory/train.ts";

/** Bump when a retrain would give other numbers for the same inputs. */
const RETRAIN_VERSION = "1";

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

/** Rows `keep` of a matrix, as a matrix. */
function subset(x: FeatureMatrix, keep: number[]): FeatureMatrix {
  return { rows: keep.length, dims: x.dims, fill: (i, out, o) => x.fill(keep[i]!, out, o), sparse: (i) => x.sparse(keep[i]!) };
}

/**
 * Retrain the model as its manifest says (same init, seed, schedule, optimizer) on the training
 * rows `keep`, and measure it on the held-out set. Each retrain is cached under
 * `<workspace>/quality/` by (model id, kept rows): an interrupted evaluation resumes where it was.
 */
export async function retrainOn(s: RetrainSetup, keep: number[], signal?: AbortSignal): Promise<HeldOutOutcome> {
  const key = sha256(`tracebook.retrain/${RETRAIN_VERSION}\n${s.manifest.id}\n${keep.join(",")}\n${s.heldOut.y.length}`);
  const file = path.join(s.home, "quality", key.slice(0, 2), `${key}.json`);
  if (fs.existsSync(file)) {
    const c = JSON.parse(fs.readFileSync(file, "utf8")) as { logProb: number[]; loss: number };
    return { logProb: Float64Array.from(c.logProb), loss: c.loss, cached: true };
  }
  const m = s.manifest;
  if (!m.training) throw new Error(`model ${m.id.slice(0, 12)} records no training configuration: it cannot be retrained`);
  const config = { ...m.training, checkpoints: 1 };
  const data = { x: subset(s.train.x, keep), y: Int32Array.from(keep, (i) => s.train.y[i]!) };
  const adapter = m.kind === "adapter";
  const frozen = adapter ? toTensors(s.baseWeights!) : null;
  try {
    const r = await train({
      spec: m.spec, config, train: data, signal,
      trainable: adapter ? initAdapter(m.spec, m.lora!, s.baseWeights!, config.seed) : initBase(m.spec, config.seed),
      frozen: adapter ? { weights: frozen!, lora: m.lora! } : undefined,
    });
    const out = await heldOutLogProb(s, r.weights, frozen);
    await writeFileAtomic(file, JSON.stringify({ logProb: Array.from(out.logProb), loss: out.loss }));
    return { ...out, cached: false };
  } finally {
    if (frozen) tf.dispose(Object.values(frozen));
  }
}

async function heldOutLogProb(s: RetrainSetup, weights: HostWeights, frozen: ReturnType<typeof toTensors> | null): Promise<{ logProb: Float64Array; loss: number }> {
  const n = s.heldOut.y.length, C = s.manifest.spec.classes.length;
  const logProb = new Float64Array(n);
  const w = toTensors(weights);
  try {
    for (let start = 0; start < n; start += 512) {
      const rows = Array.from({ length: Math.min(512, n - start) }, (_, i) => start + i);
      const lp = tf.tidy(() => {
        const x = tf.tensor2d(batch(s.heldOut.x, rows), [rows.length, s.heldOut.x.dims]);
        const z = frozen ? forward(s.manifest.spec, frozen, x, { lora: s.manifest.lora!, weights: w }) : forward(s.manifest.spec, w, x);
        return tf.logSoftmax(z);
      });
      const v = (await lp.data()) as Float32Array;
      lp.dispose();
      rows.forEach((r, i) => (logProb[r] = v[i * C + s.heldOut.y[r]!]!));
    }
  } finally {
    tf.dispose(Object.values(w));
  }
  let loss = 0;
  for (const v of logProb) loss -= v;
  return { logProb, loss: loss / n };
}
