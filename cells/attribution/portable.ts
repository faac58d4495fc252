import { featurize, type FeaturizerSpec, type Payload } from "../factory/featurize.ts";
import type { HostWeights } from "../factory/layers.ts";
import { InputError } from "../datanet/errors.ts";
import { rankGroups } from "./credit.ts";
import { TopK } from "./topk.ts";
import { factorShapes, PortableLayers, type FactorShape, type PortableNet, type SparseRow } from "./portable-model.ts";
import type { ExplainAnswer, ExplainedContribution } from "./answer.ts";

/**
 * An explainer that travels: everything `tracebook explain` loads from the workspace for one
 * tracin cell (the model, its checkpoints, the featurized rows that trained it and who gave
 * them), as plain data. A static notebook site ships one per pipeline (portable-file.ts), and
 * the page explains a typed input with it, as the pipeline's tracin cell would, with no server.
 */
export interface PortableExplainer extends PortableNet {
  source: {
    pipeline: string; influence: string; modelId: string; mode: "exact" | "last-layer" | "projection";
    topK: number; trainVersion: string;
  };
  featurizer: FeaturizerSpec;
  /** The trainable weights the model serves with: its predictions. */
  final: HostWeights;
  /** The checkpoints the tracin cell sums over. */
  checkpoints: { index: number; learningRate: number; weights: HostWeights }[];
  /**
   * Projection mode: each projected side's Gaussian matrix [width × dim], by
   * `checkpoint:factor:side`, drawn when the explainer was written by the Rng the TF.js path
   * draws with (so the page need not hash seeds); sides no wider than `dim` are kept exact.
   */
  projection: { dim: number; seed: number; matrices: Record<string, Float32Array> } | null;
  /** The training rows, in the order TracIn indexes them: features as CSR, targets, and their references. */
  train: {
    offsets: Uint32Array; idx: Uint16Array | Uint32Array; val: Float32Array; y: Int32Array;
    ids: string[]; contributors: string[]; datanets: string[]; labels: string[]; texts: string[];
  };
  /** Who each row's influence is credited to (credit.ts): contributor and Datanet group names and indices. */
  credit: { contributors: string[]; datanets: string[]; groups: [Int32Array, Int32Array] };
}

export interface PortableExplainOptions {
  top?: number;
  /** Trace the loss of this label instead of the prediction's. */
  as?: string;
}

/** Per checkpoint, the training side: each factor's a and b rows (exact modes), or projected features. */
export interface TrainSide {
  a: (Float32Array | null)[];
  b: Float32Array[];
  features: Float32Array | null;
}

/** An input's factors at one checkpoint (a is null where the factor's a-side is the input itself). */
export interface QueryFactors {
  a: (Float64Array | null)[];
  b: Float64Array[];
  features: Float64Array | null;
}

/** What a batch scorer is given: the training side per checkpoint, and each input's factors. */
export interface ScoringProblem {
  rows: number;
  shapes: FactorShape[];
  checkpoints: { index: number; learningRate: number; side: TrainSide }[];
  /** Per input: its factors per checkpoint, and x_i·x_q where a factor's a-side is the input. */
  queries: { factors: QueryFactors[]; inputGram: Float64Array | null }[];
}

/** Scores every training row against each input: Σ_k η_k Σ_factors (a_i·a_q + bias)(b_i·b_q), or F_i·f_q when projected. */
export interface BatchScorer {
  /** How the answer names the engine, e.g. "webgpu float32 on nvidia-h200". */
  readonly name: string;
  /** `engine` identifies the training side, which a scorer may keep on its device between questions. */
  scores(engine: object, problem: ScoringProblem): Promise<Float64Array[]>;
}

interface Question {
  top: number;
  inputs: { q: SparseRow; probabilities: number[]; predicted: number; target: number }[];
}

/**
 * TracIn for typed inputs against a PortableExplainer, in plain TypeScript: the same scores as
 * explain.ts to float32 rounding (the factors are the same, summed in float64). The training
 * side is computed once (on mail ~1 s) and kept; each input then costs O(rows × factor width).
 */
export class PortableExplainerEngine {
  private sides: TrainSide[] | null = null;
  private readonly shapes: FactorShape[];
  private readonly scope: "all" | "last-layer";
  /** Projection mode: the length of a row's projected features (Σ over factors of a × b, each side at most `dim`). */
  private readonly projectedWidth: number;

  /** The training rows [from, to) this engine scores: all of them, or a shard (one per worker, merged by mergeParts). */
  readonly from: number;
  readonly to: number;

