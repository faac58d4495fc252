import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeBackend, tf } from "../cells/compute/backend.ts";
import { Rng } from "../cells/compute/random.ts";
import { denseMatrix } from "../cells/factory/featurize.ts";
import { forward, initBase, meanLoss, toTensors, type HostWeights, type MlpSpec } from "../cells/factory/mlp.ts";
import { tracin } from "../cells/attribution/tracin.ts";
import { baseModel, datanet, finetune, hashedNgrams, pipeline, runPipeline, sql } from "../cells/index.ts";
import { lds, loco } from "../cells/quality/cells.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempWorkspace } from "./helpers/workspace.ts";
import { separableDatanet } from "./helpers/datanets.ts";

async function lossOf(spec: MlpSpec, w: HostWeights, x: Float32Array, y: number, dims: number): Promise<number> {
  const t = tf.tidy(() => meanLoss(forward(spec, toTensors(w), tf.tensor2d(x, [1, dims])), tf.tensor1d([y], "int32"), spec.classes.length));
  const v = (await t.data())[0]!;
  t.dispose();
  return v;
}

describe("attribution quality", () => {
  it("TracIn predicts the first-order change of test loss after one SGD step on a linear model", async () => {
    await computeBackend();
    const dims = 5;
    const spec: MlpSpec = { inputSize: dims, hidden: [], classes: ["a", "b", "c"] };
    const theta = initBase(spec, 2);
    const rng = new Rng(4);
    const tr = rng.normals(6 * dims), te = rng.normals(4 * dims);
    const ytr = Int32Array.from([0, 1, 2, 0, 1, 2]), yte = Int32Array.from([2, 1, 0, 1]);
    const eta = 1e-3;
    const r = await tracin({
      model: { spec, base: {}, lora: null }, checkpoints: [{ index: 1, learningRate: eta, weights: theta }], mode: "exact", topK: 1, full: true,
      train: { x: denseMatrix(tr, 6, dims), y: ytr, groups: [], groupSizes: [] }, queries: { x: denseMatrix(te, 4, dims), y: yte },
    });
    for (let i = 0; i < 6; i++) {
      // One SGD step on training example i alone.
      const g = tf.tidy(() => {
        const vars = Object.entries(theta).map(([k, v]) => [k, tf.tensor(v.data, v.shape)] as const);
        const grads = tf.grads((...ts: tf.Tensor[]) => meanLoss(forward(spec, Object.fromEntries(vars.map(([k], j) => [k, ts[j]!])), tf.tensor2d(tr.subarray(i * dims, (i + 1) * dims), [1, dims])), tf.tensor1d([ytr[i]!], "int32"), 3))(vars.map(([, t]) => t));
        return Object.fromEntries(vars.map(([k, v], j) => [k, { shape: v.shape, data: Float32Array.from(v.dataSync(), (val, d) => val - eta * grads[j]!.dataSync()[d]!) }]));
      }) as HostWeights;
      for (let q = 0; q < 4; q++) {
        const before = await lossOf(spec, theta, te.subarray(q * dims, (q + 1) * dims), yte[q]!, dims);
        const after = await lossOf(spec, g, te.subarray(q * dims, (q + 1) * dims), yte[q]!, dims);
        const predicted = r.scores![q * 6 + i]!;
        // influence = −Δloss to first order; the remainder is O(η²).
        expect(Math.abs(predicted + (after - before))).toBeLessThan(0.02 * Math.abs(predicted) + 1e-6);
      }
    }
  });

  describe("LOCO and LDS cells on a small Datanet", () => {
    let ws: Workspace;
    const common = { epochs: 3, batchSize: 16, optimizer: { name: "adam" as const }, seed: 5 };
    beforeAll(async () => {
      ws = await tempWorkspace();
      await separableDatanet(ws, "notes", 100);
      const modes = [{ name: "exact", mode: "exact" as const }, { name: "last-layer", mode: "last-layer" as const }];
      const p = pipeline("q", {
        notes: datanet("notes"),
        train: sql`select * from ${"notes"} where split = 'train'`,
        queries: sql`select * from ${"notes"} where split = 'test'`,
        half: sql`select * from ${"train"} where id < '8'`,
        base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 64 }), hidden: [6], schedule: { kind: "constant", lr: 0.01 }, ...common }),
        model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 2, ...common }),
        loco: loco({ model: "model", train: "train", heldOut: "queries", modes }),
        lds: lds({ model: "model", train: "train", heldOut: "queries", modes, subsets: 6, seed: 1 }),
      });
      expect((await runPipeline(ws, p)).failed).toEqual([]);
    }, 120_000);
    afterAll(() => ws?.close());

    const out = async (cell: string) => {
      const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = ? and status = 'succeeded'", [cell]);
      return ws.rows<Record<string, unknown>>("select * from read_parquet(?)", [run!.artifact]);
    };

    it("writes a LOCO table: one summary per mode and one row per contributor", async () => {
      const rows = await out("loco");
      const summary = rows.filter((r) => r.row === "summary");
      expect(summary.map((r) => r.mode)).toEqual(["exact", "last-layer"]);
      expect(summary.every((r) => typeof r.spearman === "number" && Math.abs(r.spearman as number) <= 1)).toBe(true);
      expect(rows.filter((r) => r.row === "contributor" && r.mode === "exact").map((r) => r.contributor)).toEqual(["c0", "c1", "c2", "c3"]);
    });

    it("writes an LDS table beside the published figures, and caches every retrain", async () => {
      const rows = await out("lds");
      expect(rows.filter((r) => r.source === "ours").map((r) => r.mode)).toEqual(["exact", "last-layer"]);
      expect(rows.filter((r) => r.source === "published").length).toBe(3);
      const fs = await import("node:fs");
      const cached = fs.readdirSync(`${ws.home}/quality`, { recursive: true }).filter((f) => String(f).endsWith(".json"));
      expect(cached.length).toBe(1 + 4 + 6); // full set, four contributors left out, six subsets
    });
  });
});
