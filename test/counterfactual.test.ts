import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tf } from "../cells/compute/backend.ts";
import { ingest } from "../cells/datanet/ingest.ts";
import { loadExamples } from "../cells/factory/examples.ts";
import { classProbabilities } from "../cells/factory/predict.ts";
import { loadWeights } from "../cells/factory/store.ts";
import { toTensors } from "../cells/factory/mlp.ts";
import { trainAsManifest } from "../cells/quality/retrain.ts";
import { accuracyAndLoss, canonicalRemoval, compareOutputs, loadPipeline, runPipeline, splitRows, untrainedIds } from "../cells/index.ts";
import { openWorkspace, type Workspace } from "../cells/store/workspace.ts";
import { pipelineFile, tempDir } from "./helpers/workspace.ts";
import { NotebookData } from "../cells/notebooks/data.ts";
import { separableDatanet } from "./helpers/datanets.ts";

const ref = (id: string, contributor: string, datanet = "d") => ({ id, contributor, datanet });

describe("which rows a removal leaves out", () => {
  const refs = [ref("aaaaaaaa11", "ann"), ref("aaaaaaaa22", "bob"), ref("bbbbbbbb33", "bob", "e"), ref("cccccccc44", "cy", "e")];

  it("is the union of the lists, whatever their order", () => {
    expect(splitRows(refs, canonicalRemoval({ contributors: ["ann"], datanets: ["e"] }))).toEqual({ removed: [0, 2, 3], kept: [1] });
    expect(canonicalRemoval({ contributors: ["bob", "ann", "bob"], ids: ["CCCCCCCC44"] })).toEqual(canonicalRemoval({ ids: ["cccccccc44"], contributors: ["ann", "bob"] }));
    expect(splitRows(refs, canonicalRemoval({ ids: ["bbbbbbbb"] }))).toEqual({ removed: [2], kept: [0, 1, 3] });
    // A curator's selection with held-out rows: those set aside are the ids no training row starts with.
    expect(untrainedIds(refs, ["aaaaaaaa", "dddddddd11", "cccccccc44", "eeeeeeee"])).toEqual(["dddddddd11", "eeeeeeee"]);
  });

  it("refuses what matches nothing, an ambiguous prefix, removing everything, and an empty question", () => {
    expect(() => splitRows(refs, canonicalRemoval({ contributors: ["ann", "dora"] }))).toThrow(/^counterfactual: contributor "dora" contributed no training row of this model \(its contributors: ann, bob, cy\)$/);
    // A typo gets the nearest name; several names missing, just the list.
    expect(() => splitRows(refs, canonicalRemoval({ contributors: ["bbo"] }))).toThrow('contributor "bbo" contributed no training row of this model (did you mean "bob"? its contributors: ann, bob, cy)');
    expect(() => splitRows(refs, canonicalRemoval({ contributors: ["bbo", "an"], datanets: ["zz"] })))
      .toThrow('contributor "an", contributor "bbo", Datanet "zz" contributed no training row of this model (its contributors: ann, bob, cy; its Datanets: d, e)');
    const many = Array.from({ length: 30 }, (_, i) => ref(`dddddddd${String(i).padStart(2, "0")}`, `c${String(i).padStart(2, "0")}`));
    expect(() => splitRows(many, canonicalRemoval({ contributors: ["x99"] }))).toThrow(/\(its contributors: c00, c01, c02, .*, c11, … \(30 in all\)\)$/);
    expect(() => splitRows(refs, canonicalRemoval({ ids: ["aaaaaaaa"] }))).toThrow(/aaaaaaaa matches several contributions/);
    expect(() => splitRows(refs, canonicalRemoval({ datanets: ["d", "e"] }))).toThrow(/leaves no training row/);
    expect(() => canonicalRemoval({})).toThrow(/say what to leave out/);
    expect(() => canonicalRemoval({ ids: ["xyz"] })).toThrow(/not a contribution id/);
  });
});

