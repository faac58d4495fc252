import { tf } from "../compute/backend.ts";
import type { FeatureMatrix } from "../factory/featurize.ts";
import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { gradientFeaturesOptions } from "./options.ts";
import { stageRows } from "../store/stage.ts";
import type { TracinModel } from "./factors.ts";
import { rowsTensors, type TracinCheckpoint } from "./tracin.ts";
import { checkpointGroups, stackedFactors, stackedFeatures } from "./stacked.ts";
import { prepareAttribution } from "./cells.ts";
import { ATTRIBUTION_VERSION } from "./version.ts";
import { plural } from "../graph/plural.ts";
import { attributionSource, nativeFeatures, tracinEngine } from "./engine.ts";
import type { EngineChoice } from "../compute/onnx.ts";

/**
 * Projected gradient features: per example, the concatenation over checkpoints of
 * √η_k · (a·Pa) ⊗ (b·Pb) for every gradient factor (see `stackedFeatures`). The dot product of two
 * examples' features is their projected TracIn influence, so once the training set's features
 * are stored, a new query is attributed with one forward/backward pass of the query and one
 * matrix-vector product — no training gradient is computed again (in Node or in a browser).
 */
export async function gradientFeatures(
  model: TracinModel, checkpoints: TracinCheckpoint[], ex: { x: FeatureMatrix; y: Int32Array }, projection: { dim: number; seed: number }, shard = 1024,
  engine: EngineChoice = "auto",
): Promise<{ width: number; data: Float32Array }> {
  // The engine TracIn runs on (engine.ts): the same features its projection mode scores with.
  const chosen = await tracinEngine(engine, "projection");
  if (chosen.kind === "onnxruntime") return nativeFeatures(chosen.native, { model, checkpoints, projection }, ex, shard);
  const n = ex.y.length;
  const groups = checkpointGroups(model, checkpoints);
  let width = 0;
  let data = new Float32Array(0);
  for (let s = 0; s < n; s += shard) {
    const rows = Array.from({ length: Math.min(shard, n - s) }, (_, i) => s + i);
    const f = tf.tidy(() => {
      const { x, y } = rowsTensors(ex, rows);
      const factors = stackedFactors(model, groups, x, y, "all");
      // The groups are the checkpoints in order: their features side by side are checkpoint-major.
      return tf.concat(groups.map((st, g) => stackedFeatures(st, factors[g]!, projection)), 1);
    });
    if (s === 0) {
      width = f.shape[1]!;
      data = new Float32Array(n * width);
    }
    data.set((await f.data()) as Float32Array, s * width);
    f.dispose();
  }
  return { width, data };
}

/** influence ≈ F_train · F_query for every training row, from stored features. */
export function scoreWithFeatures(train: { width: number; data: Float32Array }, query: Float32Array): Float64Array {
  const n = train.data.length / train.width;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * train.width;
    for (let d = 0; d < train.width; d++) s += train.data[o + d]! * query[d]!;
    out[i] = s;
  }
  return out;
}

/**
 * A cell storing the training set's projected gradient features, with the projection's seed and
 * width in every row, for query-time attribution without the training set's gradients.
 */
export function gradientFeaturesCell(p: { model: string; train: string; dim?: number; seed?: number }): Cell {
  checkOptions("gradientFeatures", gradientFeaturesOptions, p);
  const params = { dim: 32, seed: 0, ...p };
  return {
    kind: "gradient-features",
    version: ATTRIBUTION_VERSION,
    params,
    inputs: [p.model, p.train],
    source: () => attributionSource(),
    async run(ctx) {
      const { manifest, model, checkpoints, trainSet } = await prepareAttribution(ctx, p.model, p.train, null);
      const projection = { dim: params.dim, seed: params.seed };
      const f = await gradientFeatures(model, checkpoints, trainSet, projection);
      ctx.log(`${trainSet.y.length} × ${f.width} features (projection ${params.dim}, seed ${params.seed}, ${plural(checkpoints.length, "checkpoint")})`);
      const table = "__tracebook_features";
      await stageRows(ctx.ws, table, [["contribution", "VARCHAR"], ["contributor", "VARCHAR"], ["datanet", "VARCHAR"], ["label", "VARCHAR"], ["features", "FLOAT[]"]],
        trainSet.refs.map((r, i) => [r.id, r.contributor, r.datanet, trainSet.labels[i]!, Array.from(f.data.subarray(i * f.width, (i + 1) * f.width))]));
      return {
        query: `select *, ? as model_id, ?::integer as projection_dim, ?::integer as projection_seed from ${table} order by contribution`,
        params: [manifest.id, params.dim, params.seed],
      };
    },
  };
}
