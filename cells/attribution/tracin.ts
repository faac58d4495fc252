import { tf } from "../compute/backend.ts";
import { hostTensor } from "../compute/upload.ts";
import { batch, type FeatureMatrix } from "../factory/featurize.ts";
import type { HostWeights } from "../factory/mlp.ts";
import { scopeOf, type LossGradient, type TracinModel } from "./factors.ts";
import { checkpointGroups, stackedFactors, stackedFeatures, stackedScores, stackedSelfInfluence, swapLast, type Projection, type StackedFactor } from "./stacked.ts";
import type { TopK } from "./topk.ts";
import { Accumulator, forEachShard, streamBlocks } from "./accumulate.ts";
import { describeTfjs, nativeSelfInfluence, nativeTracin, tracinEngine } from "./engine.ts";
import type { EngineChoice } from "../compute/onnx.ts";
import { fits, keepSide, KEPT_NOTE, KEPT_QUERIES, sideKey, type KeptEntry, type KeptTrainSide } from "./kept.ts";

/**
 * TracInCP (Pruthi et al. 2020), with the normalisation of the paper and of Captum's TracInCP:
 *
 *   influence(z, z′)   = Σ_k η_k ∇θℓ(θ_k, z) · ∇θℓ(θ_k, z′)
 *   self_influence(z)  = Σ_k η_k ‖∇θℓ(θ_k, z)‖²
 *
 * η_k counted once (the learning rate in force at checkpoint k), no 1/n, no 1/K. θ is the
 * trainable parameters (adapter + head, or every layer of a full model); ℓ is the per-example
 * cross-entropy. Positive = proponent (a step on z lowers the loss on z′), negative = opponent.
 *
 * Modes: `exact` (all trainable parameters, through the outer-product factorisation of
 * factors.ts), `last-layer` (the head only), `projection` (each factor's gradient a ⊗ b
 * projected to (a·Pa) ⊗ (b·Pb) with seeded Gaussian Pa, Pb of width `dim`: dot products are
 * preserved in expectation, and each example becomes one fixed-length feature vector).
 */
export type TracinMode = "exact" | "last-layer" | "projection";

export interface TracinCheckpoint {
  index: number;
  learningRate: number;
  /** The trainable weights at this checkpoint (adapter + head, or all layers). */
  weights: HostWeights;
}

export interface Examples {
  x: FeatureMatrix;
  /** Target class per row: the label for training rows, the label or the prediction for queries. */
  y: Int32Array;
}

export interface TracinRequest {
  model: TracinModel;
  checkpoints: TracinCheckpoint[];
  train: Examples & {
    /** Group index per training row (contributor, Datanet): sums per query are kept per group. */
    groups: Int32Array[];
    groupSizes: number[];
  };
  queries: Examples;
  mode: TracinMode;
  projection?: { dim: number; seed: number };
  topK: number;
  /** Also return every score, [query × train] (for evaluation on small sets: N × M floats). */
  full?: boolean;
  shardSize?: number;
  queryBlock?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Force an engine (else TRACEBOOK_ENGINE, else the native one where it applies). */
  engine?: EngineChoice;
  /** How the loss gradient's target entry is computed (factors.ts); `summed` unless recomputing an older receipt. */
  lossGradient?: LossGradient;
  /** Keep the training side here between calls against the same training rows (kept.ts), on either engine. */
  keep?: KeptTrainSide;
}

export interface TracinResult {
  /** Per query: top proponents and opponents (training row index and score). */
  top: TopK[];
  /** Per grouping, per query: the net influence of each group, [query * groups + g]. */
  groupSums: Float64Array[];
  /** With `full`: score[q * N + i]. */
  scores?: Float32Array;
  pairs: number;
  seconds: number;
  /** Which engine computed it, e.g. "onnxruntime-node@1.30.0 (2 threads)" or "tfjs wasm". */
  engine: string;
}


/**
 * Stream the training set in shards against blocks of queries; keep top-k and group sums per
 * query. Memory: one shard × block score block, the factors of one shard and one block, and
 * O(k + groups) per query; never an N × M matrix. Runs on the native engine where it applies
 * (engine.ts), else on the TF.js backend; both give the same scores to float32 rounding.
 */
