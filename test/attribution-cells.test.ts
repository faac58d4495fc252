import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseModel, datanet, finetune, gradientFeatures, hashedNgrams, pipeline, receiptHash, receipts, runPipeline, selfInfluence, sql, tracin, type Pipeline } from "../cells/index.ts";
import { readManifest } from "../cells/factory/store.ts";
import { snippets } from "../cells/attribution/cells.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempWorkspace } from "./helpers/workspace.ts";
import { separableDatanet } from "./helpers/datanets.ts";

const common = { epochs: 4, batchSize: 16, optimizer: { name: "adam" as const }, seed: 5 };

function attributionPipeline(trainFor = "train"): Pipeline {
  return pipeline("att", {
    notes: datanet("notes"),
    train: sql`select * from ${"notes"} where split = 'train'`,
    queries: sql`select * from ${"notes"} where split = 'test'`,
    half: sql`select * from ${"train"} where id < '8'`,
    base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 128 }), hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
    model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "cosine", lr: 0.01, final: 0.002 }, checkpoints: 3, ...common }),
    // topK above the training size: every non-zero contribution is listed, so sums can be checked.
    influence: tracin({ model: "model", train: trainFor, test: "queries", topK: 500 }),
    self: selfInfluence({ model: "model", train: "train" }),
    receipts: receipts({ influence: "influence", top: 3 }),
    features: gradientFeatures({ model: "model", train: "train", dim: 4, seed: 1 }),
  });
}

interface Row { query: string; level: string; key: string; contributor: string | null; score: number; share: number | null; rank: number; text: string | null; model_id: string }

async function output<T>(ws: Workspace, cell: string): Promise<T[]> {
  const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where pipeline = 'att' and cell = ? and status = 'succeeded' order by finished_at desc limit 1", [cell]);
  return ws.rows<T>("select * from read_parquet(?)", [run!.artifact]);
}

