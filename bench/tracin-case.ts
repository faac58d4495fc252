// The TracIn issue's benchmark case, shared by bench/tracin.ts and bench/gpu.ts: the first 2000
// digits training rows and 200 test rows by id, MLPs trained 5 epochs with 5 checkpoints.
// No DuckDB here (the packed GPU benchmark has none): the rows are read by tracin-data.ts.
import type { FeatureMatrix } from "../cells/factory/featurize.ts";
import { initBase, type MlpSpec } from "../cells/factory/mlp.ts";
import { train, type TrainResult } from "../cells/factory/train.ts";
import type { TracinCheckpoint } from "../cells/attribution/tracin.ts";

export const SEED = 7;     // init and shuffle of training
export const N = 2000, M = 200, K = 5, D = 784, C = 10;

export interface Rows { ids: string[]; x: FeatureMatrix; y: Int32Array; groups: Int32Array; nGroups: number }

export async function trainModel(spec: MlpSpec, data: Rows): Promise<TrainResult> {
  return train({
    spec, trainable: initBase(spec, SEED), train: { x: data.x, y: data.y },
    config: { epochs: 5, batchSize: 32, optimizer: { name: "sgd" }, schedule: { kind: "constant", lr: 0.1 }, checkpoints: K, seed: SEED },
  });
}
export const asTracin = (r: TrainResult): TracinCheckpoint[] => r.checkpoints.map((c) => ({ index: c.index, learningRate: c.learningRate, weights: c.weights }));
