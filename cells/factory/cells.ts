import type { DuckDBValue } from "@duckdb/node-api";
import type { Cell, CellContext, CellResult } from "../graph/cell.ts";
import { merkleRoot, sha256 } from "../graph/fingerprint.ts";
import { computeBackend, computeBackendName, describeBackend, type ComputeBackend } from "../compute/backend.ts";
import { distinctLabels, featureSpecOf, loadExamples, type LoadedExamples } from "./examples.ts";
import type { FeaturizerSpec } from "./featurize.ts";
import { checkLora, initAdapter, initBase, toTensors, type LoraConfig, type MlpSpec } from "./mlp.ts";
import type { OptimizerConfig, ScheduleConfig } from "./optimize.ts";
import { FACTORY_VERSION, loadWeights, modelDir, modelId, saveModel, type ModelManifest } from "./store.ts";
import type { Workspace } from "../store/workspace.ts";
import { modelIdsIn } from "./catalog.ts";
import fs from "node:fs";
import path from "node:path";
import { checkTrainConfig, train, type TrainConfig, type TrainResult } from "./train.ts";
import { tf } from "../compute/backend.ts";
import { checkOptions } from "../graph/options.ts";
import { baseModelOptions, finetuneOptions } from "./options.ts";

interface Common {
  /** The cell whose rows are the training data. */
  data: string;
  /** A cell of held-out rows, evaluated after every epoch. */
  heldOut?: string;
  epochs: number;
  batchSize?: number;
  optimizer?: OptimizerConfig;
  schedule: ScheduleConfig;
  seed: number;
}

export interface BaseModelParams extends Common {
  /** How payloads become inputs: a featurizer spec, or "features" to use the stored vectors. */
  featurizer: FeaturizerSpec | "features";
  hidden: number[];
}

export interface FinetuneParams extends Common {
  /** The base-model cell. */
  base: string;
  adapter: LoraConfig;
  /** K checkpoints of the trainable weights, for TracIn. */
  checkpoints: number;
}

/** The columns every model cell outputs: one row per epoch and split. */
const COLUMNS: [string, string][] = [
  ["model_id", "VARCHAR"], ["kind", "VARCHAR"], ["epoch", "INTEGER"], ["split", "VARCHAR"], ["loss", "DOUBLE"],
  ["accuracy", "DOUBLE"], ["examples", "INTEGER"], ["learning_rate", "DOUBLE"], ["backend", "VARCHAR"], ["weights_sha256", "VARCHAR"],
];

/** The backend enters a model cell's fingerprint: weights trained on another backend differ. */
export async function backendSource() {
  return { version: await computeBackendName(), describe: "compute backend" };
}

/** A model cell's output names a model folder; without it the output is of no use. */
async function modelFolderPresent(ws: Workspace, artifact: string): Promise<string | null> {
  const gone = (await modelIdsIn(ws, artifact)).find((id) => !fs.existsSync(path.join(modelDir(ws.home, id), "manifest.json")));
  return gone ? `model folder ${gone.slice(0, 12)} missing` : null;
}

function trainConfig(p: Common, checkpoints: number): TrainConfig {
  const config = { epochs: p.epochs, batchSize: p.batchSize ?? 32, optimizer: p.optimizer ?? { name: "adam" as const }, schedule: p.schedule, checkpoints, seed: p.seed };
  checkTrainConfig(config);
  return config;
}