  constructor(readonly p: PortableExplainer, shard?: { from: number; to: number }) {
    this.from = shard?.from ?? 0;
    this.to = shard?.to ?? p.train.y.length;
    if (!(this.from >= 0 && this.from <= this.to && this.to <= p.train.y.length)) throw new Error(`shard [${this.from}, ${this.to}) is not within the ${p.train.y.length} training rows`);
    this.scope = p.source.mode === "last-layer" ? "last-layer" : "all";
    this.shapes = factorShapes(p, this.scope);
    const dim = p.projection?.dim ?? Infinity;
    this.projectedWidth = this.shapes.reduce((n, f) => n + Math.min(f.aWidth + (f.bias ? 1 : 0), dim) * Math.min(f.bWidth, dim), 0);
  }

  /** How many training rows this engine scores. */
  get rows(): number {
    return this.to - this.from;
  }

  /** Training row `from + i`. */
  private row(i: number): SparseRow {
    i += this.from;
    const { offsets, idx, val } = this.p.train;
    return { idx: idx.subarray(offsets[i]!, offsets[i + 1]!), val: val.subarray(offsets[i]!, offsets[i + 1]!) };
  }

  /** The training side at every checkpoint (computed on the first question). */
  private trainSides(): TrainSide[] {
    if (this.sides) return this.sides;
    const N = this.rows;
    let kept: Float64Array[] | null = null; // x·W of a frozen input layer: the same at every checkpoint
    this.sides = this.p.checkpoints.map((c) => {
      const layers = new PortableLayers(this.p, c.weights);
      if (layers.frozenInput) kept ??= Array.from({ length: N }, (_, i) => layers.inputProduct(this.row(i)));
      const side: TrainSide = this.p.projection
        ? { a: [], b: [], features: new Float32Array(N * this.projectedWidth) }
        : { a: this.shapes.map((f) => (f.aIsInput ? null : new Float32Array(N * f.aWidth))), b: this.shapes.map((f) => new Float32Array(N * f.bWidth)), features: null };
      for (let i = 0; i < N; i++) {
        const x = this.row(i);
        const g = layers.factors(x, this.p.train.y[this.from + i]!, this.scope, layers.frozenInput ? kept![i] : undefined);
        if (side.features) side.features.set(this.projected(c, x, g), i * this.projectedWidth);
        else this.shapes.forEach((f, k) => {
          if (side.a[k]) side.a[k]!.set(g.a[k]!, i * f.aWidth);
          side.b[k]!.set(g.b[k]!, i * f.bWidth);
        });
      }
      return side;
    });
    return this.sides;
  }

  /** Each factor's a ⊗ b projected to (a·Pa) ⊗ (b·Pb), concatenated, × √η (tracin.ts's `projected`). */
  private projected(c: PortableExplainer["checkpoints"][number], x: SparseRow, g: { a: (Float64Array | null)[]; b: Float64Array[] }): Float64Array {
    const out = new Float64Array(this.projectedWidth);
    const root = Math.sqrt(c.learningRate);
    let at = 0;
    this.shapes.forEach((f, k) => {
      const pa = this.project(`${c.index}:${f.name}:a`, g.a[k] ?? x, f.aWidth, f.bias);
      const pb = this.project(`${c.index}:${f.name}:b`, g.b[k]!, f.bWidth, false);
      for (let i = 0; i < pa.length; i++) for (let j = 0; j < pb.length; j++) out[at++] = pa[i]! * pb[j]! * root;
    });
    return out;
  }

  private project(purpose: string, v: Float64Array | SparseRow, width: number, bias: boolean): Float64Array {
    const dim = this.p.projection!.dim, d = width + (bias ? 1 : 0);
    const dense = (): Float64Array => {
      if (v instanceof Float64Array) return bias ? Float64Array.from([...v, 1]) : v;
      const out = new Float64Array(d);
      for (let k = 0; k < v.idx.length; k++) out[v.idx[k]!] = v.val[k]!;
      if (bias) out[width] = 1;
      return out;
    };
    if (d <= dim) return dense();
    const P = this.p.projection!.matrices[purpose];
    if (!P) throw new Error(`this explainer has no projection for ${purpose}`);
    const out = new Float64Array(dim);
    const add = (t: number, value: number) => {
      for (let j = 0; j < dim; j++) out[j]! += value * P[t * dim + j]!;
    };
    if (v instanceof Float64Array) v.forEach((value, t) => value !== 0 && add(t, value));
    else for (let k = 0; k < v.idx.length; k++) add(v.idx[k]!, v.val[k]!);
    if (bias) add(width, 1);
    return out;
  }

  /** What the pipeline's tracin cell would say of each input were it executed; nothing recorded. */
  explain(inputs: readonly Payload[], o: PortableExplainOptions = {}): ExplainAnswer {
    return mergeParts([this.part(inputs, o)]);
  }

