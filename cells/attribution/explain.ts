import { computeBackend, tf } from "../compute/backend.ts";
import { featurize, type Payload } from "../factory/featurize.ts";
import { toTensors } from "../factory/mlp.ts";
import { argmaxAt, classProbabilities } from "../factory/predict.ts";
import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { loadAttribution, pickCheckpoints, snippets, type TracinParams } from "./cells.ts";
import { creditOf, rankGroups, type Credit } from "./credit.ts";
import { tracin, type TracinCheckpoint } from "./tracin.ts";
import { KeptTrainSide } from "./kept.ts";
import type { ExplainAnswer, ExplainedContribution } from "./answer.ts";
import { projectionMatrix } from "./projection.ts";
import { factorShapes } from "./portable-model.ts";
import type { PortableExplainer } from "./portable.ts";
import type { LossGradient, TracinModel } from "./factors.ts";

/** The tracin cell an explanation mirrors: its settings, the model it traces and the rows that trained it. */
export interface ExplainSource {
  pipeline: string;
  influence: string;
  params: TracinParams;
  modelId: string;
  /** The training input: its cell name, a relation over its current output, that output's data version. */
  train: { name: string; relation: string; dataVersion: string };
  /** The data versions this source was read at (the tracin cell's null when it never ran): an explainer loaded from them serves while they stay current. */
  versions: { influence: string | null; model: string; train: string };
}

export type { ExplainAnswer, ExplainedContribution, ExplainedGroup, Explanation } from "./answer.ts";

/**
 * The Gaussian matrices tracin.ts's `project` draws in projection mode, for every factor side
 * wider than the projection, by `checkpoint:factor:side`: a portable explainer carries them.
 */
export function projectionMatrices(model: TracinModel, checkpoints: readonly { index: number }[], p: { dim: number; seed: number }): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const c of checkpoints) {
    for (const f of factorShapes(model, "all")) {
      for (const [side, d] of [["a", f.aWidth + (f.bias ? 1 : 0)], ["b", f.bWidth]] as const) {
        if (d > p.dim) out[`${c.index}:${f.name}:${side}`] = projectionMatrix(p.seed, c.index, f.name, side, d, p.dim);
      }
    }
  }
  return out;
}

type Loaded = Awaited<ReturnType<typeof loadAttribution>>;

export interface ExplainOptions {
  top?: number;
  /** Trace the loss of this label instead of the prediction's ("why not ham?"). */
  as?: string;
  signal?: AbortSignal;
  /** How the loss gradient's target entry is computed (factors.ts): `subtracted` recomputes a receipt made before attribution version 3. */
  lossGradient?: LossGradient;
}

/**
 * Attribution for inputs nobody has paid for yet: what the pipeline's tracin cell would say of
 * each input were it executed (same model, checkpoints, mode, top-k and credit rules), computed at
 * once for these inputs only. Nothing is recorded and nothing earns: only executed inferences do.
 * Load once per model and training output, then explain many inputs without the workspace.
 */
export class Explainer {
  private constructor(
    readonly source: ExplainSource,
    /** The model, its frozen base, its final weights and the rows that trained it. */
    private readonly loaded: Loaded,
    /** The checkpoints the tracin cell sums over. */
    private readonly checkpoints: TracinCheckpoint[],
    private readonly credit: Credit,
    private readonly texts: Map<string, string>,
    /** The training side, computed on the first question and kept for the next (by either engine: on a GPU, on the device), or null. */
    private readonly kept: KeptTrainSide | null,
  ) {}

  /**
   * With `keep`, an explainer that will be asked again (the notebook server's) keeps the training
   * side of its first question: on mail the next question takes 17 ms rather than 490, its scores
   * within 1e-6 of the largest of the cell's (its Gram block with the training inputs summed in
   * float64, the cell's in float32). Without, every question is computed as the cell computes it:
   * a one-off question, and receipts recomputed to check them.
   */
  static async load(ws: Workspace, source: ExplainSource, o: { keep?: boolean } = {}): Promise<Explainer> {
    await computeBackend(); // a fresh process (the CLI, the notebook server) has not chosen one yet
    const loaded = await loadAttribution(ws, source.modelId, source.train, null);
    const checkpoints = pickCheckpoints(loaded.checkpoints, source.params.checkpoints ?? "all", source.modelId);
    return new Explainer(source, loaded, checkpoints, creditOf(loaded.trainSet), await snippets(ws, source.train.relation), o.keep ? new KeptTrainSide() : null);
  }

  /** Bytes of training side kept for the next question (0 before the first, or where none is kept). */
  async keptBytes(): Promise<number> {
    return (await this.kept?.bytes()) ?? 0;
  }

  /** The model's classes, and what it reads: text, or `size` features. */
  get reads(): { classes: readonly string[]; features: number | null } {
    const { featurizer, spec } = this.loaded.manifest;
    return { classes: spec.classes, features: featurizer!.kind === "features" ? featurizer!.size : null };
  }

