import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseModel, datanet, finetune, hashedNgrams, pipeline, runPipeline, sql, type Pipeline } from "../cells/index.ts";
import { merkleRoot, sha256 } from "../cells/graph/fingerprint.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { exportAdapter, importAdapter } from "../cells/factory/peft.ts";
import { importExternal } from "../cells/factory/imported.ts";
import { listModels } from "../cells/factory/catalog.ts";
import { loadCheckpoint, readContributions, readManifest } from "../cells/factory/store.ts";
import { readSafetensors } from "../cells/factory/safetensors.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { tempDir, tempWorkspace } from "./helpers/workspace.ts";
import { separableDatanet } from "./helpers/datanets.ts";

const BIN = path.resolve("bin/tracebook.js");
const train = { epochs: 6, batchSize: 16, optimizer: { name: "adam" as const }, seed: 3 };

/** Base on a slice, two adapters on two other slices of the same Datanet. */
function factoryPipeline(): Pipeline {
  return pipeline("f", {
    notes: datanet("notes"),
    train: sql`select * from ${"notes"} where split = 'train'`,
    queries: sql`select * from ${"notes"} where split = 'test'`,
    base_slice: sql`select * from ${"train"} where contributor in ('c0', 'c1')`,
    slice_a: sql`select * from ${"train"} where contributor = 'c2'`,
    slice_b: sql`select * from ${"train"} where contributor = 'c3'`,
    base: baseModel({ data: "base_slice", heldOut: "queries", featurizer: hashedNgrams({ dims: 256 }), hidden: [16], schedule: { kind: "constant", lr: 0.01 }, ...train }),
    model_a: finetune({ data: "slice_a", base: "base", heldOut: "queries", adapter: { rank: 4, alpha: 8, targets: ["dense_1"] }, schedule: { kind: "cosine", lr: 0.01, final: 0.001 }, checkpoints: 3, ...train }),
    model_b: finetune({ data: "slice_b", base: "base", adapter: { rank: 2, alpha: 2, targets: ["dense_1"] }, schedule: { kind: "linear", lr: 0.02, final: 0.002 }, checkpoints: 2, ...train, optimizer: { name: "sgd", momentum: 0.9 } }),
  });
}

async function outputOf(ws: Workspace, cell: string): Promise<string> {
  const [run] = await ws.rows<{ artifact: string }>("select artifact from runs where cell = ? and status = 'succeeded' order by finished_at desc limit 1", [cell]);
  return run!.artifact;
}

async function modelIdOf(ws: Workspace, cell: string): Promise<string> {
  const [row] = await ws.rows<{ m: string }>("select distinct model_id as m from read_parquet(?)", [await outputOf(ws, cell)]);
  return row!.m;
}

