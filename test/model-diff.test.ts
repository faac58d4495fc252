import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipeline, retrainDiff, runPipeline } from "../cells/index.ts";
import { outputOf } from "./helpers/workspace.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { cellModels, cellOutput, modelHistory, resolveModel } from "../cells/factory/catalog.ts";
import { diffLineage, diffSettings } from "../cells/factory/diff.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import type { ModelManifest } from "../cells/factory/store.ts";
import { compareBehaviour } from "../cells/quality/behaviour.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { payWorkspace, rejectATrainingRow } from "./helpers/pay.ts";
import { collectFacts } from "../reports/collect/collect.ts";
import { REPORT_FORMAT, runIdOf } from "../reports/facts.ts";
import { reportErrors } from "../reports/schema.ts";
import { renderHtml } from "../reports/render/page.ts";

const BIN = path.resolve("bin/tracebook.js");
// The pay pipeline, and what its model's last retrain changed.
const withDiff = pipeline("pay", [...payPipeline.cells], { last_retrain: retrainDiff({ model: "model", on: "queries" }) });

interface DiffRow { level: string; model_a: string | null; model_b: string; change: string | null; scope: string | null; id: string | null; verdict: string | null; reason: string | null; prediction_a: string | null; prediction_b: string | null; compared: number | null; changed: number | null; rows_a: number | null; rows_b: number; accuracy_a: number | null; accuracy_b: number | null; field: string | null }

