import type * as Ort from "onnxruntime-node";
import { cached, idOf, type NativeEngine } from "../compute/onnx.ts";
import type { FeatureMatrix } from "../factory/featurize.ts";
import { trainGraph, type GraphModel, type TrainLayout } from "./native.ts";
import { runShards } from "./sessions.ts";
import type { TracinRequest } from "./tracin.ts";

// The training side an explainer keeps between questions (engine.ts's nativeTracin reads it).

/**
 * x_q·x_tᵀ for queries qRows against training rows [t0, t0 + n), [queries, n]: over the training
 * rows' nonzeros (a mail row has a few hundred of 8,192), summed in float64. The cell's dense
 * float32 product would write every training row out whole for each question: 3.3 GB at 100,000
 * mail rows.
 */
export function gramBlock(q: FeatureMatrix, qRows: readonly number[], t: FeatureMatrix, t0: number, n: number): Float32Array {
  const out = new Float32Array(qRows.length * n);
  const dense = new Float64Array(q.dims);
  const rows = t.view?.(t0, t0 + n);
  qRows.forEach((r, j) => {
    const { idx, val } = q.sparse(r);
    dense.fill(0);
    for (let e = 0; e < idx.length; e++) dense[idx[e]!] = val[e]!;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      if (rows) for (let d = 0, at = i * t.dims; d < t.dims; d++) dot += dense[d]! * rows[at + d]!;
      else {
        const row = t.sparse(t0 + i);
        for (let e = 0; e < row.idx.length; e++) dot += dense[row.idx[e]!]! * row.val[e]!;
      }
      out[j * n + i] = dot;
    }
  });
  return out;
}

/** At most this many queries in a call use a kept training side (each needs its Gram row computed here). */
export const KEPT_QUERIES = 32;

/** Past this size a training side is not kept: at 100,000 mail rows it would be about 0.65 GiB (30 MiB at 4,715). */
export const KEPT_TRAIN_SIDE_BYTES = 1 << 30;

/**
 * A training side kept between tracin() calls against the same training rows. An explainer asks
 * question after question of one training set, and computing that side (a forward and backward
 * pass of every training row at every checkpoint) is nearly all of a question's cost. The caller
 * holds it, so it lives as long as the caller keeps its rows; each engine fills it on first use
 * (by model, checkpoints, mode, loss gradient and shard size): the native engine with its graphs'
 * outputs, the TF.js engine with its stacked factors on the backend (a GPU's memory on webgpu),
 * which are freed when the holder is collected.
 */
export class KeptTrainSide {
  readonly entries = new Map<string, Promise<KeptEntry | null>>();
  /** Sides not kept, by key: the bytes each would have taken (estimated from its first shard). */
  readonly declined = new Map<string, number>();
  /** `maxBytes` bounds all the sides kept together. */
  constructor(readonly maxBytes = KEPT_TRAIN_SIDE_BYTES) {
    freeing.register(this, this.entries);
  }

  /** Bytes held by the sides kept so far. */
  async bytes(): Promise<number> {
    return this.bytesBesides(null);
  }

  /** Bytes held by the sides other than `key` (whose own computation may be the caller). */
  async bytesBesides(key: string | null): Promise<number> {
    let n = 0;
    for (const [k, e] of this.entries) if (k !== key) n += (await e.catch(() => null))?.bytes ?? 0;
    return n;
  }
}

/** What a kept side holds: its size, and what frees it where the garbage collector cannot (backend tensors). */
export interface KeptEntry {
  bytes: number;
  dispose?(): void;
}

const freeing = new FinalizationRegistry<Map<string, Promise<KeptEntry | null>>>((entries) => {
  for (const e of entries.values()) void e.then((k) => k?.dispose?.(), () => undefined);
});

/**
 * The side kept under `key`, made on first use by `make`, which is given the bytes left beside
 * the sides already kept and answers null when its side would not fit (after recording it in
 * `declined`). Every shard but the last holds the same number of rows, so the first shard says
 * what the whole side takes: one that will not fit is given up after that shard, not after a
 * whole pass over the training rows that the question then pays for again.
 */
export function keepSide<T extends KeptEntry>(keep: KeptTrainSide, key: string, make: (budget: number) => Promise<T | null>): Promise<T | null> {
  let p = keep.entries.get(key) as Promise<T | null> | undefined;
  if (!p) {
    p = (async () => make(keep.maxBytes - (await keep.bytesBesides(key))))();
    keep.entries.set(key, p);
    p.catch(() => keep.entries.delete(key));
  }
  return p;
}

/** What a kept side depends on besides its engine: the mode (and projection), loss gradient, model, checkpoints, training rows and shard size. */
export function sideKey(req: TracinRequest, size: number): string {
  const projection = req.mode === "projection" && req.projection ? ` ${req.projection.dim}/${req.projection.seed}` : "";
  return `${req.mode}${projection}|${req.lossGradient ?? "summed"}|${idOf(req.model)}|${idOf(req.checkpoints)}|${idOf(req.train.x)}|${idOf(req.train.y)}|${size}`;
}

/** Whether a side of `bytes` so far, after `shards` shards of the `rows` rows of `n` in all, fits in `budget`; one that does not is declined under `key`. */
export function fits(keep: KeptTrainSide, key: string, budget: number, bytes: number, shards: number, rows: number, n: number): boolean {
  const whole = shards === 1 ? (bytes / rows) * n : bytes;
  if (whole <= budget) return true;
  keep.declined.set(key, whole);
  return false;
}

interface KeptShards extends KeptEntry {
  layout: TrainLayout;
  /** Per training shard, in order: trainGraph's outputs for its rows. */
  shards: Record<string, Ort.Tensor>[];
}

/** The native engine's kept training side for this request, computing it on first use; null when it would not fit beside the sides already kept. */
export function keptSide(engine: NativeEngine, req: TracinRequest, m: GraphModel, size: number): Promise<KeptShards | null> {
  const key = `native|${sideKey(req, size)}`;
  return keepSide(req.keep!, key, async (budget) => {
    const train = await cached(req.checkpoints, `train|${m.scope}|${m.lossGradient}|${idOf(req.model)}`, () => trainGraph(engine, m));
    const shards: Record<string, Ort.Tensor>[] = [];
    let bytes = 0;
    await runShards(engine, train.session, req.train, req.model.spec.classes.length, size, req.signal, (_, rows, out) => {
      shards.push(Object.fromEntries(train.outputs.map((o) => [o, out[o]!])));
      bytes += train.outputs.reduce((b, o) => b + (out[o]!.data as Float32Array).byteLength, 0);
      if (!fits(req.keep!, key, budget, bytes, shards.length, rows.length, req.train.y.length)) return false;
    });
    return req.keep!.declined.has(key) ? null : { layout: train.layout, shards, bytes };
  });
}

/** How an answer from a kept training side names its engine (the page qualifies "exactly" by it). */
export const KEPT_NOTE = "training side kept";
