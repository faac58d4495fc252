// The TracIn test cases (test/tracin.test.ts), as the GPU benchmark runs them on each backend:
// the engine's full score matrix and self-influence, and their error against brute-force
// per-example gradients (computed on the CPU backend). The benchmark compares the backends' scores
// with each other (webgpu against wasm, to 1e-4 relative) and with the reference.
import { denseMatrix, type FeatureMatrix } from "../cells/factory/featurize.ts";
import { selfInfluence, tracin } from "../cells/attribution/tracin.ts";
import { bruteInfluence, sparseRows } from "../test/helpers/brute-tracin.ts";
import { dims, q, thin, tr, TRACIN_CASES, type TracinCase } from "../test/helpers/tracin-cases.ts";

export interface CaseScores {
  /** Influence [train row][query], as rows of the score matrix. */
  S: Float64Array[];
  self: Float64Array;
  /** The brute-force reference (per-example gradients by tf.grad, read back synchronously: not on webgpu). */
  brute: { S: Float64Array[]; self: Float64Array | null } | null;
}

/**
 * Every case's scores on the running backend (TF.js engine: the one the GPU runs), and with
 * `brute` the reference too (its helper reads tensors synchronously, which webgpu cannot).
 */
export async function runTracinCases(brute: boolean): Promise<Record<string, CaseScores>> {
  const out: Record<string, CaseScores> = {};
  for (const [name, make] of Object.entries(TRACIN_CASES)) {
    const c: TracinCase = make();
    const t = c.sparse ? { x: thin(tr.x), y: tr.y } : tr, u = c.sparse ? { x: thin(q.x), y: q.y } : q;
    const N = t.y.length, M = u.y.length;
    const matrix = (x: Float32Array, rows: number): FeatureMatrix => (c.sparse ? sparseRows(x, rows, dims) : denseMatrix(x, rows, dims));
    const r = await tracin({
      model: c.model, checkpoints: c.cks, mode: c.mode, topK: 3, shardSize: 7, queryBlock: 4, engine: "tfjs",
      train: { x: matrix(t.x, N), y: t.y, groups: [Int32Array.from({ length: N }, (_, i) => i)], groupSizes: [N] },
      queries: { x: matrix(u.x, M), y: u.y },
    });
    const S = Array.from({ length: N }, (_, i) => Float64Array.from({ length: M }, (_, j) => r.groupSums[0]![j * N + i]!));
    const self = Float64Array.from(await selfInfluence({ model: c.model, checkpoints: c.cks, mode: c.mode, shardSize: 5, engine: "tfjs", train: { x: matrix(t.x, N), y: t.y } }));
    const want = brute ? bruteInfluence(c.model, c.cks, t, u, dims, c.only) : null;
    out[name] = { S, self, brute: want && { S: want.S, self: c.only ? null : Float64Array.from(want.self) } };
  }
  return out;
}