  /** This engine's rows' part of the answer: their top candidates each way and their group sums (mergeParts joins shards). */
  part(inputs: readonly Payload[], o: PortableExplainOptions = {}): ExplainPart {
    const question = this.prepare(inputs, o);
    const sides = this.trainSides(); // before the clock: loaded once, like the server's training rows
    const t0 = performance.now();
    return this.assemble(question, question.inputs.map((i) => this.scores(sides, i.q, i.target)), t0);
  }

  /**
   * The same part, the scores computed by `scorer` (a GPU in the page: notebooks/runtime/gpu-scores.ts)
   * from the training side this engine computed and each input's factors; ranking and sums stay here.
   */
  async partWith(scorer: BatchScorer, inputs: readonly Payload[], o: PortableExplainOptions = {}): Promise<ExplainPart> {
    const question = this.prepare(inputs, o);
    const sides = this.trainSides();
    const t0 = performance.now();
    const problem: ScoringProblem = {
      rows: this.rows, shapes: this.shapes,
      checkpoints: this.p.checkpoints.map((c, k) => ({ index: c.index, learningRate: c.learningRate, side: sides[k]! })),
      queries: question.inputs.map((i) => ({ factors: this.queryFactors(i.q, i.target), inputGram: this.shapes.some((f) => f.aIsInput) && !this.p.projection ? this.inputGram(i.q) : null })),
    };
    const scores = await scorer.scores(this, problem);
    return { ...this.assemble(question, scores, t0), engine: scorer.name };
  }

  /** The inputs featurized, each one's prediction and the class whose loss is traced; the options checked. */
  private prepare(inputs: readonly Payload[], o: PortableExplainOptions): Question {
    const { p } = this;
    const classes = p.spec.classes;
    const top = o.top ?? p.source.topK;
    if (!Number.isSafeInteger(top) || top < 1) throw new InputError(`top: a count of at least 1 (got ${top})`);
    if (o.as !== undefined && !classes.includes(o.as)) throw new InputError(`as: ${JSON.stringify(o.as)} is not one of the model's classes (${classes.join(", ")})`);
    if (!inputs.length) throw new InputError("give at least one input to explain");
    let x;
    try {
      x = featurize(p.featurizer, inputs);
    } catch (err) {
      throw new InputError((err as Error).message.replace(/^row (\d+)/, (_, n: string) => `input ${Number(n) + 1}`));
    }
    const final = new PortableLayers(p, p.final);
    return {
      top,
      inputs: Array.from({ length: inputs.length }, (_, j) => {
        const q = x.sparse(j);
        const probabilities = Array.from(final.probabilities(q));
        let predicted = 0;
        for (let c = 1; c < classes.length; c++) if (probabilities[c]! > probabilities[predicted]!) predicted = c;
        return { q, probabilities, predicted, target: o.as === undefined ? predicted : classes.indexOf(o.as) };
      }),
    };
  }

  /** Each input's scores ranked (top-k each way) and summed per contributor and Datanet. */
  private assemble(question: Question, scores: Float64Array[], t0: number): ExplainPart {
    const { p } = this;
    const N = this.rows, G = p.credit.groups, t = p.train;
    const candidate = (c: { index: number; score: number }): Candidate => {
      const i = this.from + c.index;
      return { index: i, score: c.score, contribution: t.ids[i]!, contributor: t.contributors[i]!, datanet: t.datanets[i]!, label: t.labels[i]!, text: t.texts[i]! };
    };
    const explanations = question.inputs.map(({ probabilities, predicted, target }, j) => {
      const s = scores[j]!;
      const topK = new TopK(question.top);
      const sums: [Float64Array, Float64Array] = [new Float64Array(p.credit.contributors.length), new Float64Array(p.credit.datanets.length)];
      for (let i = 0; i < N; i++) {
        topK.offer(s[i]!, i);
        sums[0][G[0][this.from + i]!]! += s[i]!;
        sums[1][G[1][this.from + i]!]! += s[i]!;
      }
      return { probabilities, predicted, target, proponents: topK.proponents().map(candidate), opponents: topK.opponents().map(candidate), sums };
    });
    return {
      answer: {
        pipeline: p.source.pipeline, influence: p.source.influence, model_id: p.source.modelId, mode: p.source.mode,
        checkpoints: p.checkpoints.map((c) => c.index), train_rows: t.y.length, train_version: p.source.trainVersion,
      },
      classes: p.spec.classes, groups: [p.credit.contributors, p.credit.datanets], top: question.top, seconds: (performance.now() - t0) / 1000, explanations,
    };
  }

  /** An input's factors at every checkpoint: a and b per factor (exact modes), or its projected features. */
  private queryFactors(q: SparseRow, target: number): QueryFactors[] {
    return this.p.checkpoints.map((c) => {
      const g = new PortableLayers(this.p, c.weights).factors(q, target, this.scope);
      return this.p.projection ? { a: [], b: [], features: this.projected(c, q, g) } : { a: g.a, b: g.b, features: null };
    });
  }