describe("model history and diff", () => {
  let ws: Workspace;
  let home: string;
  let before: ModelManifest, after: ModelManifest;
  let rejected: string;
  let closed = false;
  let firstDiff: DiffRow[];

  beforeAll(async () => {
    ws = await payWorkspace(withDiff);
    home = ws.home;
    before = await resolveModel(ws, "pay.model");
    firstDiff = await ws.rows<DiffRow>(`select * from read_parquet('${await outputOf(ws, "pay", "last_retrain")}')`);
    [{ id: rejected }] = (await ws.rows<{ id: string }>("select id from contributions where split = 'train' order by id limit 1")) as [{ id: string }];
    await rejectATrainingRow(ws);
    expect((await runPipeline(ws, withDiff)).failed).toEqual([]);
    after = await resolveModel(ws, "pay.model");
  }, 120_000);
  afterAll(() => {
    if (!closed) ws.close();
  });

  it("keeps each model cell's history: current first, then what the retrain superseded", async () => {
    expect(after.id).not.toBe(before.id);
    const models = await cellModels(ws, "pay", "model");
    expect(models.map((m) => [m.id, m.current])).toEqual([[after.id, true], [before.id, false]]);
    expect(models[0]!.trainedAt.getTime()).toBeGreaterThan(models[1]!.trainedAt.getTime());
    expect((await resolveModel(ws, "pay.model~1")).id).toBe(before.id);
    expect((await resolveModel(ws, "pay.model~0")).id).toBe(after.id);
    await expect(resolveModel(ws, "pay.model~2")).rejects.toThrow("pay.model~2: pay.model produced only 1 model before its current one that is still in the workspace");
    // A name nothing ran under is a typo, said with the names that did; a cell that is no model says what it is.
    await expect(resolveModel(ws, "pay.modle")).rejects.toThrow(`pay.modle: no cell "modle" of pipeline "pay" has run in this workspace (did you mean "pay.model"? model cells that have: pay.base, pay.model; a cell new to its pipeline trains on \`tracebook run pay\`)`);
    await expect(resolveModel(ws, "pay.queries")).rejects.toThrow("pay.queries is not a model cell (a sql cell)");
    await expect(resolveModel(ws, "pay.influence")).rejects.toThrow("pay.influence is not a model cell (a tracin cell)");
    const history = await modelHistory(ws);
    expect(history.filter((e) => e.from === "pay.model").map((e) => [e.manifest.id, e.state])).toEqual([[after.id, "current"], [before.id, "earlier"]]);
    expect(history.filter((e) => e.from === "pay.base").map((e) => e.state)).toEqual(["current", "earlier"]);
  });

  it("names the rows that left and the curator's record that explains it, in the adapter and in its base", async () => {
    const d = await diffLineage(ws, before, after);
    expect(d.settings).toEqual([{ field: "base", a: before.base, b: after.base }]);
    expect(d.rows.a - d.rows.b).toBe(1);
    expect(d.rows.added).toEqual([]);
    expect(d.rows.removed).toMatchObject([{ id: rejected, datanet: "notes", status: "rejected", record: { verdict: "rejected", validator: "curator:test", reason: "test: retrain" } }]);
    expect(d.rows.contributors).toEqual([{ contributor: d.rows.removed[0]!.contributor, added: 0, removed: 1 }]);
    // The pay pipeline's base trains on ids below '8': the first training row by id is one of them.
    expect(d.base?.rows.removed.map((r) => r.id)).toEqual([rejected]);
    // Backwards, the same row entered.
    const back = await diffLineage(ws, after, before);
    expect(back.rows.added.map((r) => r.id)).toEqual([rejected]);
    expect(back.rows.removed).toEqual([]);
  });

  it("lists every lineage setting that differs, and nothing else", () => {
    expect(diffSettings(before, before)).toEqual([]);
    const other: ModelManifest = { ...before, seed: 8, training: { ...before.training!, seed: 8, schedule: { kind: "constant", lr: 0.02 } }, lora: { ...before.lora!, rank: 4 } };
    expect(diffSettings(before, other)).toEqual([
      { field: "lora.rank", a: "2", b: "4" },
      { field: "training.schedule.lr", a: "0.01", b: "0.02" },
      { field: "training.seed", a: "5", b: "8" },
      { field: "seed", a: "5", b: "8" },
    ]);
  });

  it("compares the two models' outputs row by row, as serving them one by one does", async () => {
    const rows = await cellOutput(ws, "pay.queries");
    const got = await compareBehaviour(ws, before, after, rows.relation, rows.name);
    const queries = await ws.rows<{ id: string; title: string | null; text: string | null; label: string }>(`select id, title, text, label from ${rows.relation} order by id`);
    const server = new ModelServer(ws.home);
    const [pa, pb] = [await server.infer(before.id, queries), await server.infer(after.id, queries)];
    const accuracy = (p: typeof pa) => p.filter((x, i) => x.label === queries[i]!.label).length / queries.length;
    expect(got.rows).toBe(queries.length);
    expect(got.labelled).toBe(queries.length);
    expect(got.a!.accuracy).toBeCloseTo(accuracy(pa), 12);
    expect(got.b!.accuracy).toBeCloseTo(accuracy(pb), 12);
    const changed = queries.flatMap((q, i) => (pa[i]!.label !== pb[i]!.label ? [q.id] : []));
    expect(got.changed.map((c) => c.id).sort()).toEqual(changed.sort());
    for (const c of got.changed) expect(c.pBofA).toBeLessThan(c.pA);
    // A model against itself: nothing changed, the same figures on both sides.
    const self = await compareBehaviour(ws, after, after, rows.relation, rows.name);
    expect(self.changed).toEqual([]);
    expect(self.a).toEqual(self.b);
  });

  it("keeps what the last retrain changed as a cell, for the notebooks", async () => {
    // Trained once: nothing to compare yet.
    expect(firstDiff).toMatchObject([{ level: "model", model_a: null, model_b: before.id, changed: null }]);
    const got = await ws.rows<DiffRow>(`select * from read_parquet('${await outputOf(ws, "pay", "last_retrain")}')`);
    const rows = await cellOutput(ws, "pay.queries");
    const outputs = await compareBehaviour(ws, before, after, rows.relation, rows.name);
    const lineage = await diffLineage(ws, before, after);
    const [model, ...rest] = got;
    expect(model).toMatchObject({ level: "model", model_a: before.id, model_b: after.id, rows_a: lineage.rows.a, rows_b: lineage.rows.b, compared: outputs.rows, changed: outputs.changed.length });
    expect(model!.accuracy_a).toBeCloseTo(outputs.a!.accuracy, 12);
    expect(rest.filter((r) => r.level === "setting").map((r) => r.field)).toEqual(["base"]);
    expect(rest.filter((r) => r.level === "row").map((r) => [r.change, r.scope, r.id, r.verdict, r.reason]))
      .toEqual([["left", "model", rejected, "rejected", "test: retrain"], ["left", "base", rejected, "rejected", "test: retrain"]]);
    expect(rest.filter((r) => r.level === "output").map((r) => r.id).sort()).toEqual(outputs.changed.map((c) => c.id).sort());

    // The report quotes it for reviewers: the model it superseded, the row that left with its record.
    const facts = await collectFacts(ws, "pay");
    expect(facts.retrain).toMatchObject({
      cell: "last_retrain", model_a: before.id, model_b: after.id, rows_a: lineage.rows.a, rows_b: lineage.rows.b, compared: outputs.rows, changed: outputs.changed.length,
      settings: [{ field: "base", a: before.base, b: after.base }],
      rows: [{ change: "left", scope: "model", contribution: rejected, verdict: "rejected", validator: "curator:test", reason: "test: retrain" }, { change: "left", scope: "base", contribution: rejected }],
    });
    expect(facts.retrain!.outputs.length).toBe(Math.min(outputs.changed.length, 10));
    expect(facts.checks.filter((c) => !c.ok)).toEqual([]);
    const doc = { format: REPORT_FORMAT, run_id: runIdOf(facts), files: { "index.html": "0".repeat(64) }, facts };
    expect(reportErrors(doc)).toEqual([]);
    expect(renderHtml(facts, doc.run_id)).toMatch(/<section id="retrain">\n<h2>What the last retrain changed<\/h2>\n<p>This model \(<span class="mono" title="[0-9a-f]{64}">[0-9a-f]{12}<\/span>, trained [^)]+\) superseded/);
  });

  it("answers from the command line", () => {
    ws.close();
    closed = true;
    const cli = (args: string[]) => spawnSync(process.execPath, [BIN, "--workspace", home, ...args], { encoding: "utf8", timeout: 60_000 });
    const list = cli(["model", "list"]);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${after.id.slice(0, 16)} │ pay\\.model +│ current`));
    expect(list.stdout).toMatch(new RegExp(`${before.id.slice(0, 16)} │ pay\\.model +│ earlier`));
    const diff = cli(["model", "diff", "pay.model"]);
    expect(diff.status, diff.stderr).toBe(0);
    expect(diff.stdout).toContain(`pay.model~1 → pay.model\n  a  ${before.id.slice(0, 12)}  pay.model (earlier, trained `);
    expect(diff.stdout).toMatch(/Training rows: (\d+) → \d+ \(0 entered, 1 left\)/);
    expect(diff.stdout).toMatch(new RegExp(`− │ ${rejected.slice(0, 12)} .*rejected by curator:test, .*: test: retrain`));
    // The pay pipeline's model has no heldOut: its queries cell (the held-out split) stands in.
    expect(diff.stdout).toMatch(/\nOutputs on pay\.queries \(\d+ rows, \d+ labelled\): accuracy [\d.]+ → [\d.]+, mean loss [\d.]+ → [\d.]+; \d+ predictions? changed/);
    const lineageOnly = cli(["model", "diff", "pay.model", "--no-outputs"]);
    expect(lineageOnly.stdout).not.toContain("Outputs");
    const on = cli(["model", "diff", before.id.slice(0, 10), "pay.model", "--on", "pay.queries", "--json"]);
    expect(on.status, on.stderr).toBe(0);
    const json = JSON.parse(on.stdout) as { a: { id: string; state: string }; rows: { removed: { id: string }[] }; outputs: { on: string; rows: number } };
    expect(json.a).toMatchObject({ id: before.id, state: "earlier" });
    expect(json.rows.removed.map((r) => r.id)).toEqual([rejected]);
    expect(json.outputs).toMatchObject({ on: "pay.queries" });
    expect(cli(["model", "diff", "pay.model", "pay.model"]).stdout).toContain("The same model: nothing differs.");
    const bad = cli(["model", "diff", before.id.slice(0, 10)]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("name the model to compare");
    // Names of models and Datanets that are not there: the caller's mistake, exit 2.
    expect(cli(["model", "show", "pay.modle"])).toMatchObject({ status: 2, stderr: expect.stringContaining('no cell "modle" of pipeline "pay" has run') });
    expect(cli(["model", "show", "feedface00"])).toMatchObject({ status: 2, stderr: 'tracebook: no model in the workspace matches "feedface00"\n' });
    expect(cli(["datanet", "show", "nope"])).toMatchObject({ status: 2, stderr: expect.stringMatching(/^tracebook: unknown Datanet "nope" \(known: /) });
  });
});
