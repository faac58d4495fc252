import { tf } from "../compute/backend.ts";
import { Rng } from "../compute/random.ts";
import { batch, BatchBuffer, type FeatureMatrix } from "./featurize.ts";
import { FrozenProduct } from "./frozen-product.ts";
import { forward, meanLoss, toTensors, type HostWeights, type LoraConfig, type MlpSpec, type Weights } from "./mlp.ts";
import { checkSchedule, learningRate, makeOptimizer, type OptimizerConfig, type ScheduleConfig } from "./optimize.ts";

export interface Examples {
  x: FeatureMatrix;
  /** Class index per row. */
  y: Int32Array;
}

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  /** K: how many checkpoints of the trainable weights to keep, evenly spaced in steps. */
  checkpoints: number;
  seed: number;
}

export interface MetricRow {
  epoch: number;
  split: "train" | "held-out";
  loss: number;
  accuracy: number;
  examples: number;
  learning_rate: number;
  seconds: number;
}

export interface Checkpoint {
  index: number;
  step: number;
  epoch: number;
  /** The learning rate of the step that produced these weights: TracIn's η_k. */
  learningRate: number;
  weights: HostWeights;
}

export interface TrainResult {
  weights: HostWeights;
  metrics: MetricRow[];
  checkpoints: Checkpoint[];
  steps: number;
  seconds: number;
  examplesPerSecond: number;
}

export interface TrainRequest {
  spec: MlpSpec;
  /** What is trained, from its initial values. */
  trainable: HostWeights;
  /** The frozen base, when training an adapter (trainable then holds its A, B and head). */
  frozen?: { weights: Weights; lora: LoraConfig };
  train: Examples;
  heldOut?: Examples;
  config: TrainConfig;
  /**
   * Counterfactual retraining (LOCO, LDS): learn only from rows with keep[r] = 1, on the batches
   * of the full set — the same seeded order and batch boundaries, the left-out rows contributing
   * nothing (a batch's loss is still divided by its full size, so each kept row's step is what
   * it was). Steps, schedule and checkpoints are the full run's; an emptied batch takes no step.
   */
  keep?: Uint8Array;
  signal?: AbortSignal;
  onProgress?: (step: number, total: number, label: string) => void;
}

