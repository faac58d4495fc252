import { describe, expect, it } from "vitest";
import { computeBackend, tf } from "../cells/compute/backend.ts";
import { hostTensor } from "../cells/compute/upload.ts";
import { scopeOf } from "../cells/attribution/factors.ts";
import { checkpointGroups, stackedFactors, stackedFeatures, stackedScores, stackedSelfInfluence, swapLast, type GroupLayout } from "../cells/attribution/stacked.ts";
import { bruteInfluence, maxRelError } from "./helpers/brute-tracin.ts";
import { dims, q, tr, TRACIN_CASES } from "./helpers/tracin-cases.ts";

// tracin() stacks every checkpoint into one batched pass on a GPU backend and keeps one stack per
// checkpoint on wasm and cpu (stacked.ts). Both layouts are checked here on this machine's backend,
// against brute force, so the GPU's layout is tested on CI without a GPU (webgpu.test.ts runs it
// on a software adapter too).
async function scores(name: keyof typeof TRACIN_CASES, layout: GroupLayout) {
  const c = TRACIN_CASES[name]();
  const groups = checkpointGroups(c.model, c.cks, layout);
  const scope = scopeOf(c.mode);
  const [S, self] = tf.tidy(() => {
    const side = (r: { x: Float32Array; y: Int32Array }) =>
      stackedFactors(c.model, groups, hostTensor(r.x, [r.y.length, dims], "float32") as tf.Tensor2D, hostTensor(r.y, [r.y.length], "int32") as tf.Tensor1D, scope);
    const train = side(tr), query = side(q);
    const swapped = query.map((g) => g.map((f) => ({ a: swapLast(f.a), b: swapLast(f.b) as tf.Tensor3D })));
    return [stackedScores(groups, train, swapped), stackedSelfInfluence(groups, train)];
  });
  const [s, d] = [await S.array(), await self.data()];
  tf.dispose([S, self]);
  return { groups: groups.length, S: s.map((row) => Float64Array.from(row)), self: Float64Array.from(d), want: bruteInfluence(c.model, c.cks, tr, q, dims, c.only), cks: c.cks.length };
}

describe("checkpoints stacked on the backend", () => {
  it.each(["lora-adapter-exact", "external-mlp-exact", "last-layer", "linear-softmax"] as const)("scores %s exactly in one stack and in one stack per checkpoint", async (name) => {
    await computeBackend();
    for (const layout of ["stacked", "per-checkpoint"] as const) {
      const got = await scores(name, layout);
      expect(got.groups).toBe(layout === "stacked" ? 1 : got.cks);
      expect(maxRelError(got.S, got.want.S)).toBeLessThanOrEqual(1e-4);
      if (name !== "last-layer") expect(maxRelError([got.self], [Float64Array.from(got.want.self)])).toBeLessThanOrEqual(1e-4);
    }
  });

  it.each(["lora-adapter-exact", "external-mlp-exact"] as const)("projects %s to the same features in one stack as one checkpoint at a time", async (name) => {
    await computeBackend();
    const c = TRACIN_CASES[name]();
    // dim 3 projects every side wider than 3 (x, the hidden layers) and keeps the narrower ones.
    const features = async (layout: GroupLayout) => {
      const groups = checkpointGroups(c.model, c.cks, layout);
      const f = tf.tidy(() => {
        const factors = stackedFactors(c.model, groups, hostTensor(tr.x, [tr.y.length, dims], "float32") as tf.Tensor2D, hostTensor(tr.y, [tr.y.length], "int32") as tf.Tensor1D, "all");
        return tf.concat(groups.map((st, g) => stackedFeatures(st, factors[g]!, { dim: 3, seed: 4 })), 1);
      });
      const rows = (await f.array()) as number[][];
      f.dispose();
      return rows.map((r) => Float64Array.from(r));
    };
    const [one, each] = [await features("stacked"), await features("per-checkpoint")];
    expect(one[0]!.length).toBe(each[0]!.length);
    expect(one[0]!.length).toBeGreaterThan(c.cks.length * 9); // more than one 3 × 3 block per checkpoint
    expect(maxRelError(one, each)).toBeLessThanOrEqual(1e-6);
  });

  it("keeps a model's stacks between calls and makes them anew for another layout", async () => {
    await computeBackend();
    const c = TRACIN_CASES["lora-adapter-exact"]();
    const a = checkpointGroups(c.model, c.cks, "stacked");
    expect(checkpointGroups(c.model, c.cks, "stacked")).toBe(a);
    expect(checkpointGroups(c.model, c.cks, "per-checkpoint")).not.toBe(a);
    // The frozen base is shared by every checkpoint: one [in, out] tensor, not K copies.
    expect(a[0]!.weights.get("dense_1.kernel").shape).toEqual([dims, 5]);
    expect(a[0]!.weights.get("dense_1.lora_A").shape).toEqual([c.cks.length, dims, 2]);
    expect(a[0]!.weights.get("head.bias").shape).toEqual([c.cks.length, 1, 3]);
  });

  it("names the checkpoint that lacks a weight the others have", async () => {
    await computeBackend();
    const c = TRACIN_CASES["lora-adapter-exact"]();
    const { ["head.bias"]: _, ...rest } = c.cks[1]!.weights;
    const cks = [c.cks[0]!, { ...c.cks[1]!, weights: rest }];
    expect(() => checkpointGroups(c.model, cks, "stacked")[0]!.weights.get("head.bias")).toThrow(`checkpoint ${cks[1]!.index} has no weight "head.bias" (the others have)`);
  });
});
