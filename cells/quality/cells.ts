import fs from "node:fs";
import path from "node:path";
import type { Cell, CellContext } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { ldsOptions, locoOptions } from "./options.ts";
import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { Rng } from "../compute/random.ts";
import { attributionSource } from "../attribution/engine.ts";
import { stageRows } from "../store/stage.ts";
import { prepareAttribution } from "../attribution/cells.ts";
import { tracin, type TracinMode } from "../attribution/tracin.ts";
import { spearman } from "./metrics.ts";
import { retrainOn, type RetrainSetup } from "./retrain.ts";

const QUALITY_VERSION = "2"; // 2: the loss gradient `summed` (attribution/factors.ts)

/** The attribution variants compared in one table. */
export interface ModeSpec { name: string; mode: TracinMode; projection?: { dim: number; seed: number }; lastCheckpointOnly?: boolean }

export const DEFAULT_MODES: ModeSpec[] = [
  { name: "exact", mode: "exact" },
  { name: "last-layer", mode: "last-layer" },
  { name: "projection-16", mode: "projection", projection: { dim: 16, seed: 0 } },
  { name: "projection-64", mode: "projection", projection: { dim: 64, seed: 0 } },
  { name: "exact, last checkpoint only", mode: "exact", lastCheckpointOnly: true },
];

interface Params { model: string; train: string; heldOut: string; modes?: ModeSpec[] }

