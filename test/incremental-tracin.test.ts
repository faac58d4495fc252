// A tracin cell traces only what it has not traced: rows of queries an earlier run traced under
// the same model, training rows, settings and engine are taken over, new inferences are traced;
// across a retrain, the rows of the superseded model's inferences are taken over too.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { param, pipeline, receipts, runPipeline, sql, tracin, type GraphEvent, type Pipeline } from "../cells/index.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { groupsPath } from "../cells/graph/groups.ts";
import { infer } from "../cells/rewards/ledger.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { modelOfCell, outputOf } from "./helpers/workspace.ts";
import { payWorkspace, rejectATrainingRow } from "./helpers/pay.ts";

interface Row { query: string; level: string; key: string; rank: number; score: number; share: number | null; model_id: string }

/** The pay pipeline and a probe: the usage's texts with a prefix, traced by their own tracin cell. */
const withProbe = (prefix: string): Pipeline => pipeline("pay", [...payPipeline.cells], {
  probe: sql`select id, model_id, ${param(prefix)} || text as text, null::varchar as label from ${"usage"}`,
  probe_influence: tracin({ model: "model", train: "train", test: "probe", topK: 5 }),
  probe_receipts: receipts({ influence: "probe_influence" }),
});

describe("incremental TracIn", () => {
  let ws: Workspace;
  let server: ModelServer;
  beforeAll(async () => {
    ws = await payWorkspace(withProbe(""));
    server = new ModelServer(ws.home);
  }, 120_000);
  afterAll(() => {
    server?.dispose();
    ws?.close();
  });

  const rowsOf = async (cell: string) =>
    ws.rows<Row>("select query, level, key, rank, score, share, model_id from read_parquet(?) order by query, level, rank, key", [await outputOf(ws, "pay", cell)]);
  const run = async (p: Pipeline, options: { force?: boolean; cell?: string; onLog?: (cell: string, message: string) => void } = {}) => {
    const logs: string[] = [];
    const { onLog, ...rest } = options;
    const summary = await runPipeline(ws, p, {
      ...rest,
      onEvent: (e: GraphEvent) => {
        if (e.event !== "cell-log") return;
        if (e.cell === (options.cell ?? "influence")) logs.push(e.message);
        onLog?.(e.cell, e.message);
      },
    });
    expect(summary.failed).toEqual([]);
    return logs.join("\n");
  };
  const modelId = () => modelOfCell(ws, "pay", "model");

  it("traces only the newly paid inferences; the others keep their rows bit for bit, and a forced run agrees", async () => {
    const before = await rowsOf("influence");
    await infer(ws, server, await modelId(), [{ text: "casino winner pills" }, { text: "team meeting notes" }], { fee: 10n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["new-1", "new-2"], epoch: "e2" });
    const receiptsBefore = await ws.rows("select * from read_parquet(?) order by query", [await outputOf(ws, "pay", "receipts")]);
    const receiptLog: string[] = [];
    const log = await run(withProbe(""), { onLog: (cell, m) => { if (cell === "receipts") receiptLog.push(m); } });
    expect(log).toMatch(/^40 queries keep the rows an earlier run traced \(same model, training rows, settings and engine\); 2 to trace$/m);
    // Their receipts too: taken over as they were, only the two new ones written.
    expect(receiptLog).toEqual(["40 receipts kept (their influence rows unchanged); 2 written"]);
    const receiptsAfter = await ws.rows<{ query: string }>("select * from read_parquet(?) order by query", [await outputOf(ws, "pay", "receipts")]);
    expect(receiptsAfter.filter((r) => !r.query.startsWith("new-"))).toEqual(receiptsBefore);
    // Written from nothing, every receipt is the same, and so is the version: the one the
    // incremental run took from the kept groups' digests is the one hashed from every row.
    const taken = await outputOf(ws, "pay", "receipts");
    expect(fs.existsSync(groupsPath(taken))).toBe(true);
    await run(withProbe(""), { force: true, cell: "receipts" });
    expect(await outputOf(ws, "pay", "receipts")).toBe(taken);
    expect(await ws.rows("select * from read_parquet(?) order by query", [await outputOf(ws, "pay", "receipts")])).toEqual(receiptsAfter);
    expect(log).toMatch(/: \d+ contributions × 2 queries$/m);
    const after = await rowsOf("influence");
    expect(after.filter((r) => !r.query.startsWith("new-"))).toEqual(before);
    expect(new Set(after.filter((r) => r.query.startsWith("new-")).map((r) => r.query))).toEqual(new Set(["new-1", "new-2"]));

    // From nothing: the same contributions in the same order, scores to float32 summation order.
    const forced = await run(withProbe(""), { force: true, cell: "influence" });
    expect(forced).not.toMatch(/keep the rows/);
    expect(forced).toMatch(/: \d+ contributions × 42 queries$/m);
    const scratch = await rowsOf("influence");
    expect(scratch.map((r) => [r.query, r.level, r.key, r.rank])).toEqual(after.map((r) => [r.query, r.level, r.key, r.rank]));
    scratch.forEach((r, i) => expect(Math.abs(r.score - after[i]!.score)).toBeLessThanOrEqual(1e-5 * Math.abs(after[i]!.score) + 1e-12));
  }, 120_000);

  it("traces again a query whose payload changed under the same id", async () => {
    const same = await run(withProbe(""), { cell: "probe_influence" });
    expect(same).toBe(""); // fresh: nothing ran
    const traced: string[] = [];
    const receiptLog = await run(withProbe("urgent: "), { cell: "probe_receipts", onLog: (cell, m) => { if (cell === "probe_influence") traced.push(m); } });
    const changed = traced.join("\n");
    expect(changed).not.toMatch(/keep the rows/);
    expect(changed).toMatch(/: \d+ contributions × 42 queries$/m);
    // Every query's rows changed: no receipt of them is kept, all 42 are written again.
    expect(receiptLog).not.toMatch(/receipts kept/);
    expect(await ws.rows("select count(*)::integer as n from read_parquet(?)", [await outputOf(ws, "pay", "probe_receipts")])).toEqual([{ n: 42 }]);
  }, 60_000);

  it("across a retrain keeps the rows of the superseded model's inferences and traces only the current model's", async () => {
    const before = await rowsOf("influence");
    const first = await modelId();
    await rejectATrainingRow(ws);
    const log = await run(withProbe(""));
    const current = await modelId();
    expect(current).not.toBe(first);
    // The first model's 42 settled inferences stay in the usage table, with the rows they were paid on;
    // the workload replays on the new model (40 new ids), traced through it.
    expect(log).toMatch(/^42 queries keep the rows an earlier run traced \(inferences of models since retrained, each traced through its own lineage; same settings and engine\); 40 to trace$/m);
    expect(log).toMatch(new RegExp(`^TracIn exact over 2 checkpoints of model ${current.slice(0, 12)}: \\d+ contributions × 40 queries$`, "m"));
    const rows = await rowsOf("influence");
    expect(rows.filter((r) => r.model_id === first)).toEqual(before);
    expect(new Set(rows.filter((r) => r.model_id !== first).map((r) => r.model_id))).toEqual(new Set([current]));
    expect(new Set(rows.filter((r) => r.model_id === current).map((r) => r.query)).size).toBe(40);
  }, 120_000);
});