export async function tracin(req: TracinRequest): Promise<TracinResult> {
  const engine = await tracinEngine(req.engine, req.mode);
  if (engine.kind === "onnxruntime") return nativeTracin(engine.native, req);
  const t0 = performance.now();
  const acc = new Accumulator(req);
  const size = req.shardSize ?? 2048;
  // A kept side serves a few questions at a time; a batch (receipts recomputed) streams as a cell does.
  const kept = req.keep && req.queries.y.length <= KEPT_QUERIES ? await keptTfjsSide(req, size) : null;
  await streamBlocks({ ...req, shardSize: size }, (qRows) => side(req, req.queries, qRows, true), async (q, q0, qRows, t0r, tRows) => {
    const tr = kept ? kept.shards[t0r / size]! : side(req, req.train, tRows);
    // Reduce the block on the backend: per query the shard's own top-k each way, and the
    // sums per group as one product with a one-hot matrix; only O(k + groups) per query
    // comes back to JS.
    const m = qRows.length, k = Math.min(req.topK, tRows.length);
    const reduced = tf.tidy(() => {
      const St = tf.transpose(scoreBlock(req, tr, q)) as tf.Tensor2D; // [m, shard]
      // One top-k over [S; −S]: the k largest of each query, then its k smallest as −score. On a
      // GPU a top-k is some fifty dispatches; one call instead of two.
      const both = tf.topk(tf.concat([St, tf.neg(St)], 0), k);
      const sums = req.train.groups.map((g, gi) => req.train.groupSizes[gi]! === 1
        ? tf.sum(St, 1, true) // tf.oneHot refuses a depth of 1
        : tf.matMul(St, tf.cast(tf.oneHot(hostTensor(g.subarray(t0r, t0r + tRows.length), [tRows.length], "int32") as tf.Tensor1D, req.train.groupSizes[gi]!), "float32")));
      return [both.values, both.indices, ...sums, ...(req.full ? [St] : [])];
    });
    if (!kept) tr.dispose();
    const [values, indices, ...gs] = (await Promise.all(reduced.map((t) => t.data()))) as [Float32Array, Int32Array, ...Float32Array[]];
    tf.dispose(reduced);
    const scores = req.full ? gs.pop()! : undefined;
    const worst = values.subarray(m * k).map((v) => -v);
    acc.absorb(q0, t0r, m, tRows.length, k, { best: values.subarray(0, m * k), bestIndex: indices.subarray(0, m * k), worst, worstIndex: indices.subarray(m * k), sums: gs, scores });
  }, (q) => q.dispose());
  return acc.result((performance.now() - t0) / 1000, kept ? `${describeTfjs()}, ${KEPT_NOTE}` : describeTfjs());
}

/**
 * The training side kept on the backend between questions (kept.ts): every shard's factors, or
 * projected features, as side() computes them; null when it would not fit beside those kept.
 */
function keptTfjsSide(req: TracinRequest, size: number): Promise<(KeptEntry & { shards: Side[] }) | null> {
  const keep = req.keep!;
  const key = `tfjs ${tf.getBackend()}|${sideKey(req, size)}`;
  return keepSide(keep, key, async (budget) => {
    const shards: Side[] = [];
    let bytes = 0;
    await forEachShard(req.train.y.length, size, req.signal, async (_, rows) => {
      const s = side(req, req.train, rows);
      shards.push(s);
      bytes += s.bytes;
      if (!fits(keep, key, budget, bytes, shards.length, rows.length, req.train.y.length)) return false;
    });
    const dispose = () => shards.forEach((s) => s.dispose());
    if (keep.declined.has(key)) {
      dispose();
      return null;
    }
    return { shards, bytes, dispose };
  });
}

export type SelfInfluenceRequest = Pick<TracinRequest, "model" | "checkpoints" | "mode" | "projection" | "shardSize" | "signal" | "engine" | "lossGradient"> & { train: Examples };