/** Everything both evaluations need: the model, its data, and the influence of every pair under every mode. */
async function setup(ctx: CellContext, p: Params) {
  // The same loading and lineage check as the tracin cell: the train input must be what trained the model.
  const loaded = await prepareAttribution(ctx, p.model, p.train, p.heldOut);
  const { manifest: m, trainSet, queries: heldOut } = loaded;
  if (heldOut.y.some((v) => v < 0)) throw new Error(`input "${p.heldOut}" has rows without a label: held-out loss needs labels`);
  const retrain: RetrainSetup = { home: ctx.ws.home, manifest: m, baseWeights: m.kind === "adapter" ? loaded.model.base : null, train: trainSet, heldOut };
  const scores = new Map<string, Float32Array>();
  for (const mode of p.modes ?? DEFAULT_MODES) {
    // LOCO and LDS read the same matrices: each is computed once and kept beside the retrains.
    const engine = (await attributionSource()).version;
    const key = sha256(`tracebook.quality-scores/${QUALITY_VERSION}\n${m.id}\n${canonicalJson(mode)}\n${engine}\n${heldOut.refs.map((r) => r.id).join(",")}`);
    const file = path.join(ctx.ws.home, "quality", "scores", `${key}.f32`);
    if (fs.existsSync(file)) {
      const b = fs.readFileSync(file);
      scores.set(mode.name, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
      continue;
    }
    const checkpoints = mode.lastCheckpointOnly ? loaded.checkpoints.slice(-1) : loaded.checkpoints;
    // Influence on the held-out loss: the target is the true label.
    const r = await tracin({
      model: loaded.model, checkpoints, mode: mode.mode, projection: mode.projection, topK: 1, full: true, signal: ctx.signal,
      train: { x: trainSet.x, y: trainSet.y, groups: [], groupSizes: [] }, queries: { x: heldOut.x, y: heldOut.y },
    });
    await writeFileAtomic(file, new Uint8Array(r.scores!.buffer, r.scores!.byteOffset, r.scores!.byteLength));
    scores.set(mode.name, r.scores!);
    ctx.log(`${mode.name}: ${r.pairs} pairs in ${r.seconds.toFixed(1)} s (${r.engine})`);
  }
  return { manifest: m, trainSet, heldOut, retrain, scores, modes: p.modes ?? DEFAULT_MODES };
}

/**
 * Leave-one-contributor-out: retrain without each contributor (same seed and schedule) and
 * correlate (Spearman) the change of held-out loss with the contributor's summed influence on
 * the held-out set. Influence > 0 means the contributor lowers test loss, so removing it should
 * raise the loss: a good attribution correlates positively.
 *
 * With `replicateSeed`, every retrain is repeated under that seed (another init and batch order):
 * the Spearman between the two seeds' changes is the ceiling row — how much of a LOCO change is
 * the contributor's and how much the seed's — and each mode is also scored against the mean of
 * the two (a steadier truth).
 */
export function loco(p: Params & { replicateSeed?: number }): Cell {
  checkOptions("loco", locoOptions, p);
  return {
    kind: "loco",
    version: QUALITY_VERSION,
    params: { ...p, modes: p.modes ?? DEFAULT_MODES },
    inputs: [p.model, p.train, p.heldOut],
    source: () => attributionSource(),
    async run(ctx) {
      const s = await setup(ctx, p);
      const N = s.trainSet.y.length, M = s.heldOut.y.length;
      const contributors = [...new Set(s.trainSet.refs.map((r) => r.contributor))].sort();
      const t0 = performance.now();
      const seeds = p.replicateSeed === undefined ? [undefined] : [undefined, p.replicateSeed];
      // Each contributor's rows once: what its retrains keep, and how many it gave.
      const keeps = contributors.map((c) => s.trainSet.refs.flatMap((r, i) => (r.contributor === c ? [] : [i])));
      const deltas: number[][] = [];
      for (const [si, seed] of seeds.entries()) {
        const all = await retrainOn(s.retrain, Array.from({ length: N }, (_, i) => i), ctx.signal, seed);
        const delta: number[] = [];
        for (const [k, keep] of keeps.entries()) {
          delta.push((await retrainOn(s.retrain, keep, ctx.signal, seed)).loss - all.loss);
          ctx.progress(si * contributors.length + k + 1, seeds.length * contributors.length, "retrains");
        }
        deltas.push(delta);
      }
      const [delta, replicate] = deltas as [number[], number[] | undefined];
      const meanDelta = replicate ? delta.map((d, k) => (d + replicate[k]!) / 2) : null;
      const seconds = (performance.now() - t0) / 1000;
      const rows: unknown[][] = [];
      if (replicate) {
        const ceiling = spearman(delta, replicate);
        rows.push(["ceiling", `seed ${s.manifest.training!.seed} vs seed ${p.replicateSeed}`, null, null, null, null, null, ceiling, null, contributors.length, seconds]);
        ctx.log(`LOCO changes under two seeds agree to Spearman ${ceiling.toFixed(4)}: the ceiling for any attribution of one model`);
      }
      for (const mode of s.modes) {
        const sc = s.scores.get(mode.name)!;
        // Each training row's influence summed over the held-out set, then per contributor.
        const rowSum = new Float64Array(N);
        for (let q = 0; q < M; q++) for (let i = 0; i < N; i++) rowSum[i] = rowSum[i]! + sc[q * N + i]!;
        const byContributor = new Map<string, number>();
        s.trainSet.refs.forEach((r, i) => byContributor.set(r.contributor, (byContributor.get(r.contributor) ?? 0) + rowSum[i]!));
        const influence = contributors.map((c) => byContributor.get(c)!);
        const rho = spearman(influence, delta);
        const rhoMean = meanDelta ? spearman(influence, meanDelta) : null;
        rows.push(["summary", mode.name, null, null, null, null, null, rho, rhoMean, contributors.length, seconds]);
        contributors.forEach((c, k) => rows.push(["contributor", mode.name, c, N - keeps[k]!.length, influence[k], delta[k], replicate?.[k] ?? null, null, null, null, null]));
        ctx.log(`LOCO Spearman (${mode.name}) = ${rho.toFixed(4)}${rhoMean === null ? "" : `, against the two seeds' mean ${rhoMean.toFixed(4)}`} over ${contributors.length} contributors`);
      }
      await stageRows(ctx.ws, "__tracebook_loco", [["row", "VARCHAR"], ["mode", "VARCHAR"], ["contributor", "VARCHAR"], ["contributions", "INTEGER"], ["influence", "DOUBLE"],
        ["delta_loss", "DOUBLE"], ["delta_loss_replicate", "DOUBLE"], ["spearman", "DOUBLE"], ["spearman_mean_delta", "DOUBLE"], ["contributors", "INTEGER"], ["retrain_seconds", "DOUBLE"]], rows);
      return { query: "select *, ? as model_id from __tracebook_loco", params: [s.manifest.id] };
    },
  };
}

/**
 * Linear datamodeling score (TRAK; dattri): retrain on M random halves of the training set; for
 * each held-out example, Spearman-correlate over the M subsets the summed attribution of the
 * subset with the retrained model's log-probability of the true label; report the mean.
 */
export function lds(p: Params & { subsets?: number; fraction?: number; seed?: number }): Cell {
  checkOptions("lds", ldsOptions, p);
  const params = { subsets: 50, fraction: 0.5, seed: 0, ...p, modes: p.modes ?? DEFAULT_MODES };
  return {
    kind: "lds",
    version: QUALITY_VERSION,
    params,
    inputs: [p.model, p.train, p.heldOut],
    source: () => attributionSource(),
    async run(ctx) {
      const s = await setup(ctx, p);
      const N = s.trainSet.y.length, M = s.heldOut.y.length, S = params.subsets;
      const t0 = performance.now();
      const subsets: number[][] = [];
      const outputs: Float64Array[] = [];
      for (let k = 0; k < S; k++) {
        const rng = Rng.derive(params.seed, `lds-subset:${k}`);
        const keep = rng.shuffle(Array.from({ length: N }, (_, i) => i)).slice(0, Math.round(N * params.fraction)).sort((a, b) => a - b);
        subsets.push(keep);
        outputs.push((await retrainOn(s.retrain, keep, ctx.signal)).logProb);
        ctx.progress(k + 1, S, "retrains");
      }
      const seconds = (performance.now() - t0) / 1000;
      const rows: unknown[][] = [];
      for (const mode of s.modes) {
        const sc = s.scores.get(mode.name)!;
        let sum = 0, counted = 0;
        for (let q = 0; q < M; q++) {
          const predicted = subsets.map((keep) => keep.reduce((acc, i) => acc + sc[q * N + i]!, 0));
          const actual = outputs.map((o) => o[q]!);
          const rho = spearman(predicted, actual);
          if (!Number.isNaN(rho)) { sum += rho; counted++; }
        }
        const score = sum / counted;
        rows.push(["ours", mode.name, score, S, counted, seconds]);
        ctx.log(`LDS (${mode.name}) = ${score.toFixed(4)} over ${counted} held-out examples, ${S} subsets`);
      }
      // Published figures for the MNIST-10 MLP setting (dattri benchmark), for scale only.
      for (const [name, v] of [["TracIn (dattri, MNIST-10 MLP)", 0.15], ["influence functions (dattri)", 0.26], ["TRAK, 50 models (dattri)", 0.45]] as const) {
        rows.push(["published", name, v, null, null, null]);
      }
      await stageRows(ctx.ws, "__tracebook_lds", [["source", "VARCHAR"], ["mode", "VARCHAR"], ["lds", "DOUBLE"], ["subsets", "INTEGER"], ["examples", "INTEGER"], ["retrain_seconds", "DOUBLE"]], rows);
      return { query: "select *, ? as model_id from __tracebook_lds", params: [s.manifest.id] };
    },
  };
}
