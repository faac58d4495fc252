import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { baseModel, counterfactual, datanet, finetune, hashedNgrams, inferences, pipeline, retrainDiff, runPipeline, sql } from "../cells/index.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { importExternal } from "../cells/factory/imported.ts";
import { modelsRoot } from "../cells/factory/store.ts";
import { collectGarbage, planGc } from "../cells/graph/gc.ts";
import { pipelineStatus } from "../cells/graph/status.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import { outputOf, pipelineFile, tempDir } from "./helpers/workspace.ts";
import { loadPipeline } from "../cells/graph/loader.ts";
import { separableDatanet } from "./helpers/datanets.ts";

const common = { epochs: 2, batchSize: 16, optimizer: { name: "adam" as const }, schedule: { kind: "constant" as const, lr: 0.01 }, seed: 5 };
const gcPipeline = pipeline("gc", {
  notes: datanet("notes"),
  train: sql`select * from ${"notes"} where split = 'train'`,
  queries: sql`select * from ${"notes"} where split = 'test'`,
  base: baseModel({ data: "train", featurizer: hashedNgrams({ dims: 64 }), hidden: [8], ...common }),
  model: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, checkpoints: 1, ...common }),
  // A second adapter, never called: once retrained, nothing names its first version.
  spare: finetune({ data: "train", base: "base", adapter: { rank: 2, alpha: 4, targets: ["dense_1"] }, checkpoints: 1, ...common, seed: 6 }),
  // Paid inferences of the adapter: the ledger names it, so it must outlive a retrain.
  usage: inferences({ models: { model: 1 }, queries: "queries", calls: 5, fee: "0.001", callers: ["agent:a"], epoch: "e1", seed: 1 }),
  // A what-if answer: evidence, kept for every model it was asked of.
  without_c0: counterfactual({ model: "spare", train: "train", queries: "queries", without: { contributors: ["c0"] } }),
});

const models = (home: string) => fs.readdirSync(modelsRoot(home)).sort();
const files = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();