/** Σ_k η_k ‖∇θℓ(θ_k, z)‖² for every row, in shards. */
export async function selfInfluence(req: SelfInfluenceRequest): Promise<Float64Array> {
  const engine = await tracinEngine(req.engine, req.mode);
  if (engine.kind === "onnxruntime") return nativeSelfInfluence(engine.native, req);
  const N = req.train.y.length;
  const out = new Float64Array(N);
  const groups = checkpointGroups(req.model, req.checkpoints);
  await forEachShard(N, req.shardSize ?? 2048, req.signal, async (s0, rows) => {
    const sc = tf.tidy(() => {
      const { x, y } = rowsTensors(req.train, rows);
      const factors = stackedFactors(req.model, groups, x, y, scopeOf(req.mode), req.lossGradient);
      if (req.mode !== "projection") return stackedSelfInfluence(groups, factors);
      const p = projectionOf(req);
      return tf.addN(groups.map((st, g) => tf.sum(tf.square(stackedFeatures(st, factors[g]!, p)), 1)));
    });
    out.set(await sc.data(), s0);
    sc.dispose();
  });
  return out;
}

/**
 * The tensors one side (a train shard or a query block) needs: exact modes, every checkpoint's
 * factors stacked (stacked.ts); projection mode, each checkpoint group's projected features.
 */
interface Side {
  factors: StackedFactor[][];
  features: tf.Tensor2D[];
  /**
   * The query side, transposed once per block: wasm's matMul(a, b, false, true) is several
   * times slower than a plain product when the inner dimension is long (x has up to 8192).
   */
  transposed?: { factors: { a: tf.Tensor; b: tf.Tensor3D }[][]; features: tf.Tensor2D[] };
  /** What its tensors take on the backend. */
  bytes: number;
  dispose(): void;
}

/** Rows and their targets on the backend (hostTensor: on webgpu without a staging buffer per upload). */
export function rowsTensors(ex: Examples, rows: readonly number[]): { x: tf.Tensor2D; y: tf.Tensor1D } {
  return {
    x: hostTensor(batch(ex.x, rows), [rows.length, ex.x.dims], "float32") as tf.Tensor2D,
    y: hostTensor(Int32Array.from(rows, (r) => ex.y[r]!), [rows.length], "int32") as tf.Tensor1D,
  };
}

function side(req: TracinRequest, ex: Examples, rows: number[], transpose = false): Side {
  const { x, y } = rowsTensors(ex, rows);
  // tidy keeps the tensors returned (factors, features) and frees the passes' intermediates.
  const { factors, features } = tf.tidy(() => {
    const groups = checkpointGroups(req.model, req.checkpoints);
    const factors = stackedFactors(req.model, groups, x, y, scopeOf(req.mode), req.lossGradient);
    if (req.mode !== "projection") return { factors, features: [] } as unknown as tf.TensorContainer;
    const p = projectionOf(req);
    return { factors: [], features: groups.map((st, g) => stackedFeatures(st, factors[g]!, p)) } as unknown as tf.TensorContainer;
  }) as unknown as { factors: StackedFactor[][]; features: tf.Tensor2D[] };
  const transposed = transpose
    ? tf.tidy(() => ({ factors: factors.map((g) => g.map((f) => ({ a: swapLast(f.a), b: swapLast(f.b) as tf.Tensor3D }))), features: features.map((f) => tf.transpose(f)) }) as unknown as tf.TensorContainer) as unknown as Side["transposed"]
    : undefined;
  const kept: tf.Tensor[] = [...features, ...factors.flat().flatMap((f) => [f.a, f.b])];
  if (transposed) kept.push(...transposed.features, ...transposed.factors.flat().flatMap((f) => [f.a, f.b]));
  // The rows stay only where a factor reads them (x is the first layer's a-side): a kept training
  // side would otherwise hold every shard's rows as well.
  const held = new Set(kept);
  tf.dispose([x, y].filter((t) => !held.has(t)));
  const bytes = [...held].reduce((b, t) => b + t.size * 4, 0);
  return { factors, features, transposed, bytes, dispose: () => tf.dispose([...held]) };
}

/** S[i, j] = Σ_k η_k ⟨∇ℓ(θ_k, train_i), ∇ℓ(θ_k, query_j)⟩ for one shard and one block. */
function scoreBlock(req: TracinRequest, tr: Side, q: Side): tf.Tensor2D {
  const qt = q.transposed!;
  if (req.mode !== "projection") return stackedScores(checkpointGroups(req.model, req.checkpoints), tr.factors, qt.factors);
  return tf.tidy(() => tf.addN(tr.features.map((f, g) => tf.matMul(f, qt.features[g]!))) as tf.Tensor2D);
}

function projectionOf(req: Pick<TracinRequest, "projection">): Projection {
  if (!req.projection) throw new Error("projection mode needs a projection ({ dim, seed })");
  return req.projection;
}