  /** x_i·x_q for this engine's training rows: the input factors' a-side product, the same at every checkpoint. */
  private inputGram(q: SparseRow): Float64Array {
    const { p } = this;
    const N = this.rows, from = this.from;
    const dense = new Float64Array(p.spec.inputSize);
    for (let k = 0; k < q.idx.length; k++) dense[q.idx[k]!] = q.val[k]!;
    const { offsets, idx, val } = p.train;
    const gram = new Float64Array(N);
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let k = offsets[from + i]!; k < offsets[from + i + 1]!; k++) s += val[k]! * dense[idx[k]!]!;
      gram[i] = s;
    }
    return gram;
  }

  /** Σ_k η_k ⟨∇ℓ(θ_k, train_i), ∇ℓ(θ_k, q)⟩ for every training row i. */
  private scores(sides: TrainSide[], q: SparseRow, target: number): Float64Array {
    const N = this.rows;
    const out = new Float64Array(N);
    let gramX: Float64Array | null = null; // the same at every checkpoint
    this.queryFactors(q, target).forEach((g, k) => {
      const c = this.p.checkpoints[k]!, side = sides[k]!;
      if (side.features) {
        const f = g.features!, F = f.length;
        for (let i = 0; i < N; i++) out[i]! += dot(side.features, i * F, f);
        return;
      }
      const sum = new Float64Array(N);
      this.shapes.forEach((f, m) => {
        const qa = g.a[m], qb = g.b[m]!, A = side.a[m], B = side.b[m]!;
        const gx = f.aIsInput ? (gramX ??= this.inputGram(q)) : null;
        for (let i = 0; i < N; i++) {
          const ga = (gx ? gx[i]! : dot(A!, i * f.aWidth, qa!)) + (f.bias ? 1 : 0);
          sum[i]! += ga * dot(B, i * f.bWidth, qb);
        }
      });
      for (let i = 0; i < N; i++) out[i]! += c.learningRate * sum[i]!;
    });
    return out;
  }
}

function dot(rows: Float32Array, at: number, v: Float64Array): number {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += rows[at + j]! * v[j]!;
  return s;
}

/** A training row an answer may list: its global index, score, and what the answer shows of it. */
type Candidate = Omit<ExplainedContribution, "rank"> & { index: number };

/** One engine's (one shard's) part of an answer; plain data, so a worker can post it. */
export interface ExplainPart {
  answer: Omit<ExplainAnswer, "seconds" | "engine" | "explanations">;
  classes: string[];
  /** The group names of the sums: contributors, Datanets. */
  groups: [string[], string[]];
  top: number;
  seconds: number;
  /** The engine that scored it where not this TypeScript (a GPU in the page). */
  engine?: string;
  explanations: { probabilities: number[]; predicted: number; target: number; proponents: Candidate[]; opponents: Candidate[]; sums: [Float64Array, Float64Array] }[];
}

/**
 * The answer of all shards: per input, the top candidates of every part ranked together (ties to
 * the lower training index, as TopK ranks them, so the shards' order does not matter) and the
 * group sums added. Parts must be of the same explainer and question.
 */
export function mergeParts(parts: readonly ExplainPart[]): ExplainAnswer {
  const [first] = parts;
  if (!first) throw new Error("mergeParts: no parts");
  const { classes, groups, top } = first;
  return {
    ...first.answer,
    seconds: Math.max(...parts.map((p) => p.seconds)), // the shards run side by side
    engine: `portable explainer, ${first.engine ?? "TypeScript float64"}${parts.length > 1 ? `, ${parts.length} shards` : ""}`,
    explanations: first.explanations.map((e, j) => {
      const ranked = new TopK(top);
      const byIndex = new Map<number, Candidate>();
      const sums = groups.map((g) => new Float64Array(g.length));
      for (const part of parts) {
        const pe = part.explanations[j]!;
        for (const c of [...pe.proponents, ...pe.opponents]) {
          ranked.offer(c.score, c.index);
          byIndex.set(c.index, c);
        }
        pe.sums.forEach((s, g) => s.forEach((v, k) => (sums[g]![k]! += v)));
      }
      const listed = (c: { index: number }, rank: number): ExplainedContribution => {
        const { index: _, ...shown } = byIndex.get(c.index)!;
        return { rank, ...shown };
      };
      return {
        prediction: classes[e.predicted]!,
        probabilities: classes.map((label, c) => ({ label, p: e.probabilities[c]! })),
        target: classes[e.target]!,
        proponents: ranked.proponents().map((c, r) => listed(c, r + 1)),
        opponents: ranked.opponents().map((c, r) => listed(c, -(r + 1))),
        contributors: rankGroups(groups[0], sums[0]!, 0),
        datanets: rankGroups(groups[1], sums[1]!, 0),
      };
    }),
  };
}
