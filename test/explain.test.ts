import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ingest } from "../cells/datanet/ingest.ts";
import { loadPipeline, runPipeline } from "../cells/index.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { computeBackend } from "../cells/compute/backend.ts";
import { Explainer, type Explanation } from "../cells/attribution/explain.ts";
import { cellsAsRun, explainSource } from "../cells/attribution/source.ts";
import { recomputeReceipts } from "../cells/attribution/recompute.ts";
import { DUPLICATE_CONTENT } from "../cells/attribution/duplicate.ts";
import { PortableExplainerEngine } from "../cells/attribution/portable.ts";
import { decodePortable, encodePortable } from "../cells/attribution/portable-file.ts";
import { separableDatanet } from "./helpers/datanets.ts";
import { pipelineFile, tempDir } from "./helpers/workspace.ts";

const CELLS = path.resolve("cells/index.ts");
const BIN = path.resolve("bin/tracebook.js");

/**
 * notes (separable spam/ham) and "copies", which repeats three of notes' training rows a day
 * later (the same content: its influence is nobody's); a workload over the held-out notes, traced
 * exactly and by the last layer at the last checkpoint.
 */
async function home(): Promise<{ home: string; file: string }> {
  const dir = tempDir("tb-explain-");
  const ws = await openWorkspace({ home: dir });
  try {
    await separableDatanet(ws, "notes", 120);
    const copied = await ws.rows<{ text: string; label: string }>("select text, label from contributions where datanet = 'notes' and split = 'train' order by id limit 3");
    await ingest(ws, { name: "copies", kind: "text", description: "copies", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0 },
      copied.map((r, i) => ({ ...r, contributor: "copycat", submittedAt: new Date("2024-01-02T00:00:00Z"), source: `copy#${i}` })),
      { mode: "create", status: "approved", validator: "test", importer: "test@1" });
  } finally {
    ws.close();
  }
  const file = pipelineFile("ex", `import { baseModel, datanet, finetune, hashedNgrams, inferences, pipeline, receipts, sql, tracin } from ${JSON.stringify(CELLS)};
const common = { epochs: 4, batchSize: 16, optimizer: { name: "adam" }, seed: 5 };
export default pipeline("ex", {
  notes: datanet("notes"),
  copies: datanet("copies"),
  train: sql\`select * from \${"notes"} where split = 'train' union all select * from \${"copies"}\`,
  queries: sql\`select * from \${"notes"} where split = 'test'\`,
  half: sql\`select * from \${"train"} where id < '8'\`,
  base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 128 }), hidden: [8], schedule: { kind: "constant", lr: 0.01 }, ...common }),
  model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.01 }, checkpoints: 3, ...common }),
  usage: inferences({ models: { model: 1 }, queries: "queries", calls: 12, fee: "0.001", callers: ["agent:a"], epoch: "e1", seed: 3 }),
  influence: tracin({ model: "model", train: "train", test: "usage", topK: 5 }),
  influence_last: tracin({ model: "model", train: "train", test: "usage", topK: 4, mode: "last-layer", checkpoints: "last" }),
  receipts: receipts({ influence: "influence", top: 3 }),
});
`);
  return { home: dir, file };
}

interface InfluenceRow { query: string; prediction: string; level: string; key: string; contributor: string; score: number; share: number | null; rank: number }