export function checkTrainConfig(c: TrainConfig): void {
  const positiveInt = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what} must be a positive integer, got ${v}`);
  };
  positiveInt(c.epochs, "epochs");
  positiveInt(c.batchSize, "batchSize");
  positiveInt(c.checkpoints, "checkpoints");
  if (!Number.isInteger(c.seed)) throw new Error(`seed must be an integer, got ${c.seed}`);
  checkSchedule(c.schedule);
}

/**
 * Minibatch training with a seeded shuffle. The same request on the same backend gives the
 * same weights: the order, the init and the optimizer are all determined by the seed.
 */
export async function train(req: TrainRequest): Promise<TrainResult> {
  const { spec, config } = req;
  checkTrainConfig(config);
  const n = req.train.y.length;
  if (req.keep && req.keep.length !== n) throw new Error(`keep has ${req.keep.length} entries for ${n} training rows`);
  const kept = req.keep ? req.keep.reduce((s, v) => s + (v ? 1 : 0), 0) : n;
  if (kept === 0) throw new Error("no training examples");
  const perEpoch = Math.ceil(n / config.batchSize);
  const total = perEpoch * config.epochs;
  const K = Math.min(config.checkpoints, total);
  const checkpointAt = new Map(Array.from({ length: K }, (_, k) => [Math.round(((k + 1) * total) / K), k + 1]));
  const shuffle = Rng.derive(config.seed, "shuffle");
  const initial = toTensors(req.trainable);
  const vars: Record<string, tf.Variable> = Object.fromEntries(Object.entries(initial).map(([k, t]) => [k, tf.variable(t, true)]));
  tf.dispose(Object.values(initial)); // tf.variable copied them
  const byName = new Map(Object.entries(vars).map(([k, v]) => [v.name, k]));
  const optimizer = makeOptimizer(config.optimizer);
  const metrics: MetricRow[] = [];
  const checkpoints: Checkpoint[] = [];
  const t0 = performance.now(); // the frozen product below is part of training's time
  // An adapter's first layer multiplies by a frozen kernel: that product is computed once per row.
  const frozenFirst = req.frozen && spec.hidden.length ? (req.frozen.weights["dense_1.kernel"] as tf.Tensor2D) : null;
  const logitsOf = async (ex: Examples) => {
    const product = frozenFirst ? await FrozenProduct.of(ex.x, frozenFirst) : null;
    return (x: tf.Tensor2D, rows: readonly number[]) => req.frozen
      ? forward(spec, req.frozen.weights, x, { lora: req.frozen.lora, weights: vars }, product?.rows(rows))
      : forward(spec, vars, x);
  };
  const logits = await logitsOf(req.train);
  const heldOutLogits = req.heldOut && req.heldOut.y.length ? await logitsOf(req.heldOut) : null;
  // A batch's tensors are disposed before the next batch is written: one buffer serves them all
  // (a fresh megabyte a step on mail, its page faults and collections, took the mail adapter's
  // training from 3.1 to 4.3 s).
  const into = new BatchBuffer();
  let step = 0;
  let lr = learningRate(config.schedule, 0, total);
  // Every step counts, an emptied batch's too (train()'s `keep`): checkpoints fall where the full run's do.
  const stepDone = async (epoch: number) => {
    step += 1;
    const k = checkpointAt.get(step);
    if (k !== undefined) checkpoints.push({ index: k, step, epoch, learningRate: lr, weights: await hostCopy(vars) });
  };
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const tEpoch = performance.now();
      const order = shuffle.shuffle(Array.from({ length: n }, (_, i) => i));
      let lossSum = 0, correct = 0, seen = 0;
      for (let b = 0; b < perEpoch; b++) {
        if (req.signal?.aborted) throw new Error("cancelled");
        const all = order.slice(b * config.batchSize, (b + 1) * config.batchSize);
        const rows = req.keep ? all.filter((r) => req.keep![r]) : all;
        lr = learningRate(config.schedule, step, total);
        if (rows.length === 0) {
          await stepDone(epoch);
          continue;
        }
        const xb = tf.tensor2d(batch(req.train.x, rows, into), [rows.length, req.train.x.dims]);
        const yb = tf.tensor1d(Int32Array.from(rows, (r) => req.train.y[r]!), "int32");
        let hits: tf.Tensor | null = null;
        const { value, grads } = tf.variableGrads(() => {
          const z = logits(xb, rows);
          hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(z, 1), yb), "int32")));
          const loss = meanLoss(z, yb, spec.classes.length);
          return rows.length === all.length ? loss : tf.mul(loss, rows.length / all.length);
        }, Object.values(vars));
        const named = Object.fromEntries(Object.entries(grads).map(([name, g]) => [byName.get(name)!, g]));
        optimizer.step(vars, named, lr);
        lossSum += (await value.data())[0]! * all.length;
        correct += (await hits!.data())[0]!;
        tf.dispose([xb, yb, value, hits!, ...Object.values(grads)]);
        await stepDone(epoch);
        req.onProgress?.(step, total, `epoch ${epoch}/${config.epochs} loss ${(lossSum / Math.max(1, seen += rows.length)).toFixed(4)}`);
        // Let signal handlers (Ctrl-C) and progress output run between batches.
        if (b % 8 === 7) await new Promise((r) => setImmediate(r));
      }
      const seconds = (performance.now() - tEpoch) / 1000;
      metrics.push({ epoch, split: "train", loss: lossSum / kept, accuracy: correct / kept, examples: kept, learning_rate: lr, seconds });
      if (req.heldOut && heldOutLogits) {
        const tEval = performance.now();
        const e = await evaluate(req.heldOut, config.batchSize, heldOutLogits, spec.classes.length, into);
        metrics.push({ epoch, split: "held-out", ...e, examples: req.heldOut.y.length, learning_rate: lr, seconds: (performance.now() - tEval) / 1000 });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    return { weights: await hostCopy(vars), metrics, checkpoints, steps: step, seconds, examplesPerSecond: (kept * config.epochs) / seconds };
  } finally {
    optimizer.dispose();
    Object.values(vars).forEach((v) => v.dispose());
  }
}

async function hostCopy(vars: Record<string, tf.Variable>): Promise<HostWeights> {
  const out: HostWeights = {};
  for (const [k, v] of Object.entries(vars)) out[k] = { shape: v.shape, data: Float32Array.from((await v.data()) as Float32Array) };
  return out;
}

/** Loss and accuracy of a model over examples, in batches. */
export async function evaluate(
  ex: Examples, batchSize: number, logits: (x: tf.Tensor2D, rows: readonly number[]) => tf.Tensor2D, classes: number, into?: BatchBuffer,
): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0, correct = 0;
  const n = ex.y.length;
  for (let start = 0; start < n; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
    const [loss, hits] = tf.tidy(() => {
      const x = tf.tensor2d(batch(ex.x, rows, into), [rows.length, ex.x.dims]);
      const y = tf.tensor1d(Int32Array.from(rows, (r) => ex.y[r]!), "int32");
      const z = logits(x, rows);
      return [meanLoss(z, y, classes), tf.sum(tf.cast(tf.equal(tf.argMax(z, 1), y), "int32"))];
    });
    lossSum += (await loss.data())[0]! * rows.length;
    correct += (await hits.data())[0]!;
    tf.dispose([loss, hits]);
  }
  return { loss: lossSum / n, accuracy: correct / n };
}