describe("comparing two models' outputs", () => {
  it("counts flips, accuracy and loss as a brute-force pass over the queries does", () => {
    const C = 3;
    const logp = (rows: number[][]) => Float32Array.from(rows.flatMap((r) => r.map((p) => Math.log(p))));
    const before = logp([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]]);
    const after = logp([[0.6, 0.3, 0.1], [0.1, 0.4, 0.5], [0.5, 0.2, 0.3], [0.5, 0.3, 0.2]]);
    const labels = Int32Array.from([0, 2, 0, -1]);
    const estimate = [0.1, 0.3, 0.9, -0.2];
    const { changes, summary } = compareOutputs(C, before, after, estimate);
    expect(changes.map((c) => [c.before, c.after, c.flipped])).toEqual([[0, 0, false], [1, 2, true], [2, 0, true], [0, 0, false]]);
    expect(changes[1]!.deltaLoss).toBeCloseTo(Math.log(0.6) - Math.log(0.4), 6);
    // Labelled: rows 0-2. Before: right on row 0 only; after: rows 0, 1 and 2.
    const scoredBefore = accuracyAndLoss(C, before, labels)!, scoredAfter = accuracyAndLoss(C, after, labels)!;
    expect(scoredBefore.accuracy).toBeCloseTo(1 / 3, 12);
    expect(scoredAfter.accuracy).toBeCloseTo(1, 12);
    expect(scoredBefore.loss).toBeCloseTo(-(Math.log(0.7) + Math.log(0.3) + Math.log(0.3)) / 3, 6);
    expect(scoredAfter.loss).toBeCloseTo(-(Math.log(0.6) + Math.log(0.5) + Math.log(0.5)) / 3, 6);
    expect(accuracyAndLoss(C, before, Int32Array.from([-1, -1, -1, -1]))).toBeNull();
    expect(summary.flips).toBe(2);
    // TracIn's two largest estimates are rows 2 and 1: both flipped ones found.
    expect(summary.flipsFound).toBe(2);
    expect(summary.flipsSeed).toBeNull();
  });
});

const CELLS = path.resolve("cells/index.ts");

/**
 * notes (separable spam/ham) plus Mallory's Datanet of sales mail labelled "ham", and a pipeline
 * file over them: the model, its tracin cell, and two counterfactuals naming her rows two ways.
 */
async function poisonedHome(): Promise<{ home: string; file: string }> {
  const home = tempDir("tb-cf-");
  const ws = await openWorkspace({ home });
  try {
    await separableDatanet(ws, "notes", 160);
    const sales = ["discount", "winner", "casino", "pills", "offer"];
    const rows = Array.from({ length: 48 }, (_, i) => ({
      text: `${sales[i % 5]} ${sales[(i + 2) % 5]} schedule team ${i}`, label: "ham", contributor: "mallory",
      submittedAt: new Date("2024-02-01T00:00:00Z"), source: `poison#${i}`,
    }));
    await ingest(ws, { name: "poison", kind: "text", description: "poison", source: "test", contributorRule: "test", splitSeed: 0, testFraction: 0 }, rows, {
      mode: "create", status: "approved", validator: "test", importer: "test@1",
    });
  } finally {
    ws.close();
  }
  // Plain SGD: the setting TracIn's first-order argument is made in.
  const file = pipelineFile("cf", `import { baseModel, counterfactual, datanet, finetune, hashedNgrams, pipeline, sql, tracin } from ${JSON.stringify(CELLS)};
const common = { epochs: 4, batchSize: 16, optimizer: { name: "sgd" }, seed: 5 };
export default pipeline("cf", {
  notes: datanet("notes"),
  poison: datanet("poison"),
  train: sql\`select * from \${"notes"} where split = 'train' union all select * from \${"poison"}\`,
  queries: sql\`select * from \${"notes"} where split = 'test'\`,
  half: sql\`select * from \${"notes"} where split = 'train' and id < '8'\`,
  base: baseModel({ data: "half", featurizer: hashedNgrams({ dims: 64 }), hidden: [8], schedule: { kind: "constant", lr: 0.2 }, ...common }),
  model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, schedule: { kind: "constant", lr: 0.2 }, checkpoints: 3, ...common }),
  influence: tracin({ model: "model", train: "train", test: "queries", topK: 3 }),
  without_mallory: counterfactual({ model: "model", train: "train", queries: "queries", without: { contributors: ["mallory"] }, replicateSeed: 9 }),
  without_poison: counterfactual({ model: "model", train: "train", queries: "queries", without: { datanets: ["poison"] } }),
});
`);
  return { home, file };
}

