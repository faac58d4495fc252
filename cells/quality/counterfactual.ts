import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { counterfactualOptions } from "./options.ts";
import { canonicalJson } from "../graph/fingerprint.ts";
import { tf } from "../compute/backend.ts";
import { stageRows } from "../store/stage.ts";
import { selectRows, type FeatureMatrix } from "../factory/featurize.ts";
import { loadExamples } from "../factory/examples.ts";
import { toTensors, type HostWeights } from "../factory/mlp.ts";
import { argmaxAt, classProbabilities } from "../factory/predict.ts";
import { readContributions, readManifest, type ContributionRef, type ModelManifest } from "../factory/store.ts";
import { attributionSource } from "../attribution/engine.ts";
import { prepareAttribution, snippets } from "../attribution/cells.ts";
import { tracin, type TracinMode } from "../attribution/tracin.ts";
import { spearman } from "./metrics.ts";
import { trainAsManifest } from "./retrain.ts";
import { canonicalRemoval, describeRemoval, splitRows, untrainedIds, type Removal } from "./removal.ts";

// 2: the summary says how many left-out rows also trained the frozen base (removed_in_base).
// 3: `without` on the summary row only.
// 4: with onlyTrained, the ids that trained nothing are set aside here (set_aside), not before.
const COUNTERFACTUAL_VERSION = "5"; // 5: TracIn's estimate through the loss gradient `summed` (attribution/factors.ts)

export interface CounterfactualParams {
  /** The model cell whose training is redone without the removed rows. */
  model: string;
  /** The rows that trained it (its lineage is checked, as for tracin). */
  train: string;
  /** The outputs compared one by one: executed inferences, or held-out rows. */
  queries: string;
  /** Labelled rows the accuracy and loss are measured on (default: the queries that have a label). */
  heldOut?: string;
  without: Removal;
  /**
   * Ids that trained no row of this model (held out, or not approved) are set aside and listed
   * (`set_aside`) rather than refused: a curator's selection spans both. Names stay strict.
   */
  onlyTrained?: boolean;
  /** Also retrain on every row under this seed: how far a seed change alone moves the same outputs. */
  replicateSeed?: number;
  /** The TracIn variant whose estimate is set beside the retrain (default exact, all checkpoints). */
  mode?: TracinMode;
  projection?: { dim: number; seed: number };
}

/** One query's output before and after, in log-probabilities; the estimate is TracIn's. */
export interface OutputChange {
  before: number;
  after: number;
  /** log p(before's prediction) under each model. */
  logPBefore: number;
  logPAfter: number;
  /** The loss of the prediction the model gave rose by this much: logPBefore − logPAfter. */
  deltaLoss: number;
  flipped: boolean;
  deltaLossSeed: number | null;
  flippedSeed: boolean | null;
}

/** Accuracy and mean cross-entropy over the labelled rows (label ≥ 0); null when none has a label. */
export function accuracyAndLoss(classes: number, logp: Float32Array, labels: Int32Array): { accuracy: number; loss: number } | null {
  let n = 0, right = 0, loss = 0;
  labels.forEach((y, j) => {
    if (y < 0) return;
    n++;
    if (argmaxAt(logp, classes, j) === y) right++;
    loss -= logp[j * classes + y]!;
  });
  return n ? { accuracy: right / n, loss: loss / n } : null;
}

export interface ComparisonSummary {
  flips: number;
  flipsSeed: number | null;
  /** Spearman over queries between TracIn's estimate and the retrain's change of loss. */
  spearman: number;
  /** Of the F flipped outputs, how many are among the F that TracIn expected to weaken most. */
  flipsFound: number;
}

/**
 * Compare two models' outputs (log-probabilities, rows × classes) query by query: what each
 * predicted, how far the first model's prediction weakened, whether it flipped; and how far
 * TracIn's estimate (Σ influence of the removed rows, target = the prediction) ranked that.
 */
export function compareOutputs(
  classes: number, before: Float32Array, after: Float32Array, estimate: ArrayLike<number>, seed: Float32Array | null = null,
): { changes: OutputChange[]; summary: ComparisonSummary } {
  const n = estimate.length;
  const argmax = (p: Float32Array, j: number) => argmaxAt(p, classes, j);
  const changes: OutputChange[] = [];
  for (let j = 0; j < n; j++) {
    const b = argmax(before, j), a = argmax(after, j);
    const lb = before[j * classes + b]!, la = after[j * classes + b]!;
    const s = seed ? argmax(seed, j) : null;
    changes.push({
      before: b, after: a, logPBefore: lb, logPAfter: la, deltaLoss: lb - la, flipped: a !== b,
      deltaLossSeed: seed ? lb - seed[j * classes + b]! : null, flippedSeed: s === null ? null : s !== b,
    });
  }
  const flipped = changes.flatMap((c, j) => (c.flipped ? [j] : []));
  const expected = new Set(Array.from({ length: n }, (_, j) => j).sort((x, y) => estimate[y]! - estimate[x]! || x - y).slice(0, flipped.length));
  return {
    changes,
    summary: {
      flips: flipped.length, flipsSeed: seed ? changes.filter((c) => c.flippedSeed).length : null,
      spearman: spearman(estimate, changes.map((c) => c.deltaLoss)),
      flipsFound: flipped.filter((j) => expected.has(j)).length,
    },
  };
}