describe("attribution cells on a small Datanet", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await tempWorkspace();
    await separableDatanet(ws, "notes", 120);
    const s = await runPipeline(ws, attributionPipeline());
    expect(s.failed).toEqual([]);
  }, 120_000);
  afterAll(() => ws?.close());

  it("ranks proponents and opponents per query and sums them per contributor and Datanet", async () => {
    const rows = await output<Row>(ws, "influence");
    const queries = [...new Set(rows.map((r) => r.query))];
    expect(queries.length).toBe(Number((await ws.rows<{ n: bigint }>("select count(*) as n from contributions where split = 'test'"))[0]!.n));
    for (const q of queries) {
      const mine = rows.filter((r) => r.query === q);
      const pro = mine.filter((r) => r.level === "contribution" && r.rank > 0).sort((a, b) => a.rank - b.rank);
      const con = mine.filter((r) => r.level === "contribution" && r.rank < 0).sort((a, b) => b.rank - a.rank);
      expect(pro.map((r) => r.rank)).toEqual(pro.map((_, i) => i + 1));
      for (let i = 1; i < pro.length; i++) expect(pro[i]!.score).toBeLessThanOrEqual(pro[i - 1]!.score);
      for (let i = 1; i < con.length; i++) expect(con[i]!.score).toBeGreaterThanOrEqual(con[i - 1]!.score);
      expect(pro.every((r) => r.score > 0 && r.text)).toBe(true);
      // Group sums equal the sums of the listed contribution scores.
      const contributors = mine.filter((r) => r.level === "contributor");
      for (const c of contributors) {
        const sum = [...pro, ...con].filter((r) => r.contributor === c.key).reduce((s, r) => s + r.score, 0);
        expect(c.score).toBeCloseTo(sum, 6); // float32 products per shard, float64 across shards
      }
      const shares = contributors.map((c) => c.share ?? 0);
      if (contributors.some((c) => c.score > 0)) expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(contributors.filter((c) => c.score <= 0).every((c) => (c.share ?? 0) === 0)).toBe(true);
      const datanets = mine.filter((r) => r.level === "datanet");
      expect(datanets.map((d) => d.key)).toEqual(["notes"]);
      expect(datanets[0]!.score).toBeCloseTo(contributors.reduce((s, c) => s + c.score, 0), 6);
    }
  });

  it("writes receipts whose hash anyone can recompute, naming the model and its checkpoints", async () => {
    const rs = await output<{ query: string; model_id: string; receipt_hash: string; receipt: string }>(ws, "receipts");
    const m = readManifest(ws.home, rs[0]!.model_id);
    for (const r of rs) {
      expect(receiptHash(r.receipt)).toBe(r.receipt_hash);
      const body = JSON.parse(r.receipt);
      expect(body.model).toMatchObject({ id: m.id, base: m.base, snapshot_root: m.snapshot!.root });
      expect(body.checkpoints).toEqual(m.checkpoints.map((c) => ({ index: c.index, learning_rate: c.learningRate, sha256: c.sha256 })));
      expect(body.top_contributions.length).toBeLessThanOrEqual(3);
    }
    const tampered = JSON.parse(rs[0]!.receipt);
    tampered.contributor_shares.reverse();
    tampered.prediction = tampered.prediction === "spam" ? "ham" : "spam";
    expect(receiptHash(JSON.stringify(tampered))).not.toBe(rs[0]!.receipt_hash);
  });

  it("quotes each contribution by its title and text, either alone when the other is empty", async () => {
    await ws.run(`create or replace temp table snippet_rows as select * from (values
      ('a', '', 'hello', 'x'), ('b', 'Hi', '', 'x'), ('c', 'Hi', 'there', 'x'), ('d', '', '', 'y'), ('e', '  ', e'\\n world \\n  again', 'x'), ('f', null, 'only text', 'x')
    ) as t(id, title, text, label)`);
    const got = await snippets(ws, "snippet_rows");
    expect(Object.fromEntries(got)).toEqual({ a: "hello", b: "Hi", c: "Hi — there", d: "label y", e: "world again", f: "only text" });
    // Of the rows named only: a tracin run renders the contributions it cites, not every row.
    expect(Object.fromEntries(await snippets(ws, "snippet_rows", ["e", "c", "zz"]))).toEqual({ c: "Hi — there", e: "world again" });
    expect((await snippets(ws, "snippet_rows", [])).size).toBe(0);
  });

  it("quotes every contribution an influence row cites as the snippet of its training row", async () => {
    const cited = await output<{ level: string; key: string; text: string }>(ws, "influence");
    const contributions = cited.filter((r) => r.level === "contribution");
    expect(contributions.length).toBeGreaterThan(0);
    const all = await snippets(ws, "contributions");
    for (const r of contributions) expect(r.text).toBe(all.get(r.key));
  });

  it("scores self-influence for every training contribution", async () => {
    const rows = await output<{ contribution: string; score: number }>(ws, "self");
    expect(rows.length).toBe(Number((await ws.rows<{ n: bigint }>("select count(*) as n from contributions where split = 'train'"))[0]!.n));
    expect(rows.every((r) => r.score > 0)).toBe(true);
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.score).toBeLessThanOrEqual(rows[i - 1]!.score);
  });

  it("stores projected gradient features of every training contribution, with the projection", async () => {
    const rows = await output<{ contribution: string; features: number[]; projection_dim: number; projection_seed: number }>(ws, "features");
    const self = await output<{ contribution: string }>(ws, "self");
    expect(rows.map((r) => r.contribution).sort()).toEqual(self.map((r) => r.contribution).sort());
    const width = rows[0]!.features.length;
    expect(width).toBeGreaterThan(0);
    expect(rows.every((r) => r.features.length === width && r.projection_dim === 4 && r.projection_seed === 1)).toBe(true);
  });

  it("refuses to attribute over rows that did not train the model", async () => {
    const s = await runPipeline(ws, attributionPipeline("half"));
    expect(s.failed).toEqual(["influence"]);
    const [run] = await ws.rows<{ error: string }>("select error from runs where cell = 'influence' and status = 'failed'");
    expect(run!.error).toMatch(/input "half" \(\d+ rows\) is not the data model [0-9a-f]{12} was trained on \(\d+ contributions/);
  });

  it("sums over a subset of the checkpoints when asked, and names the ones a model has", async () => {
    const base = attributionPipeline();
    const p = pipeline("att", [...base.cells], {
      last: tracin({ model: "model", train: "train", test: "queries", topK: 500, checkpoints: "last" }),
      third: tracin({ model: "model", train: "train", test: "queries", topK: 500, checkpoints: [3] }),
      first_two: tracin({ model: "model", train: "train", test: "queries", topK: 500, checkpoints: [1, 2] }),
      missing: tracin({ model: "model", train: "train", test: "queries", checkpoints: [9] }),
    });
    const s = await runPipeline(ws, p);
    expect(s.failed).toEqual(["missing"]);
    const [failure] = await ws.rows<{ error: string }>("select error from runs where pipeline = 'att' and cell = 'missing' order by started_at desc limit 1");
    expect(failure!.error).toMatch(/has no checkpoint 9 \(it has 1, 2, 3\)/);
    // "last" is checkpoint 3 of 3: the same table, to the byte.
    const versions = await ws.rows<{ cell: string; data_version: string }>(
      "select cell, data_version from runs where pipeline = 'att' and cell in ('last', 'third') and status = 'succeeded'");
    expect(new Set(versions.map((v) => v.data_version)).size).toBe(1);
    // Influence is a sum over checkpoints: the first two plus the last make all three.
    const score = async (cell: string) => new Map((await output<Row>(ws, cell)).filter((r) => r.level === "contributor").map((r) => [`${r.query}/${r.key}`, r.score]));
    const [all, last, firstTwo] = [await score("influence"), await score("last"), await score("first_two")];
    for (const [k, v] of all) expect(last.get(k)! + firstTwo.get(k)!).toBeCloseTo(v, 5);
    expect(() => tracin({ model: "m", train: "t", test: "q", checkpoints: [] })).toThrow(/checkpoints must be "all", "last" or a non-empty list/);
  }, 120_000);
});