describe("tracebook gc", () => {
  it("removes what a rerun superseded, keeps current outputs, paid and imported models, and nothing breaks", async () => {
    const home = tempDir("tb-gc-");
    let ws = await openWorkspace({ home });
    await separableDatanet(ws, "notes", 80);
    expect((await runPipeline(ws, gcPipeline)).failed).toEqual([]);
    const first = models(home);
    expect(first).toHaveLength(3); // the base and two adapters
    const modelOf = async (cell: string) => {
      const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = ? and status = 'succeeded' order by finished_at desc limit 1", [cell]);
      return (await ws.rows<{ model_id: string }>("select model_id from read_parquet(?)", [run!.artifact]))[0]!.model_id;
    };
    const artifactsBefore = files(path.join(home, "artifacts"));
    // A curator's rejection: the next run trains a new base and adapter and writes new outputs.
    const [row] = await ws.rows<{ id: string }>("select id from contributions where split = 'train' order by id limit 1");
    await decide(ws, { ids: [row!.id], verdict: "rejected", validator: "test", reason: "gc test", datanet: "notes" });
    expect((await runPipeline(ws, gcPipeline)).failed).toEqual([]);
    const second = models(home).filter((m) => !first.includes(m));
    expect(second).toHaveLength(3);
    // An imported model: the user's own, named by no cell.
    const ext = path.join(tempDir(), "ext.json");
    const ckpt = { step: 1, learning_rate: 0.1, layers: [{ kernel: [[1, -1], [0.5, 2]], bias: [0, 0.1] }, { kernel: [[1, 0], [0, 1]], bias: [0, 0] }] };
    fs.writeFileSync(ext, JSON.stringify({ format: "tracebook.external-mlp/1", classes: ["no", "yes"], checkpoints: [ckpt] }));
    const imported = (await importExternal(home, ext)).id;
    // A temp file a killed process left, long ago.
    const stale = path.join(ws.scratchDir(), "left-behind.tmp");
    fs.writeFileSync(stale, "x");
    fs.utimesSync(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

    const [{ paid } = { paid: "" }] = await ws.rows<{ paid: string }>("select string_agg(distinct model_id, ',') as paid from inferences");
    const paidModels = paid.split(",");
    expect(paidModels).toHaveLength(2); // the first adapter's inferences and the retrained one's
    const plan = await planGc(ws);
    const removedModels = plan.garbage.filter((g) => g.kind === "model").map((g) => path.basename(g.path));
    // The first spare adapter: no current output names it and it was never executed. The first
    // paid adapter stays, and with it the first base it stands on.
    const firstPaid = paidModels.find((m) => first.includes(m))!;
    const firstBase = JSON.parse(fs.readFileSync(path.join(modelsRoot(home), firstPaid, "manifest.json"), "utf8")).base;
    expect(first.filter((m) => m !== firstPaid && m !== firstBase)).toEqual(removedModels);
    expect(removedModels).toHaveLength(1);
    expect(await modelOf("spare")).not.toBe(removedModels[0]);
    // Every superseded artifact is listed, every current one kept.
    const current = new Set((await ws.rows<{ artifact: string }>(
      "select artifact from runs where status = 'succeeded' qualify row_number() over (partition by pipeline, cell order by finished_at desc) = 1")).map((r) => r.artifact));
    const evidence = new Set((await ws.rows<{ artifact: string }>("select artifact from runs where kind = 'counterfactual' and status = 'succeeded'")).map((r) => r.artifact));
    expect(evidence.size).toBe(2); // asked of the first spare adapter, then of the retrained one
    const superseded = artifactsBefore.filter((f) => !current.has(f) && !evidence.has(f));
    expect(superseded.length).toBeGreaterThan(0);
    expect(plan.garbage.filter((g) => g.kind === "artifact").map((g) => g.path).sort()).toEqual(superseded);
    expect(plan.garbage.filter((g) => g.kind === "temp").map((g) => g.path)).toEqual([stale]);

    // Paid and imported models stay; so do current outputs: everything is fresh and a report-style read works.
    const done = collectGarbage(plan);
    expect(done.removed).toBe(plan.garbage.length);
    expect(models(home)).toEqual([...first.filter((m) => m !== removedModels[0]), ...second, imported].sort());
    for (const f of [...current, ...evidence]) expect(fs.existsSync(f)).toBe(true);
    const status = await pipelineStatus(ws, gcPipeline);
    expect(status.filter((c) => c.state !== "fresh")).toEqual([]);
    expect((await planGc(ws)).garbage).toEqual([]); // a second pass finds nothing

    // Back to the first snapshot: its cached outputs are gone, so the cells run again rather than fail.
    await decide(ws, { ids: [row!.id], verdict: "approved", validator: "test", reason: "undo", datanet: "notes" });
    const rerun = await runPipeline(ws, gcPipeline);
    expect(rerun.failed).toEqual([]);
    expect(rerun.ran).toContain("train");
    ws.close();

    // From the command line: a dry run lists and removes nothing; then the models nothing names go.
    ws = await openWorkspace({ home });
    const superseded2 = (await planGc(ws)).garbage;
    ws.close();
    expect(superseded2.length).toBeGreaterThan(0);
    const bin = path.resolve("bin/tracebook.js");
    const dry = spawnSync(process.execPath, [bin, "--workspace", home, "gc", "--dry-run", "--json"], { encoding: "utf8" });
    expect(dry.status, dry.stderr).toBe(0);
    const json = JSON.parse(dry.stdout);
    expect(json.dryRun).toBe(true);
    expect(json.garbage.map((g: { path: string }) => g.path).sort()).toEqual(superseded2.map((g) => g.path).sort());
    for (const g of superseded2) expect(fs.existsSync(g.path)).toBe(true);
    const real = spawnSync(process.execPath, [bin, "--workspace", home, "gc"], { encoding: "utf8" });
    expect(real.status, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/Freed \d+\.\d MiB; kept \d+ tables \(current outputs, evaluations, what-if answers\) and \d+ models/);
    for (const g of superseded2) expect(fs.existsSync(g.path)).toBe(false);
  }, 240_000);

  it("keeps the model a retrain superseded while a retrainDiff cell compares it with the current one", async () => {
    const home = tempDir("tb-gc-retrain-");
    const ws = await openWorkspace({ home });
    let closed = false;
    try {
      await separableDatanet(ws, "notes", 80);
      // The gc pipeline's cells up to its adapter, and a retrain comparison.
      const p = pipeline("gcr", ["notes", "train", "queries", "base", "model"].map((n) => [n, gcPipeline.cells.get(n)!] as const), {
        last_retrain: retrainDiff({ model: "model", on: "queries" }),
      });
      expect((await runPipeline(ws, p)).failed).toEqual([]);
      const first = models(home);
      const [row] = await ws.rows<{ id: string }>("select id from contributions where split = 'train' order by id limit 1");
      await decide(ws, { ids: [row!.id], verdict: "rejected", validator: "test", reason: "gc test", datanet: "notes" });
      expect((await runPipeline(ws, p)).failed).toEqual([]);
      const [compared] = await ws.rows<{ model_a: string; model_b: string }>(
        "select model_a, model_b from read_parquet(?) where level = 'model'", [await outputOf(ws, "gcr", "last_retrain")]);
      expect(first).toContain(compared!.model_a);
      // Nothing was paid: only last_retrain names the first adapter, and through it its base.
      const plan = await planGc(ws);
      expect(plan.garbage.filter((g) => g.kind === "model")).toEqual([]);
      collectGarbage(plan);
      expect(models(home)).toEqual(expect.arrayContaining(first));
      ws.close(); // the command line opens the workspace itself
      closed = true;
      const diff = spawnSync(process.execPath, [path.resolve("bin/tracebook.js"), "--workspace", home, "model", "diff", "gcr.model", "--json"], { encoding: "utf8" });
      expect(diff.status, diff.stderr).toBe(0);
      expect(JSON.parse(diff.stdout)).toMatchObject({ a: { id: compared!.model_a }, b: { id: compared!.model_b } });
    } finally {
      if (!closed) ws.close();
    }
  }, 120_000);

  it("removes the outputs of a cell taken out of its pipeline's file, and keeps every output of a pipeline whose file does not load", async () => {
    const home = tempDir("tb-gc-drop-");
    const ws = await openWorkspace({ home });
    await separableDatanet(ws, "notes", 20);
    const source = (extra: string) => `import { datanet, pipeline, sql } from ${JSON.stringify(path.resolve("cells/index.ts"))};
export default pipeline("drop", {
  notes: datanet("notes"),
  train: sql\`select * from \${"notes"} where split = 'train'\`,
${extra}});
`;
    const file = pipelineFile("drop", source(`  labels: sql\`select label, count(*) as n from \${"train"} group by label\`,\n`));
    const other = pipelineFile("other", source("").replace('pipeline("drop"', 'pipeline("other"'));
    for (const f of [file, other]) expect((await runPipeline(ws, (await loadPipeline(f)).pipeline, { file: f })).failed).toEqual([]);
    const [labels] = await ws.rows<{ data_version: string }>("select data_version from runs where pipeline = 'drop' and cell = 'labels' and status = 'succeeded'");
    ws.close();
    // labels leaves the file; the other pipeline's file breaks.
    fs.writeFileSync(file, source(""));
    fs.writeFileSync(other, "export default {syntax error");
    const bin = path.resolve("bin/tracebook.js");
    const dry = spawnSync(process.execPath, [bin, "--workspace", home, "gc", "--dry-run", "--json"], { encoding: "utf8" });
    expect(dry.status, dry.stderr).toBe(0);
    const plan = JSON.parse(dry.stdout) as { garbage: { kind: string; path: string; why: string }[]; unread: { pipeline: string }[] };
    expect(plan.garbage.filter((g) => g.kind === "artifact")).toEqual([
      expect.objectContaining({ path: expect.stringContaining(labels!.data_version), why: "cell labels is no longer in pipeline drop" }),
    ]);
    expect(plan.unread.map((u) => u.pipeline)).toEqual(["other"]);
    const text = spawnSync(process.execPath, [bin, "--workspace", home, "gc"], { encoding: "utf8" });
    expect(text.stdout).toMatch(/cell labels is no longer in pipeline drop/);
    expect(text.stdout).toMatch(/kept every output of pipeline other: its file did not load/);
  }, 120_000);
});