/**
 * What if these contributions had never been given? Retrain the model exactly as its lineage
 * says (init, seed, schedule, the full run's batches) with the removed rows masked out, and
 * compare its outputs on the queries with the model's own: accuracy and loss, every prediction
 * that flips, how far each weakens. Beside the retrain stands what TracIn estimated without one
 * (the removed rows' summed influence on each output), so the reader sees how far the cheap
 * answer holds; with `replicateSeed`, a retrain under another seed says how much of the change a
 * seed alone would make.
 */
export function counterfactual(p: CounterfactualParams): Cell {
  checkOptions("counterfactual", counterfactualOptions, p);
  const without = canonicalRemoval(p.without);
  const params = { ...p, without, mode: p.mode ?? ("exact" as TracinMode) };
  if (params.mode === "projection" && !params.projection) params.projection = { dim: 32, seed: 0 };
  return {
    kind: "counterfactual",
    version: COUNTERFACTUAL_VERSION,
    params,
    inputs: [p.model, p.train, p.queries, ...(p.heldOut ? [p.heldOut] : [])],
    source: () => attributionSource(),
    async run(ctx) {
      const loaded = await prepareAttribution(ctx, p.model, p.train, p.queries);
      const { manifest: m, trainSet, queries } = loaded;
      const setAside = p.onlyTrained ? untrainedIds(trainSet.refs, without.ids) : [];
      const effective = { ...without, ids: without.ids.filter((i) => !setAside.includes(i)) };
      if (setAside.length && !effective.ids.length && !without.contributors.length && !without.datanets.length) {
        throw new Error(`counterfactual: none of the ${setAside.length} contribution${setAside.length === 1 ? "" : "s"} asked about trained the model of ${ctx.pipeline} ` +
          "(held out, or not approved): leaving them out changes no training row");
      }
      const { removed, kept } = splitRows(trainSet.refs, effective);
      if (p.replicateSeed !== undefined && p.replicateSeed === m.training?.seed) {
        throw new Error(`counterfactual: seed ${p.replicateSeed} is the model's own: a seed check needs another seed`);
      }
      const C = m.spec.classes.length;
      const adapter = m.kind === "adapter";
      const inBase = adapter ? removedInBase(ctx.ws.home, m, removed.map((i) => trainSet.refs[i]!)) : null;
      ctx.log(`without ${describeRemoval(effective)}: ${removed.length} of ${trainSet.y.length} training rows left out` +
        (inBase ? ` (${inBase} of them also trained the base, which stays as it is)` : ""));
      const heldOut = p.heldOut ? await loadExamples(ctx.ws, ctx.inputs[p.heldOut]!.relation, m.featurizer!, m.spec.classes, `input "${p.heldOut}"`) : null;
      // Every model is run on the queries (compared one by one) and the held-out rows (scored).
      const sets = heldOut ? [queries.x, heldOut.x] : [queries.x];
      const before = await outputs(m, loaded.model.base, loaded.final, sets);

      const t0 = performance.now();
      const retrain = async (keep: number[] | undefined, seed: number | undefined, label: string) => {
        const r = await trainAsManifest(m, adapter ? loaded.model.base : null, trainSet, {
          keep, seed, checkpoints: 1, signal: ctx.signal, onProgress: (d, t) => ctx.progress(d, t, label),
        });
        try {
          return await outputs(m, loaded.model.base, r.weights, sets, r.frozen);
        } finally {
          if (r.frozen) tf.dispose(Object.values(r.frozen));
        }
      };
      const after = await retrain(kept, undefined, "retrain without");
      const seed = p.replicateSeed === undefined ? null : await retrain(undefined, p.replicateSeed, `retrain, seed ${p.replicateSeed}`);
      const seconds = (performance.now() - t0) / 1000;

      // TracIn's answer: each removed row's influence on the prediction, summed per query.
      const predicted = Int32Array.from({ length: queries.y.length }, (_, j) => argmaxAt(before[0]!, C, j));
      const est = await tracin({
        model: loaded.model, checkpoints: loaded.checkpoints, mode: params.mode, projection: params.projection, topK: 1, signal: ctx.signal,
        train: { x: selectRows(trainSet.x, removed), y: Int32Array.from(removed, (i) => trainSet.y[i]!), groups: [new Int32Array(removed.length)], groupSizes: [1] },
        queries: { x: queries.x, y: predicted },
      });
      const estimate = est.groupSums[0]!;
      const { changes, summary } = compareOutputs(C, before[0]!, after[0]!, estimate, seed?.[0] ?? null);
      // Accuracy and loss: on the held-out rows when given, else on the queries that have a label.
      const scoreSet = heldOut ? 1 : 0, labels = heldOut ? heldOut.y : queries.y;
      const scored = [before, after, seed].map((o) => (o ? accuracyAndLoss(C, o[scoreSet]!, labels) : null));
      const measuredRows = labels.filter((y) => y >= 0).length;
      ctx.log(`${summary.flips} of ${changes.length} predictions flip${summary.flipsSeed === null ? "" : ` (a seed change alone flips ${summary.flipsSeed})`}; ` +
        `TracIn's estimate vs the retrain's change: Spearman ${summary.spearman.toFixed(4)}`);

      const removedContributors = new Set(removed.map((i) => trainSet.refs[i]!.contributor)).size;
      const texts = await snippets(ctx.ws, ctx.inputs[p.queries]!.relation);
      const classes = m.spec.classes;
      const rows: unknown[][] = [[
        "summary", null, null, null, null, null, null, null, null, null, null, null, null,
        removed.length, removedContributors, kept.length, scored[0]?.accuracy ?? null, scored[1]?.accuracy ?? null, scored[0]?.loss ?? null, scored[1]?.loss ?? null,
        scored[2]?.accuracy ?? null, scored[2]?.loss ?? null, p.heldOut ?? p.queries, measuredRows,
        summary.flips, summary.flipsSeed, summary.spearman, summary.flipsFound, seconds, inBase, JSON.stringify(setAside),
      ]];
      changes.forEach((c, j) => rows.push([
        "query", queries.refs[j]!.id, queries.labels[j] || null, classes[c.before]!, classes[c.after]!, Math.exp(c.logPBefore), Math.exp(c.logPAfter),
        c.deltaLoss, estimate[j]!, c.flipped, c.deltaLossSeed, c.flippedSeed, texts.get(queries.refs[j]!.id) ?? "",
        null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
      ]));
      await stageRows(ctx.ws, "__tracebook_counterfactual", [
        ["row", "VARCHAR"], ["query", "VARCHAR"], ["label", "VARCHAR"], ["prediction_before", "VARCHAR"], ["prediction_after", "VARCHAR"],
        ["p_before", "DOUBLE"], ["p_after", "DOUBLE"], ["delta_loss", "DOUBLE"], ["estimate", "DOUBLE"], ["flipped", "BOOLEAN"],
        ["delta_loss_seed", "DOUBLE"], ["flipped_seed", "BOOLEAN"], ["text", "VARCHAR"],
        ["removed_contributions", "INTEGER"], ["removed_contributors", "INTEGER"], ["kept_contributions", "INTEGER"],
        ["accuracy_before", "DOUBLE"], ["accuracy_after", "DOUBLE"], ["loss_before", "DOUBLE"], ["loss_after", "DOUBLE"],
        ["accuracy_seed", "DOUBLE"], ["loss_seed", "DOUBLE"], ["measured_on", "VARCHAR"], ["measured_rows", "INTEGER"],
        ["flips", "INTEGER"], ["flips_seed", "INTEGER"], ["spearman", "DOUBLE"], ["flips_found", "INTEGER"], ["retrain_seconds", "DOUBLE"],
        ["removed_in_base", "INTEGER"], ["set_aside", "VARCHAR"],
      ], rows);
      return {
        // The removal on the summary row only: a curator's preview names hundreds of ids, and
        // repeated on each of 1,200 query rows it made the table tens of MB.
        query: `select *, ? as model_id, case when row = 'summary' then ? end as without from __tracebook_counterfactual
                order by row desc, flipped desc, delta_loss desc, query`,
        params: [m.id, canonicalJson(effective)],
      };
    },
  };
}