describe("ModelFactory on a small Datanet", () => {
  let ws: Workspace;
  let p: Pipeline;
  let ids: { base: string; a: string; b: string };
  let home: string;
  let closed = false;
  beforeAll(async () => {
    ws = await tempWorkspace();
    home = ws.home;
    await separableDatanet(ws, "notes", 200);
    p = factoryPipeline();
    const summary = await runPipeline(ws, p);
    expect(summary.failed).toEqual([]);
    ids = { base: await modelIdOf(ws, "base"), a: await modelIdOf(ws, "model_a"), b: await modelIdOf(ws, "model_b") };
  }, 120_000);
  afterAll(() => {
    if (!closed) ws?.close();
  });

  it("trains a base and adapters as cells, with metrics per epoch and split", async () => {
    const rows = await ws.rows<{ kind: string; split: string; accuracy: number; epoch: number }>(
      "select kind, split, epoch, accuracy from read_parquet(?) order by epoch, split", [await outputOf(ws, "model_a")],
    );
    expect(rows.map((r) => `${r.epoch}/${r.split}`)).toEqual([1, 2, 3, 4, 5, 6].flatMap((e) => [`${e}/held-out`, `${e}/train`]));
    expect(rows.at(-2)!.accuracy).toBeGreaterThan(0.8); // held-out, last epoch: well above chance (0.5) on separable data
    expect(new Set([ids.base, ids.a, ids.b]).size).toBe(3);
  });

  it("records lineage: what entered, the snapshot root, checkpoints with their learning rates", async () => {
    const m = readManifest(ws.home, ids.a);
    const slice = await ws.rows<{ id: string }>("select id from contributions where datanet = 'notes' and split = 'train' and contributor = 'c2' order by id");
    const entered = readContributions(ws.home, m);
    expect(entered.map((c) => c.id)).toEqual(slice.map((r) => r.id));
    expect(entered.every((c) => c.datanet === "notes" && c.contributor === "c2")).toBe(true);
    expect(m.snapshot!.root).toBe(merkleRoot(slice.map((r) => sha256(`notes\u0000${r.id}`))));
    expect(m).toMatchObject({ kind: "adapter", base: ids.base, lora: { rank: 4, alpha: 8, targets: ["dense_1"] }, seed: 3, backend: { name: "wasm" } });
    expect(m.checkpoints.map((c) => c.index)).toEqual([1, 2, 3]);
    const ckpt = await loadCheckpoint(ws.home, m, 3);
    expect(Object.keys(ckpt).sort()).toEqual(["dense_1.lora_A", "dense_1.lora_B", "head.bias", "head.kernel"]);
    const { metadata } = await readSafetensors(path.join(ws.home, "models", ids.a, m.checkpoints[0]!.file));
    expect(Number(metadata.learning_rate)).toBe(m.checkpoints[0]!.learningRate);
    for (const [file, hash] of Object.entries(m.files)) expect(sha256(fs.readFileSync(path.join(ws.home, "models", ids.a, file)))).toBe(hash);
  });

  it("gives the same model id and weights when run again from scratch", async () => {
    const again = await tempWorkspace();
    try {
      await separableDatanet(again, "notes", 200);
      await runPipeline(again, factoryPipeline());
      expect(await modelIdOf(again, "model_a")).toBe(ids.a);
      expect(fs.readFileSync(path.join(again.home, "models", ids.a, "weights.bin"))).toEqual(fs.readFileSync(path.join(ws.home, "models", ids.a, "weights.bin")));
    } finally {
      again.close();
    }
  }, 120_000);

  it("serves two adapters from one base, loaded once", async () => {
    const server = new ModelServer(ws.home);
    const inputs = [{ text: "winner casino offer today" }, { text: "team meeting notes draft" }];
    const a = await server.infer(ids.a, inputs);
    const b = await server.infer(ids.b, inputs);
    await server.infer(ids.a, inputs);
    expect(server.stats).toEqual({ baseLoads: 1, adapterLoads: 2 });
    expect(a.map((x) => x.label)).toEqual(["spam", "ham"]);
    expect(a[0]!.probabilities).not.toEqual(b[0]!.probabilities);
    for (const x of [...a, ...b]) expect(x.probabilities.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    server.dispose();
  });

  it("exports an adapter in the PEFT layout, and reloading it predicts identically", async () => {
    const dir = tempDir("tb-peft-");
    await exportAdapter(ws.home, ids.a, dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["dense_1"], modules_to_save: ["head"], base_model_name_or_path: `tracebook:${ids.base}` });
    const { tensors } = await readSafetensors(path.join(dir, "adapter_model.safetensors"));
    expect(Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.shape]))).toEqual({
      "base_model.model.dense_1.lora_A.weight": [4, 256], "base_model.model.dense_1.lora_B.weight": [16, 4],
      "base_model.model.head.weight": [2, 16], "base_model.model.head.bias": [2],
    });
    const loaded = await importAdapter(dir);
    expect(loaded.baseId).toBe(ids.base);
    const server = new ModelServer(ws.home);
    const queries = await ws.rows<{ title: string; text: string }>("select title, text from contributions where split = 'test' order by id");
    const direct = await server.infer(ids.a, queries);
    const reloaded = await server.inferWithAdapter(loaded.baseId, loaded, queries);
    expect(reloaded).toEqual(direct);
    server.dispose();
  });

  it("imports an external MLP with its checkpoints and serves it", async () => {
    const file = path.join(tempDir(), "ext.json");
    const ckpt = (s: number) => ({ step: s, learning_rate: 0.1 / s, layers: [
      { kernel: [[1, -1], [0.5, 2], [0, 1]], bias: [0, 0.1] },
      { kernel: [[1, 0], [0, 1]], bias: [0, 0] },
    ] });
    fs.writeFileSync(file, JSON.stringify({ format: "tracebook.external-mlp/1", classes: ["no", "yes"], checkpoints: [ckpt(1), ckpt(2)] }));
    const m = await importExternal(ws.home, file);
    expect(m).toMatchObject({ kind: "external", spec: { inputSize: 3, hidden: [2], classes: ["no", "yes"] } });
    expect(m.checkpoints.map((c) => [c.step, c.learningRate])).toEqual([[1, 0.1], [2, 0.05]]);
    expect((await importExternal(ws.home, file)).id).toBe(m.id); // the same file is the same model
    const server = new ModelServer(ws.home);
    // x = [1, 0, 0]: hidden relu([1, -1] + [0, 0.1]) = [1, 0]; logits [1, 0] → "no".
    const [p0] = await server.infer(m.id, [{ features: [1, 0, 0] }]);
    expect(p0!.label).toBe("no");
    expect(p0!.probabilities[0]).toBeCloseTo(Math.exp(1) / (Math.exp(1) + 1), 5);
    server.dispose();
    expect(listModels(ws.home).map((x) => x.kind).sort()).toEqual(["adapter", "adapter", "base", "external"]);
  });

  it("is stale when its model folder is gone, and retrains it", async () => {
    fs.rmSync(path.join(ws.home, "models", ids.b), { recursive: true });
    const events: string[] = [];
    const summary = await runPipeline(ws, p, { onEvent: (e) => e.event === "cell-started" && events.push(`${e.cell}: ${e.reason}`) });
    expect(summary.ran).toEqual(["model_b"]);
    expect(events).toEqual([`model_b: model folder ${ids.b.slice(0, 12)} missing`]);
    expect(fs.existsSync(path.join(ws.home, "models", ids.b, "manifest.json"))).toBe(true);
  }, 60_000);

  it("lists, shows and exports models from the CLI", () => {
    ws.close(); // the CLI is another process: it needs the workspace
    closed = true;
    const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, TRACEBOOK_HOME: home } });
    const list = cli(["model", "list"]);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toContain(ids.a.slice(0, 16));
    expect(list.stdout).toMatch(/f\.model_a +│ current .*adapter.*r4 α8 dense_1/);
    const show = cli(["model", "show", "f.model_a"]);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: ids.a, base: ids.base });
    const out = tempDir("tb-peft-cli-");
    const exp = cli(["model", "export", ids.a.slice(0, 10), out]);
    expect(exp.status, exp.stderr).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    const bad = cli(["model", "export", "f.base", out]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/is a base model, not an adapter/);
  });
});
