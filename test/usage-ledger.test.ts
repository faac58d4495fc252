import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pipelineStatus, runPipeline, usageLedger, type GraphEvent } from "../cells/index.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer } from "../cells/rewards/ledger.ts";
import { collectFacts } from "../reports/collect/collect.ts";
import { recomputeReceipts } from "../cells/attribution/recompute.ts";
import { receiptHash } from "../cells/attribution/receipts.ts";
import { catchUpReceipts } from "../cells/rewards/archive.ts";
import { proponentsOf } from "../cells/quality/what-if.ts";
import { collectGarbage, planGc } from "../cells/graph/gc.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { modelOfCell, outputOf } from "./helpers/workspace.ts";
import { payWorkspace, rejectATrainingRow } from "./helpers/pay.ts";

const sum = async (ws: Workspace, sql: string, params: string[] = []) => (await ws.rows<{ s: string | null }>(sql, params))[0]!.s;

describe("the usage ledger cell", () => {
  let ws: Workspace;
  let server: ModelServer;
  let modelId: string;
  beforeAll(async () => {
    ws = await payWorkspace();
    server = new ModelServer(ws.home);
    [{ model_id: modelId }] = (await ws.rows<{ model_id: string }>("select distinct model_id from inferences")) as [{ model_id: string }];
  }, 120_000);
  afterAll(() => {
    server?.dispose();
    ws?.close();
  });

  const stale = async () => (await pipelineStatus(ws, payPipeline)).filter((c) => c.state !== "fresh").map((c) => [c.cell, c.reason]);

  it("reads the workload's inferences back from the ledger, with where each came from", async () => {
    const usage = await ws.rows<{ source: string; n: bigint }>("select source, count(*) as n from inferences group by all");
    expect(usage).toEqual([{ source: "workload:pay.workload", n: 40n }]);
    expect(await sum(ws, "select sum(amount)::varchar as s from settlements where pipeline = 'pay'")).toBe(String(40 * 1234));
  });

  it("attributes and settles what a caller paid for, in its own pipeline only, once", async () => {
    // Inferences on the same model recorded for another pipeline, or for none, are not this pipeline's to pay.
    await infer(ws, server, modelId, [{ text: "casino winner pills" }], { fee: 7n, caller: "api:x", pipeline: "elsewhere", source: "api", ids: ["other-1"], epoch: "e2" });
    await infer(ws, server, modelId, [{ text: "casino winner pills" }], { fee: 9n, caller: "api:x", source: "api", ids: ["loose-1"], epoch: "e2" });
    expect(await stale()).toEqual([]);

    await infer(ws, server, modelId, [{ text: "casino winner pills" }, { text: "team meeting notes" }], { fee: 500n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["paid-1", "paid-2"], epoch: "e2" });
    const why = await stale();
    expect(why[0]).toEqual(["usage", expect.stringMatching(/^the usage ledger of pipeline pay changed/)]);
    expect(why.map(([c]) => c)).toEqual(["usage", "influence", "receipts", "rewards"]);

    const run = await runPipeline(ws, payPipeline);
    expect([run.failed, run.ran]).toEqual([[], ["usage", "influence", "receipts", "rewards"]]);
    // Traced like the workload's: top proponents and the contributors' shares.
    const traced = await ws.rows<{ query: string; n: bigint }>(
      "select query, count(*) as n from read_parquet(?) where query like 'paid-%' and level = 'contribution' group by all order by all", [await outputOf(ws, "pay", "influence")]);
    expect(traced.map((t) => t.query)).toEqual(["paid-1", "paid-2"]);
    // Paid out exactly, each line citing the inference's receipt; the workload's epoch is untouched.
    const lines = await ws.rows<{ inference_id: string; s: string; receipts: bigint }>(
      "select inference_id, sum(amount)::varchar as s, count(distinct receipt_hash) as receipts from rewards where epoch = 'e2' group by all order by all");
    expect(lines.map((l) => [l.inference_id, l.s, l.receipts])).toEqual([["paid-1", "500", 1n], ["paid-2", "500", 1n]]);
    expect(await sum(ws, "select sum(amount)::varchar as s from settlements where pipeline = 'pay' and epoch = 'e2'")).toBe("1000");
    expect(await sum(ws, "select sum(amount)::varchar as s from settlements where pipeline = 'pay' and epoch = 'e1'")).toBe(String(40 * 1234));
    const [receipt] = await ws.rows<{ receipt_hash: string }>("select distinct receipt_hash from rewards where inference_id = 'paid-1'");
    expect(receipt!.receipt_hash).toMatch(/^[0-9a-f]{64}$/);

    // A replay records nothing, so nothing is stale and nothing is paid twice.
    await infer(ws, server, modelId, [{ text: "casino winner pills" }], { fee: 500n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["paid-1"], epoch: "e2" });
    expect(await stale()).toEqual([]);
  }, 120_000);

  it("traces an inference of the base, called directly, through the base's own training rows", async () => {
    const baseId = await modelOfCell(ws, "pay", "base");
    await infer(ws, server, baseId, [{ text: "team meeting notes" }], { fee: 100n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["base-1"], epoch: "e2" });
    expect((await runPipeline(ws, payPipeline)).failed).toEqual([]);
    const rows = await ws.rows<{ model_id: string; key: string }>(
      "select distinct model_id, key from read_parquet(?) where query = 'base-1' and level = 'contribution'", [await outputOf(ws, "pay", "influence")]);
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.model_id))).toEqual(new Set([baseId]));
    // The base trained on the `half` cell (ids below '8'): its proponents and opponents come from there only.
    expect(rows.every((r) => r.key < "8")).toBe(true);
    const lines = await ws.rows<{ role: string; receipt_hash: string; amount: string }>("select role, receipt_hash, amount::varchar as amount from rewards where inference_id = 'base-1' order by all");
    expect(lines.reduce((s, l) => s + BigInt(l.amount), 0n)).toBe(100n);
    expect(lines.some((l) => l.role === "contributor")).toBe(true);
    const [receipt] = await ws.rows<{ model_id: string }>("select model_id from read_parquet(?) where query = 'base-1'", [await outputOf(ws, "pay", "receipts")]);
    expect(receipt!.model_id).toBe(baseId);

    // A what-if retrains the adapter: asked of the base's inference, it says so instead of
    // answering for a model that never executed it.
    await expect(proponentsOf(ws, payPipeline, { query: "base-1" })).rejects.toThrow(
      new RegExp(`^inference base-1 was executed by model ${baseId.slice(0, 12)} \\(cell base\\), not by model \\(model ${modelId.slice(0, 12)}\\), the model a what-if retrains`));
    // Ids as the ledger has them (a caller's, with any characters), in full or by a unique prefix.
    const asked = await proponentsOf(ws, payPipeline, { query: "paid-1", top: 2 });
    expect(asked).toEqual({ query: "paid-1", ids: expect.any(Array) });
    expect(asked.ids).toHaveLength(2);
    await expect(proponentsOf(ws, payPipeline, { query: "paid" })).rejects.toThrow(/^inference prefix paid matches several inferences/);
    await expect(proponentsOf(ws, payPipeline, { query: "other-1" })).rejects.toThrow(/^inference other-1 was recorded for pipeline elsewhere, not pay: ask that pipeline/);
    await expect(proponentsOf(ws, payPipeline, { query: "nobody-1" })).rejects.toThrow(/^no inference nobody-1 in pay's influence cell/);
  }, 60_000);

  it("settles an inference a retrain left behind through the model that executed it, as that model would have", async () => {
    // Executed by the current model and settled by it: what the attribution and the split should be.
    await infer(ws, server, modelId, [{ text: "casino winner pills tonight" }], { fee: 1000n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["late-1"], epoch: "e9" });
    expect((await runPipeline(ws, payPipeline)).failed).toEqual([]);
    const influenceOf = async () => ws.rows<{ level: string; key: string; rank: number; score: number; model_id: string }>(
      "select level, key, rank, score, model_id from read_parquet(?) where query = 'late-1' order by level, rank, key", [await outputOf(ws, "pay", "influence")]);
    const linesOf = () => ws.rows<{ recipient: string; role: string; amount: string }>("select recipient, role, amount::varchar as amount from rewards where inference_id = 'late-1' order by all");
    const expected = await influenceOf();
    const paid = await linesOf();
    // As if no run had settled it before a curator's rejection retrained the model.
    await ws.run("delete from rewards where inference_id = 'late-1'");
    await rejectATrainingRow(ws);
    const logs: string[] = [];
    const run = await runPipeline(ws, payPipeline, { onEvent: (e: GraphEvent) => { if (e.event === "cell-log" && ["usage", "influence"].includes(e.cell)) logs.push(e.message); } });
    expect(run.failed).toEqual([]);
    expect(logs.join("\n")).toMatch(/1 of them by other models \(retrained since, or not named here\), never settled: each is traced through the model that executed it/);
    // Its row says so, though the ledger did not change it: the usage rows taken over are those that stand as they stood.
    expect(await ws.rows("select model_cell, settled_earlier from read_parquet(?) where id = 'late-1'", [await outputOf(ws, "pay", "usage")])).toEqual([{ model_cell: null, settled_earlier: false }]);
    // Traced before under its model, which no retrain changes: its rows are taken over as they were.
    expect(logs.join("\n")).toMatch(/\d+ queries keep the rows an earlier run traced \(inferences of models since retrained, each traced through its own lineage; same settings and engine\)/);
    expect(await influenceOf()).toEqual(expected);
    expect(expected.every((r) => r.model_id === modelId)).toBe(true);
    // Traced from nothing, through that model and its own lineage: the same contributions in the
    // same order, scores to float32 summation order.
    const forced: string[] = [];
    expect((await runPipeline(ws, payPipeline, { force: true, cell: "influence", onEvent: (e: GraphEvent) => { if (e.event === "cell-log" && e.cell === "influence") forced.push(e.message); } })).failed).toEqual([]);
    expect(forced.join("\n")).toMatch(new RegExp(`TracIn exact over 2 checkpoints of model ${modelId.slice(0, 12)}: \\d+ contributions × \\d+ queries`));
    const again = await influenceOf();
    expect(again.map((r) => [r.level, r.key, r.rank, r.model_id])).toEqual(expected.map((r) => [r.level, r.key, r.rank, r.model_id]));
    again.forEach((r, i) => expect(Math.abs(r.score - expected[i]!.score)).toBeLessThanOrEqual(1e-5 * Math.abs(expected[i]!.score) + 1e-12));
    expect((await runPipeline(ws, payPipeline)).failed).toEqual([]);
    // Paid to the same recipients, the whole fee.
    const lines = await linesOf();
    expect(lines.map((l) => [l.recipient, l.role])).toEqual(paid.map((l) => [l.recipient, l.role]));
    expect(lines.reduce((s, l) => s + BigInt(l.amount), 0n)).toBe(1000n);
    // A reviewer's recomputation of every receipt takes each through the model it names.
    const recomputed = await recomputeReceipts(ws, "pay", "receipts", { sample: 1000, seed: 1 });
    expect([recomputed.sampled, recomputed.mismatched]).toEqual([recomputed.of, []]);
    expect(await ws.rows("select query from read_parquet(?) where query = 'late-1' and model_id = ?", [await outputOf(ws, "pay", "receipts"), modelId])).toEqual([{ query: "late-1" }]);
    // A report over its epoch holds: its receipt names the model that executed it, not the current one.
    const reported = await collectFacts(ws, "pay", { epochs: ["e9"] });
    expect(reported.lineage.receipts).toMatchObject({ mismatched: 0, missing: 0 });
    expect(reported.checks.filter((c) => !c.ok)).toEqual([]);
    // Settled, it stays in the usage table, marked so, on the next change to the ledger: never split again, its lines as they were.
    await infer(ws, server, await modelOfCell(ws, "pay", "model"),
      [{ text: "team meeting notes" }], { fee: 5n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["after-1"], epoch: "e9" });
    expect((await runPipeline(ws, payPipeline)).failed).toEqual([]);
    expect(await ws.rows("select id, model_id, model_cell, settled_earlier from read_parquet(?) where id in ('late-1', 'after-1') order by id", [await outputOf(ws, "pay", "usage")])).toEqual([
      { id: "after-1", model_id: await modelOfCell(ws, "pay", "model"), model_cell: "model", settled_earlier: false },
      { id: "late-1", model_id: modelId, model_cell: null, settled_earlier: true },
    ]);
    expect(await linesOf()).toEqual(lines);
    // The report settles it with every check holding, its receipt recomputed through its own model when sampled.
    const facts = await collectFacts(ws, "pay", { epochs: ["e9"] });
    expect(facts.lineage.ledger.unsettled).toBe(0);
    expect(facts.checks.filter((c) => !c.ok)).toEqual([]);
  }, 180_000);

  it("takes the inferences it wrote before over, and writes what a run from nothing writes", async () => {
    const rowsOf = async () => ws.rows<Record<string, unknown>>("select * exclude (executed_at) from read_parquet(?)", [await outputOf(ws, "pay", "usage")]);
    await infer(ws, server, await modelOfCell(ws, "pay", "model"), [{ text: "casino pills for the team" }], { fee: 3n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["kept-1"], epoch: "e9" });
    const logs: string[] = [];
    expect((await runPipeline(ws, payPipeline, { cell: "usage", onEvent: (e: GraphEvent) => { if (e.event === "cell-log") logs.push(e.message); } })).failed).toEqual([]);
    const n = Number((await ws.rows<{ n: bigint }>("select count(*) as n from inferences where pipeline = 'pay'"))[0]!.n);
    expect(logs).toContain(`${n - 1} inferences kept as the last run wrote them; 1 read from the ledger`);
    const artifact = await outputOf(ws, "pay", "usage");
    const taken = await rowsOf();
    expect(taken.map((r) => r.id)).toEqual(taken.map((r) => r.id as string).sort());
    expect(taken.find((r) => r.id === "kept-1")).toMatchObject({ text: "casino pills for the team", model_cell: "model", settled_earlier: false });
    // From nothing, its file gone: the same version, the same rows in the same order.
    fs.rmSync(artifact, { recursive: true });
    expect((await runPipeline(ws, payPipeline, { cell: "usage", force: true })).failed).toEqual([]);
    expect(await outputOf(ws, "pay", "usage")).toBe(artifact);
    expect(await rowsOf()).toEqual(taken);
  }, 60_000);

  it("records an inference no epoch was named for in the UTC month it ran in", async () => {
    const at = (iso: string, id: string) => infer(ws, server, modelId, [{ text: "team meeting notes" }], { fee: 1n, caller: "api:x", pipeline: "elsewhere", ids: [id], at: new Date(iso) });
    await at("2026-12-31T23:59:59.999Z", "month-1");
    await at("2027-01-01T00:00:00.000Z", "month-2");
    await at("2027-02-01T10:00:00+14:00", "month-3"); // still January in UTC, though February where it was called
    expect(await ws.rows("select id, epoch from inferences where id like 'month-%' order by id")).toEqual([
      { id: "month-1", epoch: "2026-12" }, { id: "month-2", epoch: "2027-01" }, { id: "month-3", epoch: "2027-01" },
    ]);
  });
});