describe("explaining an input nobody has paid for", () => {
  let ws: Workspace;
  let setup: { home: string; file: string };
  let usage: { id: string; text: string }[];
  const table = async (cell: string) => {
    const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = ? and status = 'succeeded' order by started_at desc limit 1", [cell]);
    return ws.rows<InfluenceRow>("select * from read_parquet(?)", [run!.artifact]);
  };
  const load = async (influence?: string) => Explainer.load(ws, await explainSource(ws, "ex", await cellsAsRun(ws, "ex"), influence));

  beforeAll(async () => {
    setup = await home();
    ws = await openWorkspace({ home: setup.home });
    const { pipeline } = await loadPipeline(setup.file);
    expect((await runPipeline(ws, pipeline)).failed).toEqual([]);
    await computeBackend();
    const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'usage' and status = 'succeeded'");
    usage = await ws.rows("select id, text from read_parquet(?) order by id", [run!.artifact]);
  }, 180_000);
  afterAll(() => ws?.close());

  /** An explanation against the tracin cell's rows for the same input, executed (scores to `digits` decimals). */
  function expectSame(e: Explanation, rows: InfluenceRow[], digits = 9) {
    expect(e.prediction).toBe(rows[0]!.prediction);
    const contributions = (sign: 1 | -1) => rows.filter((r) => r.level === "contribution" && Math.sign(r.rank) === sign).sort((a, b) => Math.abs(a.rank) - Math.abs(b.rank));
    for (const [mine, theirs] of [[e.proponents, contributions(1)], [e.opponents, contributions(-1)]] as const) {
      expect(mine.map((c) => [c.rank, c.contribution, c.contributor])).toEqual(theirs.map((r) => [r.rank, r.key, r.contributor]));
      mine.forEach((c, i) => expect(c.score).toBeCloseTo(theirs[i]!.score, digits));
    }
    const groups = rows.filter((r) => r.level === "contributor").sort((a, b) => a.rank - b.rank);
    expect(e.contributors.map((g) => g.name)).toEqual(groups.map((r) => r.key));
    e.contributors.forEach((g, i) => {
      expect(g.score).toBeCloseTo(groups[i]!.score, digits);
      expect(g.share ?? -1).toBeCloseTo(groups[i]!.share ?? -1, digits);
    });
  }

  it("says of an executed inference's input exactly what the pipeline's tracin cell says of it", async () => {
    const explainer = await load();
    const answer = await explainer.explain(usage.map((u) => ({ text: u.text })));
    expect(answer).toMatchObject({ pipeline: "ex", influence: "influence", mode: "exact", checkpoints: [1, 2, 3] });
    const rows = await table("influence");
    expect(answer.explanations).toHaveLength(usage.length);
    answer.explanations.forEach((e, j) => expectSame(e, rows.filter((r) => r.query === usage[j]!.id)));
    // Duplicated content is credited once, as in the cell: the later copies' group is nobody's.
    expect(answer.explanations[0]!.contributors.map((g) => g.name)).toContain(DUPLICATE_CONTENT);
    expect(answer.explanations[0]!.contributors.map((g) => g.name)).not.toContain("copycat");
    // Shares of the positive influence sum to one, as a contributor pool splits.
    for (const e of answer.explanations) expect(e.contributors.reduce((s, g) => s + (g.share ?? 0), 0)).toBeCloseTo(1, 9);
  });

  it("keeps its training side when it will be asked again, and says of each input alone what the cell says", async () => {
    const explainer = await Explainer.load(ws, await explainSource(ws, "ex", await cellsAsRun(ws, "ex")), { keep: true });
    expect(await explainer.keptBytes()).toBe(0);
    const rows = await table("influence");
    for (const u of usage) {
      const [e] = (await explainer.explain([{ text: u.text }])).explanations;
      // The kept side's Gram block is summed in float64, the cell's in float32: the last digits differ.
      expectSame(e!, rows.filter((r) => r.query === u.id), 6);
    }
    const kept = await explainer.keptBytes();
    expect(kept).toBeGreaterThan(0);
    // Another label's question reuses it; a receipt's older loss gradient keeps a side of its own.
    await explainer.explain([{ text: usage[0]!.text }], { as: "ham" });
    expect(await explainer.keptBytes()).toBe(kept);
    await explainer.explain([{ text: usage[0]!.text }], { lossGradient: "subtracted" });
    expect(await explainer.keptBytes()).toBe(2 * kept);
  });

  it("mirrors another tracin cell when asked (its mode, checkpoints and top-k)", async () => {
    const answer = await (await load("influence_last")).explain(usage.slice(0, 4).map((u) => ({ text: u.text })));
    expect(answer).toMatchObject({ influence: "influence_last", mode: "last-layer", checkpoints: [3] });
    const rows = await table("influence_last");
    answer.explanations.forEach((e, j) => {
      expect(e.proponents.length).toBeLessThanOrEqual(4);
      expectSame(e, rows.filter((r) => r.query === usage[j]!.id));
    });
  });

  it("travels: the portable explainer a static site ships says what the explainer says, through its file", async () => {
    for (const [cell, top] of [["influence", 5], ["influence_last", 4]] as const) {
      const explainer = await load(cell);
      const portable = new PortableExplainerEngine(decodePortable(encodePortable(explainer.portable()), `${cell}.bin`));
      const inputs = [...usage.slice(0, 5).map((u) => ({ text: u.text })), { text: "winner casino discount offer meeting notes" }];
      for (const as of [undefined, "ham"]) {
        const want = await explainer.explain(inputs, { as });
        const got = portable.explain(inputs, { as });
        const { seconds: _s, engine: _e, explanations: wantE, ...wantMeta } = want;
        const { seconds: _s2, engine, explanations: gotE, ...gotMeta } = got;
        expect(gotMeta).toEqual(wantMeta);
        expect(engine).toBe("portable explainer, TypeScript float64");
        gotE.forEach((e, j) => {
          const w = wantE[j]!;
          expect([e.prediction, e.target]).toEqual([w.prediction, w.target]);
          e.probabilities.forEach((c, k) => expect(c.p).toBeCloseTo(w.probabilities[k]!.p, 5));
          expect(e.proponents.length).toBeLessThanOrEqual(top);
          // Float64 here, float32 there: the same rows in the same order, scores to 1e-4 of the largest.
          const scale = Math.max(...[...w.proponents, ...w.opponents].map((c) => Math.abs(c.score)));
          for (const [mine, theirs] of [[e.proponents, w.proponents], [e.opponents, w.opponents]] as const) {
            expect(mine.map(({ score: _, ...c }) => c)).toEqual(theirs.map(({ score: _, ...c }) => c));
            mine.forEach((c, i) => expect(Math.abs(c.score - theirs[i]!.score)).toBeLessThanOrEqual(1e-4 * scale));
          }
          for (const [mine, theirs] of [[e.contributors, w.contributors], [e.datanets, w.datanets]] as const) {
            expect(mine.map((g) => g.name)).toEqual(theirs.map((g) => g.name));
            mine.forEach((g, i) => expect(g.share ?? -1).toBeCloseTo(theirs[i]!.share ?? -1, 4));
          }
        });
      }
    }
  });

  it("traces another label when asked, and refuses what it cannot explain", async () => {
    const explainer = await load();
    const input = [{ text: "winner casino discount offer meeting notes" }];
    const [plain] = (await explainer.explain(input)).explanations;
    const [same] = (await explainer.explain(input, { as: plain!.prediction })).explanations;
    expect(same).toEqual(plain);
    const other = plain!.prediction === "spam" ? "ham" : "spam";
    const [flipped] = (await explainer.explain(input, { as: other, top: 2 })).explanations;
    expect(flipped!.target).toBe(other);
    expect(flipped!.prediction).toBe(plain!.prediction);
    expect(flipped!.proponents.length).toBeLessThanOrEqual(2);
    // What speaks for the other label is not what speaks for the prediction.
    expect(flipped!.proponents.map((c) => c.contribution)).not.toEqual(plain!.proponents.slice(0, 2).map((c) => c.contribution));
    await expect(explainer.explain(input, { as: "eggs" })).rejects.toThrow(/as: "eggs" is not one of the model's classes \(ham, spam\)/);
    await expect(explainer.explain(input, { top: 0 })).rejects.toThrow(/top: a count of at least 1/);
    await expect(explainer.explain([])).rejects.toThrow(/at least one input/);
    await expect(explainer.explain([{ text: "fine" }, { features: [1, 2] }])).rejects.toThrow(/^input 2 has no text to featurize/);
  });

  it("records nothing: no inference, no run", async () => {
    const count = async () => (await ws.rows<{ n: bigint }>("select (select count(*) from runs) + (select count(*) from inferences) as n"))[0]!.n;
    const before = await count();
    await (await load()).explain([{ text: "lunch meeting" }]);
    expect(await count()).toBe(before);
  });

  it("names what is missing: a pipeline never run, a cell that is not tracin", async () => {
    await expect(explainSource(ws, "nope", await cellsAsRun(ws, "nope"))).rejects.toThrow(/pipeline "nope" has no outputs in this workspace: run `tracebook run nope` first/);
    await expect(explainSource(ws, "ex", new Map([["usage", { kind: "inferences", params: {} }]]))).rejects.toThrow(/pipeline "ex" has no tracin cell: a question about attribution needs one/);
    await expect(explainSource(ws, "ex", await cellsAsRun(ws, "ex"))).resolves.toMatchObject({ influence: "influence" });
    await expect(explainSource(ws, "ex", await cellsAsRun(ws, "ex"), "usage")).rejects.toThrow(/has no tracin cell "usage" \(tracin cells: influence, influence_last\)/);
  });

  it("recomputes receipts from the checkpoints: a seeded sample, all matching, and a doctored one caught", async () => {
    const all = await recomputeReceipts(ws, "ex", "receipts", { sample: 100, seed: 3 });
    expect(all).toMatchObject({ receipts: "receipts", influence: "influence", sampled: usage.length, of: usage.length, seed: 3, mismatched: [] });
    // A doctored receipt (its first proponent's score), which only a recomputation can tell from a real one.
    const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'receipts' and status = 'succeeded'");
    const original = fs.readFileSync(run!.artifact);
    const [victim] = await ws.rows<{ query: string; receipt: string }>("select query, receipt from read_parquet(?) order by query limit 1", [run!.artifact]);
    const doctored = JSON.parse(victim!.receipt);
    doctored.top_contributions[0].score *= 1.01;
    await ws.run(`copy (select query, model_id, prediction, receipt_hash, case when query = ? then ? else receipt end as receipt from read_parquet(?)) to '${run!.artifact}.tmp' (format parquet)`,
      [victim!.query, JSON.stringify(doctored), run!.artifact]);
    fs.renameSync(`${run!.artifact}.tmp`, run!.artifact);
    try {
      const again = await recomputeReceipts(ws, "ex", "receipts", { sample: 100, seed: 3 });
      expect(again.mismatched).toEqual([{ query: victim!.query, why: expect.stringMatching(/^score of [0-9a-f]{8}: receipt .*, recomputed /) }]);
    } finally {
      fs.writeFileSync(run!.artifact, original);
    }
    const some = await recomputeReceipts(ws, "ex", "receipts", { sample: 4, seed: 3 });
    expect([some.sampled, some.mismatched]).toEqual([4, []]);
    await expect(recomputeReceipts(ws, "ex", "influence", { sample: 4, seed: 3 })).rejects.toThrow(/has no receipts cell "influence"/);
  });

  describe("tracebook explain", () => {
    const cli = (args: string[], input = "") => {
      ws?.close(); // the CLI opens the workspace itself
      ws = undefined as unknown as Workspace;
      return spawnSync(process.execPath, [BIN, "--workspace", setup.home, ...args], { encoding: "utf8", timeout: 120_000, input });
    };
    afterAll(async () => {
      ws = await openWorkspace({ home: setup.home });
    });

    it("prints the explanation, or JSON, and exits 2 on what the caller got wrong", async () => {
      const text = cli(["explain", setup.file, "winner casino discount offer", "--top", "3"]);
      expect(text.stderr).toBe("");
      expect(text.stdout.match(/^│ 3 /gm)).toHaveLength(2); // three proponents, three opponents
      expect(text.status).toBe(0);
      expect(text.stdout).toMatch(/Explained as the ex pipeline's influence cell would: TracIn exact over checkpoints 1, 2, 3 of model [0-9a-f]{12}/);
      expect(text.stdout).toMatch(/Not an executed inference: nothing is recorded, nothing is paid/);
      expect(text.stdout).toMatch(/Prediction: spam \(spam \d+\.\d%, ham \d+\.\d%\)/); // most probable first
      const json = cli(["explain", setup.file, "lunch meeting notes", "-", "--json", "--as", "spam"], "winner winner casino\nsecond line");
      expect(json.status).toBe(0);
      const answer = JSON.parse(json.stdout);
      expect(answer.explanations).toHaveLength(2);
      expect(answer.explanations.map((e: Explanation) => e.target)).toEqual(["spam", "spam"]);
      // The second input came from standard input: the sales words make it spam.
      expect(answer.explanations.map((e: Explanation) => e.prediction)).toEqual(["ham", "spam"]);
      expect(text.stdout.match(/^Proponents/gm)).toHaveLength(1);
      // A curator's question: a contribution explained as its own label (ids as decisions take them).
      const [row] = await (async () => {
        const w = await openWorkspace({ home: setup.home });
        try {
          return await w.rows<{ id: string; label: string }>("select id, label from contributions where datanet = 'notes' and split = 'train' order by id limit 1");
        } finally {
          w.close();
        }
      })();
      // The first training row is also in "copies" (same content, same id): which one is asked.
      expect(cli(["explain", setup.file, "--contribution", row!.id.slice(0, 10)])).toMatchObject({ status: 2, stderr: expect.stringMatching(/matches 2 contributions: .*\(copies, approved\), .*\(notes, approved\); restrict to one Datanet \(--datanet <name>\)/) });
      const asked = cli(["explain", setup.file, "--contribution", row!.id.slice(0, 10), "--datanet", "notes", "--json", "--top", "5"]);
      expect(asked.status, asked.stderr).toBe(0);
      const about = JSON.parse(asked.stdout);
      expect(about.explanations).toEqual([]);
      expect(about.contributions).toHaveLength(1);
      expect(about.contributions[0]).toMatchObject({ id: row!.id, datanet: "notes", label: row!.label, split: "train", status: "approved" });
      expect(about.contributions[0].explanation.target).toBe(row!.label);
      expect(about.contributions[0].explanation.proponents.length).toBeGreaterThan(0);
      expect(cli(["explain", setup.file])).toMatchObject({ status: 2, stderr: expect.stringMatching(/say what to explain: give inputs, or --contribution <id>/) });
      expect(cli(["explain", setup.file, "--contribution", "zz"])).toMatchObject({ status: 2, stderr: expect.stringMatching(/"zz" is not a contribution id/) });
      for (const [args, message] of [
        [["--as", "eggs"], /as: "eggs" is not one of the model's classes/],
        [["--top", "0"], /--top: a count of at least 1/],
        [["--influence", "usage"], /has no tracin cell "usage"/],
      ] as const) {
        const r = cli(["explain", setup.file, "hello", ...args]);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(message);
      }
    });

    it("infer warns when no usage ledger reads the model, and --settle fails saying so (the execution stays recorded)", () => {
      const warned = cli(["infer", setup.file, "--model", "model", "--id", "ex-paid-1", "--", "winner casino"]);
      expect(warned.status, warned.stderr).toBe(0);
      expect(warned.stderr).toMatch(/^Warning: recorded in the usage ledger, but no usageLedger cell of ex reads model cell "model": this fee will not be attributed or paid out/);
      const settle = cli(["infer", setup.file, "--model", "model", "--id", "ex-paid-2", "--settle", "--", "winner casino"]);
      expect(settle.status).toBe(1);
      expect(settle.stderr).toMatch(/recorded in the usage ledger, but no usageLedger cell of ex reads model cell "model"/);
      expect(cli(["receipt", "ex-paid-2"])).toMatchObject({ status: 1, stdout: expect.stringMatching(/✗ settled: no reward line pays this fee yet: no usageLedger cell of pipeline ex has run, so nothing settles it/) });
    });
  });
});