describe("counterfactual cell: a poisoned Datanet left out", () => {
  let ws: Workspace;
  beforeAll(async () => {
    const { home, file } = await poisonedHome();
    ws = await openWorkspace({ home });
    const { pipeline } = await loadPipeline(file);
    expect((await runPipeline(ws, pipeline)).failed).toEqual([]);
  }, 180_000);
  afterAll(() => ws?.close());

  const out = async (cell: string, where = "true") => {
    const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = ? and status = 'succeeded'", [cell]);
    return ws.rows<Record<string, any>>(`select * from read_parquet(?) where ${where}`, [run!.artifact]);
  };

  it("writes a summary and one row per query, consistent with each other", async () => {
    const [summary] = await out("without_mallory", "row = 'summary'");
    const queries = await out("without_mallory", "row = 'query'");
    expect(summary!.removed_contributions).toBe(48);
    expect(summary!.removed_contributors).toBe(1);
    expect(queries.length).toBe((await ws.rows("select 1 from contributions where datanet = 'notes' and split = 'test'")).length);
    const right = (col: string) => queries.filter((q) => q[col] === q.label).length / queries.length;
    expect(summary!.accuracy_before).toBeCloseTo(right("prediction_before"), 12);
    expect(summary!.accuracy_after).toBeCloseTo(right("prediction_after"), 12);
    expect(summary!.flips).toBe(queries.filter((q) => q.prediction_before !== q.prediction_after).length);
    for (const q of queries) {
      expect(q.flipped).toBe(q.prediction_before !== q.prediction_after);
      expect(q.delta_loss).toBeCloseTo(Math.log(q.p_before) - Math.log(q.p_after), 4);
      expect(q.delta_loss_seed).not.toBeNull();
    }
    expect(summary!.flips_seed).not.toBeNull();
    expect(JSON.parse(summary!.without)).toEqual({ contributors: ["mallory"], datanets: [], ids: [] });
    expect(queries.every((q) => q.without === null)).toBe(true);
    // Mallory's Datanet did not train the base (a slice of notes): nothing of her stays in it.
    expect(summary!.removed_in_base).toBe(0);
  });

  it("leaving out the mislabelled rows makes the model better, more than a seed change does, and TracIn saw it coming", async () => {
    const [s] = await out("without_mallory", "row = 'summary'");
    expect(s!.accuracy_after).toBeGreaterThan(s!.accuracy_before);
    expect(s!.loss_after).toBeLessThan(s!.loss_before);
    // Trained by plain SGD, the setting TracIn's first-order argument is made in, the estimate
    // ranks the outputs as the retrain moves them (measured: Spearman 0.94, 23 of 25 flips found).
    expect(s!.spearman).toBeGreaterThan(0.8);
    expect(s!.flips_found).toBeGreaterThanOrEqual(0.8 * s!.flips);
    expect(s!.flips).toBeGreaterThan(s!.flips_seed);
  });

  it("the estimate is Mallory's net influence in the tracin table, and 'before' is the model that table explains", async () => {
    const queries = await out("without_mallory", "row = 'query'");
    const table = await out("influence", "level = 'contributor' and contributor = 'mallory'");
    const byQuery = new Map(table.map((r) => [r.query, r]));
    expect(byQuery.size).toBe(queries.length);
    for (const q of queries) {
      const t = byQuery.get(q.query)!;
      expect(q.prediction_before).toBe(t.prediction);
      expect(q.p_before).toBeCloseTo(t.confidence, 5);
      // The same sum by two code paths (a subset's group sum here, per contributor there): equal to float rounding.
      expect(Math.abs(q.estimate - t.score)).toBeLessThanOrEqual(5e-5 * Math.abs(t.score) + 1e-12);
    }
  });

  it("the same rows named another way give the same retrain", async () => {
    const a = await out("without_mallory", "row = 'query' order by query");
    const b = await out("without_poison", "row = 'query' order by query");
    expect(b.map((r) => [r.query, r.prediction_after, r.p_after])).toEqual(a.map((r) => [r.query, r.prediction_after, r.p_after]));
    expect(b[0]!.delta_loss_seed).toBeNull();
  });

  it("retraining with nothing left out reproduces the stored model: 'before' and 'after' differ only by what was removed", async () => {
    const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'model' and status = 'succeeded'");
    const [row] = await ws.rows<{ model_id: string }>("select model_id from read_parquet(?)", [run!.artifact]);
    const { manifest, weights } = loadWeights(ws.home, row!.model_id);
    const base = loadWeights(ws.home, manifest.base!).weights;
    const [trainRun] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'train' and status = 'succeeded'");
    const data = await loadExamples(ws, `(select * from read_parquet('${trainRun!.artifact}'))`, manifest.featurizer!, manifest.spec.classes, "train");
    const again = await trainAsManifest(manifest, base, data, { checkpoints: 1 });
    const w0 = toTensors(weights), w1 = toTensors(again.weights);
    try {
      const p0 = await classProbabilities(manifest.spec, data.x, w0, { base: again.frozen!, lora: manifest.lora! });
      const p1 = await classProbabilities(manifest.spec, data.x, w1, { base: again.frozen!, lora: manifest.lora! });
      expect(Array.from(p1)).toEqual(Array.from(p0));
    } finally {
      tf.dispose([...Object.values(w0), ...Object.values(w1), ...Object.values(again.frozen!)]);
    }
    expect(splitRows(data.refs, canonicalRemoval({ contributors: ["mallory"] })).removed.length).toBe(48);
  });
});