/**
 * How many of the left-out rows also trained the adapter's base. The retrain redoes the adapter
 * only, over the same frozen base, so their share in the base stays: the answer says so rather
 * than let a reader take it for a model that never saw them at all.
 */
function removedInBase(home: string, m: ModelManifest, removed: ContributionRef[]): number {
  if (!m.base) return 0;
  const key = (r: ContributionRef) => `${r.datanet}\u0000${r.id}`;
  const base = new Set(readContributions(home, readManifest(home, m.base)).map(key));
  return removed.filter((r) => base.has(key(r))).length;
}

/** Log-probabilities of a model on each feature set, given its trainable weights (over the frozen base, for an adapter). */
async function outputs(m: ModelManifest, base: HostWeights, weights: HostWeights, sets: FeatureMatrix[], frozen?: ReturnType<typeof toTensors> | null): Promise<Float32Array[]> {
  const w = toTensors(weights);
  const b = m.kind === "adapter" ? (frozen ?? toTensors(base)) : null;
  try {
    const out: Float32Array[] = [];
    for (const x of sets) out.push(await classProbabilities(m.spec, x, w, b ? { base: b, lora: m.lora! } : undefined, { log: true }));
    return out;
  } finally {
    tf.dispose(Object.values(w));
    if (b && !frozen) tf.dispose(Object.values(b));
  }
}