/** A base model: an MLP trained from a seeded init on a slice of a Datanet, then frozen. */
export function baseModel(p: BaseModelParams): Cell {
  checkOptions("baseModel", baseModelOptions, p);
  const config = trainConfig(p, 1);
  return {
    kind: "base-model",
    version: FACTORY_VERSION,
    params: p,
    inputs: [p.data, ...(p.heldOut ? [p.heldOut] : [])],
    source: backendSource,
    verify: modelFolderPresent,
    async run(ctx) {
      const backend = await computeBackend();
      const data = ctx.inputs[p.data]!.relation;
      const featurizer = p.featurizer === "features" ? await featureSpecOf(ctx.ws, data, `input "${p.data}"`) : p.featurizer;
      const classes = await distinctLabels(ctx.ws, data);
      if (classes.length < 2) throw new Error(`input "${p.data}" has ${classes.length} label(s); a classifier needs at least 2`);
      const spec: MlpSpec = { inputSize: featurizer.kind === "features" ? featurizer.size : featurizer.dims, hidden: p.hidden, classes };
      const { trainSet, heldOut } = await examples(ctx, p, featurizer, classes);
      const snapshotRoot = trainingRoot(trainSet);
      const id = modelId({ kind: "base", spec, featurizer, lora: null, base: null, training: config, seed: p.seed, codeVersion: FACTORY_VERSION, snapshotRoot, backend: backend.name });
      ctx.log(`${spec.inputSize}→${spec.hidden.join("→")}→${classes.length} on ${trainSet.y.length} examples; backend ${describeBackend(backend)}`);
      const result = await train({
        spec, trainable: initBase(spec, p.seed), train: trainSet, heldOut, config, signal: ctx.signal,
        onProgress: (done, total, label) => ctx.progress(done, total, label),
      });
      logResult(ctx, result);
      const manifest = await save(ctx, { id, kind: "base", spec, featurizer, lora: null, base: null, config, backend, result, trainSet, snapshotRoot });
      return metricsTable(manifest, result, backend);
    },
  };
}

/** A LoRA adapter plus head, trained on a snapshot with the base frozen; K checkpoints kept. */
export function finetune(p: FinetuneParams): Cell {
  checkOptions("finetune", finetuneOptions, p);
  const config = trainConfig(p, p.checkpoints);
  return {
    kind: "finetune",
    version: FACTORY_VERSION,
    params: p,
    inputs: [p.base, p.data, ...(p.heldOut ? [p.heldOut] : [])],
    source: backendSource,
    verify: modelFolderPresent,
    async run(ctx) {
      const backend = await computeBackend();
      const baseId = await modelOf(ctx, p.base);
      const { manifest: baseManifest, weights: baseWeights } = loadWeights(ctx.ws.home, baseId);
      const { spec, featurizer } = baseManifest;
      checkLora(spec, p.adapter);
      if (!featurizer) throw new Error(`base ${baseId.slice(0, 12)} has no featurizer`);
      const { trainSet, heldOut } = await examples(ctx, p, featurizer, spec.classes);
      const snapshotRoot = trainingRoot(trainSet);
      const lora = { rank: p.adapter.rank, alpha: p.adapter.alpha, targets: [...p.adapter.targets] };
      const id = modelId({ kind: "adapter", spec, featurizer, lora, base: baseId, training: config, seed: p.seed, codeVersion: FACTORY_VERSION, snapshotRoot, backend: backend.name });
      const frozen = toTensors(baseWeights);
      ctx.log(`LoRA r${lora.rank} α${lora.alpha} on ${lora.targets.join(", ")} over base ${baseId.slice(0, 12)}, ${trainSet.y.length} examples; backend ${describeBackend(backend)}`);
      try {
        const result = await train({
          spec, trainable: initAdapter(spec, lora, baseWeights, p.seed), frozen: { weights: frozen, lora }, train: trainSet, heldOut, config,
          signal: ctx.signal, onProgress: (done, total, label) => ctx.progress(done, total, label),
        });
        logResult(ctx, result);
        const manifest = await save(ctx, { id, kind: "adapter", spec, featurizer, lora, base: baseId, config, backend, result, trainSet, snapshotRoot });
        return metricsTable(manifest, result, backend);
      } finally {
        tf.dispose(Object.values(frozen));
      }
    },
  };
}

function logResult(ctx: CellContext, r: TrainResult): void {
  const last = [...r.metrics].reverse().find((m) => m.split === "held-out");
  const acc = last ? `held-out accuracy ${last.accuracy.toFixed(4)}, loss ${last.loss.toFixed(4)}; ` : "";
  ctx.log(`${acc}${r.steps} steps in ${r.seconds.toFixed(1)} s (${Math.round(r.examplesPerSecond)} examples/s)`);
}