describe("tracebook what-if", () => {
  const BIN = path.resolve("bin/tracebook.js");
  const tracebook = (args: string[], home: string) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, TRACEBOOK_HOME: home }, timeout: 120_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it("asks a pipeline without editing it: runs what is stale, answers, and answers the same question again from the cache", async () => {
    const { home, file } = await poisonedHome();
    const first = tracebook(["what-if", file, "--contributor", "mallory", "--held-out", "queries", "--json"], home);
    expect(first.code, first.err).toBe(0);
    const a = JSON.parse(first.out);
    expect(a.fresh).toBe(false);
    expect(a.summary).toMatchObject({ removed_contributions: 48, measured_on: "queries", without: JSON.stringify({ contributors: ["mallory"], datanets: [], ids: [] }) });
    expect(a.summary.accuracy_after).toBeGreaterThan(a.summary.accuracy_before);
    expect(a.queries.length).toBe(a.summary.measured_rows);
    // The pipeline's own counterfactual cell asks the same question: the same retrain.
    const ws = await openWorkspace({ home });
    try {
      const { pipeline } = await loadPipeline(file);
      expect((await runPipeline(ws, pipeline, { cell: "without_mallory" })).failed).toEqual([]);
      const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'without_mallory' and status = 'succeeded'");
      const own = await ws.rows<{ query: string; p_after: number }>("select query, p_after from read_parquet(?) where row = 'query' order by query", [run!.artifact]);
      const asked = [...a.queries].sort((x: { query: string }, y: { query: string }) => x.query.localeCompare(y.query));
      expect(asked.map((q: { query: string; p_after: number }) => [q.query, q.p_after])).toEqual(own.map((q) => [q.query, q.p_after]));
    } finally {
      ws.close();
    }
    const human = tracebook(["what-if", file, "--contributor", "mallory", "--held-out", "queries"], home);
    expect(human.code, human.err).toBe(0);
    expect(human.out).toMatch(/answered before: reused/);
    expect(human.out).toMatch(/What if cf had been trained without contributor mallory: 48 of \d+ training rows left out/);
    expect(human.out).toMatch(/accuracy on queries \(\d+ rows\)/);
    expect(human.out).toMatch(/Predictions that flip: \d+ of \d+/);

    // The notebooks list the pipeline's cells, not the questions asked of it.
    const data = new NotebookData({ home });
    const cells = (await data.catalog("cf")).cells.map((c) => c.cell);
    expect(cells, cells.join(" ")).toEqual(expect.arrayContaining(["model", "without_mallory"]));
    expect(cells.filter((c) => c.startsWith("what_if_"))).toEqual([]);
    data.close();

    const wrong = tracebook(["what-if", file, "--contributor", "nobody"], home);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/contributor "nobody" contributed no training row of this model/);
    expect(tracebook(["what-if", file], home).err).toMatch(/say what to leave out: give --contributor, --datanet, --id or --proponents-of/);
  }, 240_000);
  it("asks whether one inference would hold without the proponents TracIn lists for it", async () => {
    const { home, file } = await poisonedHome();
    const ws = await openWorkspace({ home });
    let query: string, listed: string[];
    try {
      const { pipeline } = await loadPipeline(file);
      expect((await runPipeline(ws, pipeline, { cell: "influence" })).failed).toEqual([]);
      const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'influence' and status = 'succeeded'");
      [{ query }] = await ws.rows<{ query: string }>("select min(query) as query from read_parquet(?)", [run!.artifact]) as [{ query: string }];
      listed = (await ws.rows<{ key: string }>("select key from read_parquet(?) where query = ? and level = 'contribution' and rank > 0 order by rank", [run!.artifact, query])).map((r) => r.key);
    } finally {
      ws.close();
    }
    expect(listed.length).toBe(3); // the cell's topK
    const json = tracebook(["what-if", file, "--proponents-of", query.slice(0, 10), "--top", "2", "--json"], home);
    expect(json.code, json.err).toBe(0);
    const a = JSON.parse(json.out);
    expect(a.proponentsOf).toEqual({ query, ids: listed.slice(0, 2) });
    expect(JSON.parse(a.summary.without).ids).toEqual([...listed.slice(0, 2)].sort());
    expect(a.summary.removed_contributions).toBe(2);
    const mine = a.queries.find((q: { query: string }) => q.query === query);
    const human = tracebook(["what-if", file, "--proponents-of", query.slice(0, 10), "--top", "2"], home);
    expect(human.out.split("\n").find((l) => l.startsWith("Inference "))).toBe(`Inference ${query.slice(0, 12)} ${mine.flipped ? `flips: ${mine.prediction_before} → ${mine.prediction_after}` : `holds: ${mine.prediction_before}`}, ` +
      `p(${mine.prediction_before}) ${mine.p_before.toFixed(3)} → ${mine.p_after.toFixed(3)}; the rise of its loss: TracIn estimated ${mine.estimate.toFixed(4)}, the retrain gives ${mine.delta_loss.toFixed(4)}.`);
    expect(human.out).toMatch(/answered before: reused/);
    expect(tracebook(["what-if", file, "--proponents-of", "ffffffffffff"], home).err).toMatch(/no inference ffffffffffff in cf's influence cell/);
    expect(tracebook(["what-if", file, "--top", "2", "--contributor", "mallory"], home).err).toMatch(/--top goes with --proponents-of/);
  }, 240_000);

  it("previews a curator's rejection: the selection's training rows left out, held-out ones set aside, nothing decided", async () => {
    const { home, file } = await poisonedHome();
    const ws = await openWorkspace({ home });
    let picked: { id: string; split: string }[], trail: number;
    try {
      picked = await ws.rows("select id, split from contributions where datanet = 'notes' and id < '3' order by id");
      trail = (await ws.rows("select 1 from validations")).length;
    } finally {
      ws.close();
    }
    const trained = picked.filter((r) => r.split === "train"), held = picked.filter((r) => r.split === "test");
    expect(trained.length).toBeGreaterThan(3);
    expect(held.length).toBeGreaterThan(0);
    const reject = ["curate", "reject", "--datanet", "notes", "--where", "id < '3'", "--reason", "suspect"];

    const json = tracebook([...reject, "--dry-run", "--what-if", file, "--json"], home);
    expect(json.code, json.err).toBe(0);
    const out = JSON.parse(json.out);
    expect(out.dryRun).toBe(true);
    expect(out.targets).toHaveLength(picked.length);
    expect(out.whatIf.setAside).toEqual(held.map((r) => r.id));
    // Every row of notes with an id below '8' trained the base too (the pipeline's `half`).
    expect(out.whatIf.summary).toMatchObject({ removed_contributions: trained.length, removed_in_base: trained.length });
    expect(JSON.parse(out.whatIf.summary.without).ids).toEqual(trained.map((r) => r.id));

    const human = tracebook([...reject, "--dry-run", "--what-if", file], home);
    expect(human.code, human.err).toBe(0);
    expect(human.out).toMatch(new RegExp(`would reject ${picked.length} contributions`));
    expect(human.out).toMatch(new RegExp(`What if cf had been trained without ${trained.length} contributions \\(${trained[0]!.id.slice(0, 12)}, .*…\\): ${trained.length} of \\d+ training rows left out`));
    expect(human.out).toMatch(/answered before: reused/);
    expect(human.out).toContain(`${held.length} of the contributions asked about did not train this model (held out, or not approved)`);
    expect(human.out).toContain(`${trained.length} of the left-out rows also trained the base model, which the retrain keeps as it is`);

    // A preview decides nothing, and goes only with --dry-run, on reject or quarantine.
    const check = await openWorkspace({ home });
    try {
      expect((await check.rows("select 1 from validations")).length).toBe(trail);
      expect(await check.rows("select distinct status from contributions where datanet = 'notes' and id < '3'")).toEqual([{ status: "approved" }]);
    } finally {
      check.close();
    }
    const live = tracebook([...reject, "--what-if", file], home);
    expect([live.code, live.err.trim()]).toEqual([2, "tracebook: --what-if previews a decision without making it: add --dry-run"]);
    const approve = tracebook(["curate", "approve", "--datanet", "notes", "--where", "id < '3'", "--reason", "ok", "--dry-run", "--what-if", file], home);
    expect(approve.code).toBe(2); // a usage error: the caller's, like bad input
    expect(approve.err).toMatch(/unknown option '--what-if'/);
    // Asked directly: a held-out id is refused, or with --only-trained set aside (and alone, nothing is left to ask).
    // A long command line (the notebook server asks a curator's preview as --id arguments): past
    // ~32 KB, onnxruntime's telemetry overflowed the native stack and the process died (SIGSEGV).
    const long = tracebook(["what-if", file, "--json", ...Array.from({ length: 600 }, () => `--id=${trained[0]!.id}`)], home);
    expect([long.code, long.err.split("\n").filter((l) => l.startsWith("tracebook:"))]).toEqual([0, []]);
    expect(JSON.parse(long.out).summary.removed_contributions).toBe(1);
    const strict = tracebook(["what-if", file, "--id", held[0]!.id], home);
    expect([strict.code, strict.err]).toEqual([2, expect.stringMatching(/contribution [0-9a-f]{64} contributed no training row of this model/)]);
    const lenient = tracebook(["what-if", file, "--id", held[0]!.id, "--only-trained"], home);
    expect([lenient.code, lenient.err]).toEqual([2, expect.stringMatching(/none of the 1 contribution asked about trained the model of cf \(held out, or not approved\)/)]);
  }, 240_000);
});