  /**
   * Everything this explainer holds, as plain data a page can explain with (portable.ts): the
   * same model, checkpoints, training rows, credit and texts.
   */
  portable(): PortableExplainer {
    const { manifest, model, final, trainSet } = this.loaded;
    const { params } = this.source;
    const mode = params.mode ?? "exact";
    const N = trainSet.y.length, dims = trainSet.x.dims;
    const rows = Array.from({ length: N }, (_, i) => trainSet.x.sparse(i));
    const offsets = new Uint32Array(N + 1);
    rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.idx.length));
    const idx = dims <= 65536 ? new Uint16Array(offsets[N]!) : new Uint32Array(offsets[N]!);
    const val = new Float32Array(offsets[N]!);
    rows.forEach((r, i) => {
      idx.set(r.idx, offsets[i]!);
      val.set(r.val, offsets[i]!);
    });
    const projection = mode === "projection" ? { ...params.projection!, matrices: projectionMatrices(model, this.checkpoints, params.projection!) } : null;
    return {
      source: {
        pipeline: this.source.pipeline, influence: this.source.influence, modelId: this.source.modelId, mode,
        topK: params.topK ?? 20, trainVersion: this.source.train.dataVersion,
      },
      featurizer: manifest.featurizer!, spec: model.spec, lora: model.lora, base: model.base, final,
      checkpoints: this.checkpoints.map((c) => ({ index: c.index, learningRate: c.learningRate, weights: c.weights })),
      projection,
      train: {
        offsets, idx, val, y: trainSet.y,
        ids: trainSet.refs.map((r) => r.id), contributors: trainSet.refs.map((r) => r.contributor), datanets: trainSet.refs.map((r) => r.datanet),
        labels: trainSet.labels, texts: trainSet.refs.map((r) => this.texts.get(r.id) ?? ""),
      },
      credit: { contributors: this.credit.contributors, datanets: this.credit.datanets, groups: this.credit.groups },
    };
  }

  async explain(inputs: readonly Payload[], o: ExplainOptions = {}): Promise<ExplainAnswer> {
    const { manifest, model, final, trainSet } = this.loaded;
    const { spec } = manifest;
    const classes = spec.classes;
    const top = o.top ?? this.source.params.topK ?? 20;
    if (!Number.isSafeInteger(top) || top < 1) throw new InputError(`top: a count of at least 1 (got ${top})`);
    if (o.as !== undefined && !classes.includes(o.as)) throw new InputError(`as: ${JSON.stringify(o.as)} is not one of the model's classes (${classes.join(", ")})`);
    if (!inputs.length) throw new InputError("give at least one input to explain");
    let x;
    try {
      x = featurize(manifest.featurizer!, inputs);
    } catch (err) {
      // The featurizer counts rows from 0; a caller counts inputs from 1.
      throw new InputError((err as Error).message.replace(/^row (\d+)/, (_, n: string) => `input ${Number(n) + 1}`));
    }
    const base = toTensors(model.base), weights = toTensors(final);
    let p: Float32Array;
    try {
      p = await classProbabilities(spec, x, weights, model.lora ? { base, lora: model.lora } : undefined);
    } finally {
      tf.dispose([...Object.values(base), ...Object.values(weights)]);
    }
    const C = classes.length;
    const predicted = inputs.map((_, j) => argmaxAt(p, C, j));
    const y = Int32Array.from(predicted, (c) => (o.as === undefined ? c : classes.indexOf(o.as)));
    const mode = this.source.params.mode ?? "exact";
    const result = await tracin({
      model, checkpoints: this.checkpoints, mode, projection: this.source.params.projection, topK: top, signal: o.signal, lossGradient: o.lossGradient, keep: this.kept ?? undefined,
      train: { x: trainSet.x, y: trainSet.y, groups: this.credit.groups, groupSizes: this.credit.groupSizes },
      queries: { x, y },
    });
    const row = (c: { index: number; score: number }, rank: number): ExplainedContribution => {
      const r = trainSet.refs[c.index]!;
      return { rank, contribution: r.id, contributor: r.contributor, datanet: r.datanet, label: trainSet.labels[c.index]!, score: c.score, text: this.texts.get(r.id) ?? "" };
    };
    return {
      pipeline: this.source.pipeline, influence: this.source.influence, model_id: this.source.modelId, mode,
      checkpoints: this.checkpoints.map((c) => c.index), train_rows: trainSet.y.length, train_version: this.source.train.dataVersion,
      seconds: result.seconds, engine: result.engine,
      explanations: inputs.map((_, j) => ({
        prediction: classes[predicted[j]!]!,
        probabilities: classes.map((label, c) => ({ label, p: p[j * C + c]! })),
        target: classes[y[j]!]!,
        proponents: result.top[j]!.proponents().map((c, r) => row(c, r + 1)),
        opponents: result.top[j]!.opponents().map((c, r) => row(c, -(r + 1))),
        contributors: rankGroups(this.credit.contributors, result.groupSums[0]!, j),
        datanets: rankGroups(this.credit.datanets, result.groupSums[1]!, j),
      })),
    };
  }
}