/** The root of what entered training: one leaf per contribution, sha256(datanet, id), id being the content hash. */
export function trainingRoot(set: LoadedExamples): string {
  return merkleRoot(set.refs.map((r) => sha256(`${r.datanet}\u0000${r.id}`)));
}

async function examples(ctx: CellContext, p: Common, featurizer: FeaturizerSpec, classes: string[]) {
  // Cached: the attribution cells that read this model featurize the same training rows next.
  const trainSet = await loadExamples(ctx.ws, ctx.inputs[p.data]!.relation, featurizer, classes, `input "${p.data}"`, { cache: true });
  if (!trainSet.y.length) throw new Error(`input "${p.data}" has no rows to train on`);
  const heldOut = p.heldOut ? await loadExamples(ctx.ws, ctx.inputs[p.heldOut]!.relation, featurizer, classes, `input "${p.heldOut}"`) : undefined;
  return { trainSet, heldOut };
}

/** The model id a model cell produced, from its output table. */
export async function modelOf(ctx: CellContext, cell: string): Promise<string> {
  const input = ctx.inputs[cell];
  if (!input) throw new Error(`"${cell}" is not an input of this cell`);
  const ids = await ctx.ws.rows<{ model_id: string }>(`select distinct model_id from ${input.relation}`).catch(() => {
    throw new Error(`input "${cell}" is not a model cell (it has no model_id column)`);
  });
  if (ids.length !== 1) throw new Error(`input "${cell}" names ${ids.length} models; a model cell names exactly one`);
  return ids[0]!.model_id;
}

interface SaveArgs {
  id: string; kind: "base" | "adapter"; spec: MlpSpec; featurizer: FeaturizerSpec; lora: LoraConfig | null; base: string | null;
  config: TrainConfig; backend: ComputeBackend; result: TrainResult; trainSet: LoadedExamples; snapshotRoot: string;
}

async function save(ctx: CellContext, a: SaveArgs): Promise<ModelManifest> {
  const last = [...a.result.metrics].reverse().find((m) => m.split === "held-out");
  const contributions = a.trainSet.refs;
  return saveModel({
    home: ctx.ws.home,
    manifest: {
      id: a.id, kind: a.kind, spec: a.spec, featurizer: a.featurizer, lora: a.lora, base: a.base, training: a.config,
      snapshot: { root: a.snapshotRoot, datanets: [...new Set(contributions.map((c) => c.datanet))].sort(), contributions: contributions.length, file: "contributions.json" },
      backend: { name: a.backend.name, provider: a.backend.provider, ...(a.backend.adapter ? { adapter: a.backend.adapter } : {}) }, codeVersion: FACTORY_VERSION, seed: a.config.seed,
      checkpoints: a.result.checkpoints.map(({ weights: _w, ...c }) => c),
      summary: { heldOutAccuracy: last?.accuracy ?? null, heldOutLoss: last?.loss ?? null, trainSeconds: a.result.seconds, examplesPerSecond: a.result.examplesPerSecond },
      producedBy: { pipeline: ctx.pipeline, cell: ctx.cell },
    },
    weights: a.result.weights,
    checkpointWeights: a.result.checkpoints.map((c) => c.weights),
    contributions,
  });
}

function metricsTable(m: ModelManifest, r: TrainResult, backend: ComputeBackend): CellResult {
  const weightsSha = m.files["weights.bin"]!;
  const rows: DuckDBValue[][] = r.metrics.map((x) => [m.id, m.kind, x.epoch, x.split, x.loss, x.accuracy, x.examples, x.learning_rate, backend.name, weightsSha]);
  const tuple = `(${COLUMNS.map(([, t]) => `?::${t}`).join(", ")})`;
  return {
    query: `select * from (values ${rows.map(() => tuple).join(", ")}) t(${COLUMNS.map(([c]) => c).join(", ")})`,
    params: rows.flat(),
  };
}