describe("the receipts paid lines cite", () => {
  it("are archived with the lines, survive gc, and an older workspace's are caught up from the files still on disk", async () => {
    const ws = await payWorkspace();
    try {
      await rejectATrainingRow(ws);
      expect((await runPipeline(ws, payPipeline)).failed).toEqual([]);
      const cited = async () => ws.rows<{ receipt_hash: string; receipt: string | null }>(
        `select distinct r.receipt_hash, a.receipt from rewards r left join attribution_receipts a using (receipt_hash)
         where r.receipt_hash <> 'none: model not attributed' order by 1`);
      const check = async () => {
        const all = await cited();
        expect(all.length).toBe(80); // both models' 40 inferences: one receipt each
        for (const c of all) expect(c.receipt && receiptHash(c.receipt)).toBe(c.receipt_hash);
      };
      await check();
      // gc collects the first model's receipts table; the archive still holds what its lines cite.
      const plan = await planGc(ws);
      expect(plan.garbage.some((g) => g.kind === "artifact")).toBe(true);
      collectGarbage(plan);
      await check();

      // A workspace settled before the archive: caught up from the receipts files still on disk …
      // (the current receipts table holds both models': the usage table keeps the settled inferences of the first) …
      await ws.run("delete from attribution_receipts");
      expect(await catchUpReceipts(ws, "2026-11-29 00:00:00")).toEqual({ added: 80, lost: 0 });
      await check();
      // … and what no file holds any more is said to be lost, not silently missing.
      await ws.run("delete from attribution_receipts");
      fs.rmSync(await outputOf(ws, "pay", "receipts"), { recursive: true });
      expect(await catchUpReceipts(ws, "2026-11-29 00:00:00")).toEqual({ added: 0, lost: 80 });
      expect((await cited()).filter((c) => c.receipt === null)).toHaveLength(80);
    } finally {
      ws.close();
    }
  }, 180_000);
});

describe("usageLedger()", () => {
  it("refuses a declaration without models, or naming a cell twice", () => {
    expect(() => usageLedger({ models: [] })).toThrow(/name at least one model cell/);
    expect(() => usageLedger({ models: ["model"], after: ["model"] })).toThrow(/"model" is named twice/);
  });
});
