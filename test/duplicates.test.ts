import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseModel, datanet, finetune, hashedNgrams, inferences, pipeline, receipts, rewardSplit, runPipeline, sql, tracin } from "../cells/index.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempWorkspace } from "./helpers/workspace.ts";
import { separableDatanet } from "./helpers/datanets.ts";

const common = { epochs: 3, batchSize: 16, optimizer: { name: "adam" as const }, seed: 5 };

describe("duplicated content across Datanets", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await tempWorkspace();
    await separableDatanet(ws, "orig", 80, 1, { contributorPrefix: "o", submittedAt: "2024-01-01T00:00:00Z" });
    // The same texts, later, under other contributors: same content hashes.
    await separableDatanet(ws, "copy", 80, 1, { contributorPrefix: "x", submittedAt: "2024-06-01T00:00:00Z" });
    const p = pipeline("dup", {
      orig: datanet("orig"),
      copy: datanet("copy"),
      train: sql`select * from ${"orig"} where split = 'train' union all select * from ${"copy"} where split = 'train'`,
      queries: sql`select * from ${"orig"} where split = 'test'`,
      base: baseModel({ data: "train", featurizer: hashedNgrams({ dims: 128 }), hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
      model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 2, ...common }),
      usage: inferences({ models: { model: 1, base: 0 }, queries: "queries", fee: "1", epoch: "e", seed: 1 }),
      influence: tracin({ model: "model", train: "train", test: "usage", topK: 3 }),
      receipts: receipts({ influence: "influence" }),
      rewards: rewardSplit({ usage: "usage", influence: "influence", receipts: "receipts" }),
    });
    expect((await runPipeline(ws, p)).failed).toEqual([]);
  }, 120_000);
  afterAll(() => ws?.close());

  it("credits the first submission only; the copies' contributors earn nothing", async () => {
    const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'influence' and status = 'succeeded'");
    const groups = await ws.rows<{ key: string }>("select distinct key from read_parquet(?) where level = 'contributor' order by key", [run!.artifact]);
    expect(groups.map((g) => g.key)).toEqual(["(duplicate content)", "o0", "o1", "o2", "o3"]);
    const paid = await ws.rows<{ recipient: string }>("select distinct recipient from rewards where role = 'contributor' order by recipient");
    expect(paid.every((r) => r.recipient.startsWith("o"))).toBe(true);
    const [{ fees, total }] = (await ws.rows<{ fees: string; total: string }>(
      "select (select sum(fee) from inferences)::varchar as fees, (select sum(amount) from rewards)::varchar as total")) as [{ fees: string; total: string }];
    expect(total).toBe(fees);
  });
});
