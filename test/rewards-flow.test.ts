import path from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactPath, pipeline, pipelineStatus, quoteLiteral, runPipeline, tracin, type Pipeline } from "../cells/index.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer, recordInferences, type InferOptions } from "../cells/rewards/ledger.ts";
import { decide } from "../cells/datanet/decisions.ts";
import { collectFacts } from "../reports/collect/collect.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { modelOfCell, outputOf } from "./helpers/workspace.ts";
import { renderHtml } from "../reports/render/page.ts";
import { CLOSURE_CHECK, PENALTY_CHECK } from "../reports/collect/collect.ts";
import { closeEpoch } from "../cells/rewards/closures.ts";
import { checkPayment } from "../cells/rewards/payment.ts";
import type { GraphEvent } from "../cells/index.ts";
import { payWorkspace, rejectATrainingRow } from "./helpers/pay.ts";
import { penaltyLine } from "../bin/commands/usage.ts";

const BIN = path.resolve("bin/tracebook.js");
/** A fresh pipeline value per call (the fixture file is also what the CLI loads). */
const rewardsPipeline = (): Pipeline => payPipeline;

const totals = async (ws: Workspace) => ({
  inferences: Number((await ws.rows<{ n: bigint }>("select count(*) as n from inferences"))[0]!.n),
  fees: (await ws.rows<{ s: string }>("select coalesce(sum(fee), 0)::varchar as s from inferences"))[0]!.s,
  paid: (await ws.rows<{ s: string }>("select coalesce(sum(amount), 0)::varchar as s from settlements where pipeline = 'pay'"))[0]!.s,
  lines: Number((await ws.rows<{ n: bigint }>("select count(*) as n from rewards"))[0]!.n),
});

describe("usage ledger and settlement", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await payWorkspace(rewardsPipeline());
  }, 120_000);
  afterAll(() => ws?.close());

  it("settles every fee exactly, line by line traceable to inferences and receipts", async () => {
    const t = await totals(ws);
    expect(t.inferences).toBe(40);
    expect(t.fees).toBe(String(40 * 1234));
    expect(t.paid).toBe(t.fees);
    const orphan = await ws.rows("select * from rewards r where not exists (select 1 from inferences i where i.id = r.inference_id)");
    expect(orphan).toEqual([]);
    const perInference = await ws.rows<{ inference_id: string; s: string; fee: string }>(
      "select r.inference_id, sum(r.amount)::varchar as s, any_value(i.fee)::varchar as fee from rewards r join inferences i on i.id = r.inference_id group by 1");
    expect(perInference.length).toBe(40);
    expect(perInference.every((r) => r.s === r.fee)).toBe(true);
    const receipts = await ws.rows<{ n: bigint }>("select count(distinct receipt_hash) as n from rewards");
    expect(Number(receipts[0]!.n)).toBeGreaterThan(1);
  });

  it("lists the model that was never executed with zero and the reason", async () => {
    const idle = await ws.rows<{ role: string; amount: string; reason: string }>("select role, amount::varchar as amount, reason from settlements where role = 'model'");
    expect(idle).toEqual([{ role: "model", amount: "0", reason: "base was never executed in epoch e1: nothing earns for existing" }]);
  });

  it("leaves totals unchanged when the workload is replayed", async () => {
    const before = await totals(ws);
    const again = await runPipeline(ws, rewardsPipeline(), { force: true });
    expect(again.failed).toEqual([]);
    expect(await totals(ws)).toEqual(before);
  }, 120_000);

  it("pays a curator who keeps a cited contribution as its validator, without retraining anything", async () => {
    const before = await totals(ws);
    const [run] = await ws.rows<{ data_version: string }>(
      "select data_version from runs where pipeline = 'pay' and cell = 'receipts' and status = 'succeeded' order by finished_at desc limit 1");
    const [r] = await ws.rows<{ receipt: string }>(`select receipt from read_parquet(${quoteLiteral(artifactPath(ws, run!.data_version))}) order by query limit 1`);
    const cited = (JSON.parse(r!.receipt) as { top_contributions: { id: string }[] }).top_contributions[0]!.id;
    await decide(ws, { ids: [cited], verdict: "keep", validator: "curator:kate", reason: "reviewed: fine" });
    // The keep changes no status, so no snapshot: only the cell that pays validators is stale.
    const stale = (await pipelineStatus(ws, rewardsPipeline())).filter((c) => c.state !== "fresh");
    expect(stale.map((c) => [c.cell, c.reason])).toEqual([["rewards", expect.stringMatching(/^the approval trail or the closed epochs changed/)]]);
    const again = await runPipeline(ws, rewardsPipeline());
    expect(again.ran).toEqual(["rewards"]);
    const kate = await ws.rows<{ role: string }>("select distinct role from rewards where recipient = 'curator:kate'");
    expect(kate).toEqual([{ role: "validator" }]);
    // Keeping the same row again is not more work: the split stays as it was.
    const paid = () => ws.rows("select inference_id, recipient, amount::varchar as amount from rewards order by all");
    const lines = await paid();
    await decide(ws, { ids: [cited], verdict: "keep", validator: "curator:kate", reason: "again" });
    const third = await runPipeline(ws, rewardsPipeline());
    expect([third.ran, third.changed]).toEqual([["rewards"], []]);
    expect(await paid()).toEqual(lines);
    const after = await totals(ws);
    expect([after.inferences, after.fees, after.paid]).toEqual([before.inferences, before.fees, before.paid]);
  }, 60_000);

  it("records an inference once per id, and refuses the same id with other facts", async () => {
    const [m] = await ws.rows<{ model_id: string }>("select model_id from inferences limit 1");
    const server = new ModelServer(ws.home);
    const at = new Date("2026-11-01T00:00:00Z");
    const first = await infer(ws, server, m!.model_id, [{ text: "winner casino offer" }], { fee: 5n, caller: "t", ids: ["inf-1"], at });
    const before = await totals(ws);
    await infer(ws, server, m!.model_id, [{ text: "winner casino offer" }], { fee: 5n, caller: "t", ids: ["inf-1"], at });
    expect(await totals(ws)).toEqual(before);
    await expect(infer(ws, server, m!.model_id, [{ text: "another text" }], { fee: 5n, caller: "t", ids: ["inf-1"], at })).rejects.toThrow(/inference inf-1 is already recorded with a different payload/);
    await expect(recordInferences(ws, [{ id: "inf-2", pipeline: null, modelId: m!.model_id, modelKind: "adapter", payload: { text: "x" }, prediction: "ham", confidence: 1, fee: -1n, caller: "t", epoch: "e", source: "api", executedAt: at }]))
      .rejects.toThrow(/cannot be negative/);
    // Who paid, the epoch and the id name the execution: blank, it could not be told apart or settled.
    const blank: [string, InferOptions][] = [
      ["caller", { fee: 5n, caller: " ", at }], ["epoch", { fee: 5n, caller: "t", epoch: "", at }], ["id", { fee: 5n, caller: "t", ids: ["\t"], at }],
    ];
    for (const [field, o] of blank) await expect(infer(ws, server, m!.model_id, [{ text: "x" }], o)).rejects.toThrow(`an inference's ${field} cannot be blank`);
    expect(await totals(ws)).toEqual(before);
    expect(first[0]!.id).toBe("inf-1");
    server.dispose();
  });

  it("infers and prints the statement from the CLI", () => {
    ws.close();
    const env = { ...process.env, TRACEBOOK_HOME: ws.home };
    const file = path.resolve("test/fixtures/pay.pipeline.ts");
    const inf = spawnSync(process.execPath, [BIN, "infer", file, "--model", "model", "--fee", "0.5", "--epoch", "e3", "--id", "cli-1", "cli-2", "--", "casino winner pills", "team meeting notes"], { encoding: "utf8", env });
    expect(inf.status, inf.stderr).toBe(0);
    expect(inf.stdout).toMatch(/cli-1 .*casino winner pills.*spam/);
    expect(inf.stdout).toMatch(/cli-2 .*team meeting notes.*ham/);
    expect(inf.stderr).toMatch(/cell usage of pay attributes and settles it on the next `tracebook run .*pay\.pipeline\.ts`/);
    // What the caller paid for is traced and split on the next run, in its own epoch: here at
    // once, with --settle, which runs the cells that settle it (all three fees) and says who got what.
    const settled = spawnSync(process.execPath, [BIN, "infer", file, "--model", "model", "--fee", "0.5", "--epoch", "e3", "--id", "cli-3", "--settle", "--", "casino jackpot tonight"], { encoding: "utf8", env });
    expect(settled.status, settled.stderr).toBe(0);
    expect(settled.stdout).toMatch(/^inference cli-3 \(epoch e3\): c\d+ 0\.\d+, .*; \d+ recipients in all, receipt [0-9a-f]{12}$/m);
    const paid = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e3"], { encoding: "utf8", env });
    expect(paid.status, paid.stderr).toBe(0);
    expect(paid.stdout).toMatch(/Epoch e3 \(policy default@1\): 3 inferences paid 1\.5 in fees; statement pays out 1\.5 \(reconciles to the base unit\)/);
    const bad = spawnSync(process.execPath, [BIN, "infer", file, "--model", "model", "--fee", "1e-3", "x"], { encoding: "utf8", env });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--fee/);
    const typo = spawnSync(process.execPath, [BIN, "infer", file, "--model", "modle", "x"], { encoding: "utf8", env });
    expect([typo.status, typo.stderr]).toEqual([2, "tracebook: --model modle: pipeline pay has no cell of that name (did you mean \"model\"? its model cells: base, model), and it is not a model id (≥ 8 hex characters)\n"]);
    const r = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e1"], { encoding: "utf8", env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/40 inferences paid 0\.00000000000004936 in fees; statement pays out 0\.00000000000004936 \(reconciles to the base unit\)/);
    expect(r.stdout).toMatch(/creator:pay/);
    // Beside the penalties, which side they fall on: every contributor in one group, the epoch's 40 inferences split by output.
    const j = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e1", "--json"], { encoding: "utf8", env });
    expect(j.status, j.stderr).toBe(0);
    const { penalties, sides } = JSON.parse(j.stdout) as { penalties: unknown[]; sides: { epoch: string; predictions: { inferences: number; mass_share: number }[]; sides: { contributors: number; penalised: number }[] }[] };
    expect(penalties.length).toBeGreaterThan(0);
    expect(sides.map((x) => x.epoch)).toEqual(["e1"]);
    expect(sides[0]!.predictions.reduce((n, p) => n + p.inferences, 0)).toBe(40);
    expect(sides[0]!.predictions.reduce((n, p) => n + p.mass_share, 0)).toBeCloseTo(1, 5);
    expect(sides[0]!.sides.reduce((n, x) => n + x.penalised, 0)).toBe(penalties.length);
    // The statement's amounts as JSON: exact integers in base units (text), summing to the fees.
    const shown = spawnSync(process.execPath, [BIN, "show", file, "rewards", "--json", "--limit", "1000"], { encoding: "utf8", env });
    expect(shown.status, shown.stderr).toBe(0);
    const statement = JSON.parse(shown.stdout) as { epoch: string; amount: string }[];
    expect(statement.every((l) => /^\d+$/.test(l.amount))).toBe(true);
    const total = (epoch: string) => statement.filter((l) => l.epoch === epoch).reduce((s, l) => s + BigInt(l.amount), 0n);
    expect([total("e1"), total("e3")]).toEqual([40n * 1234n, 15n * 10n ** 17n]);
    const none = spawnSync(process.execPath, [BIN, "rewards", "nothing"], { encoding: "utf8", env });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no settlement for pipeline "nothing"/);
    // A mistyped epoch of a pipeline that has settled others: the nearest, and the ones it has.
    const epoch = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e4"], { encoding: "utf8", env });
    expect([epoch.status, epoch.stderr]).toEqual([2, 'tracebook: no settlement for pipeline "pay" in epoch e4 (did you mean "e1"? its epochs: e1, e3)\n']);
    // One the ledger holds but no run has settled yet: what to run.
    const later = spawnSync(process.execPath, [BIN, "infer", file, "--model", "model", "--fee", "0.5", "--epoch", "e4", "--id", "cli-4", "--", "casino again"], { encoding: "utf8", env });
    expect(later.status, later.stderr).toBe(0);
    const unsettled = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e4"], { encoding: "utf8", env });
    expect([unsettled.status, unsettled.stderr]).toEqual([2, 'tracebook: no settlement for pipeline "pay" in epoch e4: run `tracebook run pay` first\n']);
  });
});

describe("settlement across a retrain", () => {
  it("keeps what was paid for a retrained model's inferences in the epoch's statement", async () => {
    const ws = await payWorkspace(rewardsPipeline());
    try {
      const [first] = await ws.rows<{ model_id: string }>("select distinct model_id from inferences");
      const before = await ws.rows<{ n: bigint }>("select count(*) as n from rewards");
      const traced = await ws.rows("select * from read_parquet(?) order by all", [await outputOf(ws, "pay", "influence")]);
      // A curator rejects a training contribution: the adapter retrains, the workload replays on the new model.
      await rejectATrainingRow(ws);
      expect((await runPipeline(ws, rewardsPipeline())).failed).toEqual([]);
      const models = await ws.rows<{ model_id: string }>("select distinct model_id from inferences order by model_id");
      expect(models.length).toBe(2);
      const fees = (await ws.rows<{ s: string }>("select sum(fee)::varchar as s from inferences where epoch = 'e1'"))[0]!.s;
      const paid = (await ws.rows<{ s: string }>("select sum(amount)::varchar as s from settlements where pipeline = 'pay' and epoch = 'e1'"))[0]!.s;
      expect(fees).toBe(String(80 * 1234));
      expect(paid).toBe(fees);
      // The first model's lines are those written at the time, untouched.
      const kept = await ws.rows<{ n: bigint }>("select count(*) as n from rewards r join inferences i on i.id = r.inference_id where i.model_id = ?", [first!.model_id]);
      expect(kept[0]!.n).toBe(before[0]!.n);
      // The first model's inferences stay in the usage table, marked settled earlier, with the
      // attribution they were paid on: what was paid can still be explored after the retrain.
      const second = await modelOfCell(ws, "pay", "model");
      expect(await ws.rows("select model_id, model_cell, settled_earlier, count(*)::integer as n from read_parquet(?) group by all order by all", [await outputOf(ws, "pay", "usage")]))
        .toEqual([{ model_id: first!.model_id, model_cell: null, settled_earlier: true, n: 40 }, { model_id: second, model_cell: "model", settled_earlier: false, n: 40 }].sort((a, b) => a.model_id.localeCompare(b.model_id)));
      expect(await ws.rows("select * from read_parquet(?) where model_id = ? order by all", [await outputOf(ws, "pay", "influence"), first!.model_id])).toEqual(traced);
      // The receipts of those inferences are the ones their lines cite.
      const cites = await ws.rows<{ n: bigint }>(
        `select count(*) as n from read_parquet(?) c join rewards r on r.inference_id = c.query and r.receipt_hash = c.receipt_hash where c.model_id = ? and r.role = 'protocol'`,
        [await outputOf(ws, "pay", "receipts"), first!.model_id]);
      expect(Number(cites[0]!.n)).toBe(40);
      // The attribution report settles both models' inferences and still passes every check:
      // this model's inferences cite its receipts, the first model's keep theirs.
      const facts = await collectFacts(ws, "pay");
      expect(facts.statement.map((e) => [e.inferences, e.fees.units, e.paid.units, e.reconciles])).toEqual([[80, String(80 * 1234), String(80 * 1234), true]]);
      expect(facts.checks.filter((c) => !c.ok)).toEqual([]);
      // Its influence section covers all 80 paid inferences, not only the current model's: every
      // contribution that led one of the first model's outputs is still counted.
      const covered = await ws.rows<{ n: bigint }>("select count(distinct query) as n from read_parquet(?) where query in (select inference_id from rewards)", [await outputOf(ws, "pay", "influence")]);
      expect(Number(covered[0]!.n)).toBe(80);
      expect(facts.influence.contributors.reduce((n, c) => n + c.inferences_led, 0)).toBeGreaterThan(40);
    } finally {
      ws.close();
    }
  }, 180_000);

  it("decides penalties per epoch and model: a retrain within an epoch never pays a contributor its model's penalty excludes", async () => {
    // Contributors by label (spam-0, spam-1, ham-0, ham-1): whichever output an epoch's
    // inferences ask for, the other side's contributors have a negative net and are penalised.
    const ws = await payWorkspace(rewardsPipeline(), { contributorsByLabel: true });
    const server = new ModelServer(ws.home);
    try {
      const first = await modelOfCell(ws, "pay", "model");
      const pay = (model: string, texts: string[], ids: string[]) =>
        infer(ws, server, model, texts.map((text) => ({ text })), { fee: 1000n, caller: "cli:kate", pipeline: "pay", source: "cli", ids, epoch: "e9" });
      const penalised = async (model: string) => ws.rows<{ contributor: string; recorded_at: string }>(
        "select contributor, strftime(recorded_at, '%Y-%m-%dT%H:%M:%S.%g') as recorded_at from reputation where pipeline = 'pay' and epoch = 'e9' and model_id = ? order by contributor", [model]);

      // Epoch e9 on the first model: spam asked for.
      await pay(first, ["casino winner pills tonight", "discount offer winner casino", "pills discount offer now"], ["s1", "s2", "s3"]);
      expect((await runPipeline(ws, rewardsPipeline())).failed).toEqual([]);
      const decided = await penalised(first);
      expect(decided.map((r) => r.contributor)).toEqual(["ham-0", "ham-1"]);

      // A curator's rejection; before the run that retrains, one more message through the first
      // model (ham this time), settled only after the retrain.
      await rejectATrainingRow(ws);
      await pay(first, ["team meeting notes draft"], ["late"]);
      const logs: string[] = [];
      const retrain = await runPipeline(ws, rewardsPipeline(), { onEvent: (e: GraphEvent) => { if (e.event === "cell-log" && e.cell === "rewards") logs.push(e.message); } });
      expect(retrain.failed).toEqual([]);
      const second = await modelOfCell(ws, "pay", "model");
      expect(second).not.toBe(first);
      // Split under the penalties decided with the first model's earlier e9 lines, which stay.
      expect(logs.join("\n")).toMatch(new RegExp(`1 inference of models since retrained is split under the penalties decided when their epoch's first lines were settled \\(e9 × model ${first.slice(0, 12)}\\)`));
      expect(await penalised(first)).toEqual(decided);
      const late = await ws.rows<{ recipient: string }>("select recipient from rewards where inference_id = 'late' and role = 'contributor'");
      expect(late.filter((l) => l.recipient.startsWith("ham-"))).toEqual([]);

      // Epoch e9 on the retrained model: ham asked for. Its own penalties, the other side.
      await pay(second, ["project lunch schedule update", "weekend coffee review report", "team draft review notes"], ["h1", "h2", "h3"]);
      expect((await runPipeline(ws, rewardsPipeline())).failed).toEqual([]);
      expect((await penalised(second)).map((r) => r.contributor)).toEqual(["spam-0", "spam-1"]);
      expect(await penalised(first)).toEqual(decided);

      // No line pays a contributor from the inferences its penalty covers, and the first model's
      // lines (which pay spam-0 and spam-1) are what they were.
      const contradicting = await ws.rows(
        `select p.model_id, p.contributor, r.inference_id from reputation p
         join rewards r on r.pipeline = p.pipeline and r.epoch = p.epoch and r.recipient = p.contributor and r.role = 'contributor'
         join inferences i on i.id = r.inference_id and i.model_id = p.model_id where p.epoch = 'e9'`);
      expect(contradicting).toEqual([]);
      const firstPaid = await ws.rows<{ recipient: string }>("select distinct recipient from rewards where inference_id in ('s1', 's2', 's3') and role = 'contributor' order by 1");
      expect(firstPaid.map((r) => r.recipient)).toEqual(["spam-0", "spam-1"]);

      // The report checks it, and lists each penalty with its model.
      const facts = await collectFacts(ws, "pay", { epochs: ["e9"] });
      expect(facts.checks.filter((c) => !c.ok)).toEqual([]);
      expect(facts.checks.find((c) => c.name === PENALTY_CHECK)?.detail).toBe("4 penalty records (epoch, model, contributor): none is paid from that model's inferences in its epoch");
      expect(facts.influence.penalised.map((p) => [p.model_id, p.contributor]).sort()).toEqual(
        [[first, "ham-0"], [first, "ham-1"], [second, "spam-0"], [second, "spam-1"]].sort());
      const page = renderHtml(facts, "0".repeat(64));
      expect(page).toContain(`<th class="nowrap">model</th>`);
      expect(page).toContain(`title="${first}">${first.slice(0, 12)}</span>`);
      // A record the lines contradict (as a net over both models' inferences would have written) fails the check.
      await ws.run("insert into reputation values ('pay', 'e9', ?, 'ham-0', -1, 'planted', '2026-01-01 00:00:00')", [second]);
      const planted = (await collectFacts(ws, "pay", { epochs: ["e9"] })).checks.find((c) => c.name === PENALTY_CHECK)!;
      expect(planted.ok).toBe(false);
      expect(planted.detail).toMatch(new RegExp(`^paid anyway: ham-0 0\\.000000000000001\\d* from 3 inferences of model ${second.slice(0, 12)} in e9$`));
      await ws.run("delete from reputation where record = 'planted'");

      // The statement says which model each penalty is on, and that the first was retrained since.
      ws.close();
      const env = { ...process.env, TRACEBOOK_HOME: ws.home };
      const printed = spawnSync(process.execPath, [BIN, "rewards", "pay", "--epoch", "e9"], { encoding: "utf8", env });
      expect(printed.status, printed.stderr).toBe(0);
      expect(printed.stdout).toContain(`Penalised on model ${first.slice(0, 12)} (retrained since; net influence negative over its 3 inferences in the epoch, so nothing from them): ham-0, ham-1`);
      expect(printed.stdout).toContain(`Penalised on model ${second.slice(0, 12)} (cell model; net influence negative over its 3 inferences in the epoch, so nothing from them): spam-0, spam-1`);
    } finally {
      server.dispose();
      ws.close();
    }
  }, 240_000);
});

describe("closing an epoch", () => {
  it("makes its settlement final: no run changes its lines or statement, no inference is recorded in it, and the report checks its root", async () => {
    const ws = await payWorkspace(rewardsPipeline());
    const server = new ModelServer(ws.home);
    try {
      const model = await modelOfCell(ws, "pay", "model");
      const at = "2026-11-30 00:00:00";
      // e2 holds a caller's inference no run settled yet: not closable, nor is an epoch with nothing in it.
      await infer(ws, server, model, [{ text: "casino winner pills" }], { fee: 500n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["e2-1"], epoch: "e2" });
      await expect(closeEpoch(ws, "pay", "e2", { by: "ops:alice", at })).rejects.toThrow(/^the inference of epoch e2 is not settled yet \(e2-1\): run `tracebook run pay` first/);
      await expect(closeEpoch(ws, "pay", "e9", { by: "ops:alice", at })).rejects.toThrow(/^no inference of pipeline pay is recorded in epoch e9/);
      expect((await runPipeline(ws, rewardsPipeline())).failed).toEqual([]);

      const final = async () => ({
        lines: await ws.rows("select inference_id, receipt_hash, recipient, role, amount::varchar as amount, reason from rewards where epoch = 'e1' order by all"),
        statement: await ws.rows("select recipient, role, amount::varchar as amount, inferences, reason from settlements where epoch = 'e1' order by all"),
        penalties: await ws.rows("select model_id, contributor, net_influence from reputation where epoch = 'e1' order by all"),
      });
      const closed = await final();
      const closure = await closeEpoch(ws, "pay", "e1", { by: "ops:alice", at });
      // The split's statement says which epochs are final: the closure makes it stale.
      expect((await pipelineStatus(ws, rewardsPipeline())).filter((c) => c.state !== "fresh").map((c) => [c.cell, c.reason]))
        .toEqual([["rewards", expect.stringMatching(/^the approval trail or the closed epochs changed/)]]);
      expect(closure).toMatchObject({ epoch: "e1", inferences: 40, fees: 40n * 1234n, lines: closed.lines.length, closed_by: "ops:alice" });
      await expect(closeEpoch(ws, "pay", "e1", { by: "ops:bob", at })).rejects.toThrow(/^epoch e1 of pipeline pay was closed at 2026-11-30T00:00:00.000Z by ops:alice: a closed epoch stays closed/);

      // A curator keeps a contribution e1's receipts cite: a new validator. The open epoch's
      // lines pay it; the closed epoch's stay as closed, and so does its statement.
      const topOf = (receipt: string) => (JSON.parse(receipt) as { top_contributions: { id: string }[] }).top_contributions.map((c) => c.id);
      const receiptsOf = async (epoch: string) => (await ws.rows<{ receipt: string }>(
        "select distinct a.receipt from attribution_receipts a join rewards w using (receipt_hash) where w.epoch = ?", [epoch])).map((x) => topOf(x.receipt));
      const inE1 = new Set((await receiptsOf("e1")).flat());
      const cited = (await receiptsOf("e2")).flat().find((id) => inE1.has(id))!; // cited on both sides: an open e1 would pay its new validator
      expect(cited).toBeDefined();
      await decide(ws, { ids: [cited], verdict: "keep", validator: "curator:kate", reason: "reviewed: fine" });
      const logs: string[] = [];
      const run = await runPipeline(ws, rewardsPipeline(), { onEvent: (e: GraphEvent) => { if (e.event === "cell-log" && e.cell === "rewards") logs.push(e.message); } });
      expect(run.failed).toEqual([]);
      expect(logs.join("\n")).toMatch(/40 inferences of closed epochs \(e1\) keep the lines they were closed with/);
      expect(await final()).toEqual(closed);
      expect(await ws.rows("select distinct epoch from rewards where recipient = 'curator:kate' order by 1")).toEqual([{ epoch: "e2" }]);
      // The split's table (what the notebook reads) names the root a closed epoch's lines hash to; an open one has none.
      expect(await ws.rows("select distinct epoch, lines_root from read_parquet(?) order by 1", [await outputOf(ws, "pay", "rewards")]))
        .toEqual([{ epoch: "e1", lines_root: closure.lines_root }, { epoch: "e2", lines_root: null }]);
      // Another trace of the same inferences (over the last checkpoint here; another engine, a new
      // tracin version or --force do the same in their last bits) gives them other receipts. The
      // closed lines still cite the receipts archived when they were written, and the report finds
      // each one stored.
      const retraced = pipeline("pay", [...payPipeline.cells].map(([n, c]) => [n, n === "influence" ? tracin({ model: "model", train: "train", test: "usage", topK: 5, checkpoints: "last" }) : c] as const));
      expect((await runPipeline(ws, retraced)).failed).toEqual([]);
      expect(await final()).toEqual(closed);
      const afterTrace = await collectFacts(ws, "pay");
      const e1 = new Set((await ws.rows<{ id: string }>("select id from inferences where epoch = 'e1'")).map((r) => r.id));
      const current = await ws.rows<{ query: string; receipt_hash: string }>("select query, receipt_hash from read_parquet(?)", [await outputOf(ws, "pay", "receipts")]);
      const citedNow = new Set(closed.lines.map((l) => `${(l as { inference_id: string }).inference_id} ${(l as { receipt_hash: string }).receipt_hash}`));
      expect(current.filter((r) => e1.has(r.query) && !citedNow.has(`${r.query} ${r.receipt_hash}`)).length).toBeGreaterThan(0); // the receipts did change
      expect(afterTrace.lineage.receipts.missing).toBe(0);
      expect(afterTrace.checks.filter((c) => !c.ok)).toEqual([]);
      expect((await runPipeline(ws, rewardsPipeline())).failed).toEqual([]);
      // The cell's statement still shows the closed epoch, as closed.
      const shown = await ws.rows<{ epoch: string; closed_at: string | null; closed_by: string | null }>(
        "select epoch, any_value(closed_at) as closed_at, any_value(closed_by) as closed_by from read_parquet(?) group by 1 order by 1", [await outputOf(ws, "pay", "rewards")]);
      expect(shown).toEqual([{ epoch: "e1", closed_at: "2026-11-30T00:00:00.000Z", closed_by: "ops:alice" }, { epoch: "e2", closed_at: null, closed_by: null }]);

      // No new inference in a closed epoch; a replay of one recorded before records nothing and is no error.
      await expect(infer(ws, server, model, [{ text: "team meeting" }], { fee: 5n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["late-e1"], epoch: "e1" }))
        .rejects.toThrow(/^epoch e1 of pipeline pay was closed at 2026-11-30T00:00:00.000Z by ops:alice: inference late-e1 cannot be recorded in it/);
      expect(await ws.rows("select id from inferences where id = 'late-e1'")).toEqual([]);
      const [old] = await ws.rows<{ id: string; payload_json: string; caller: string }>("select id, payload_json, caller from inferences where epoch = 'e1' order by id limit 1");
      await infer(ws, server, model, [JSON.parse(old!.payload_json)], { fee: 1234n, caller: old!.caller, pipeline: "pay", ids: [old!.id], epoch: "e1" });

      // A rejection retrains the model: the workload's replay on it (epoch e1) records nothing new,
      // and the run goes on; e1 is as it was closed.
      await rejectATrainingRow(ws);
      const workload: string[] = [];
      const retrain = await runPipeline(ws, rewardsPipeline(), { onEvent: (e: GraphEvent) => { if (e.event === "cell-log" && e.cell === "workload") workload.push(e.message); } });
      expect(retrain.failed).toEqual([]);
      expect(workload.join("\n")).toMatch(/epoch e1 was closed at 2026-11-30T00:00:00.000Z by ops:alice: 40 executions not recorded \(a closed epoch takes no new inference\)/);
      expect(await final()).toEqual(closed);
      expect(Number((await ws.rows<{ n: bigint }>("select count(*) as n from inferences where epoch = 'e1'"))[0]!.n)).toBe(40);
      // Its inferences, all by the model the rejection superseded, are still there to explore, with
      // the attribution they were paid on; the split's statement still shows the epoch, closed.
      expect(await ws.rows("select settled_earlier, count(*)::integer as n from read_parquet(?) where epoch = 'e1' group by all", [await outputOf(ws, "pay", "usage")]))
        .toEqual([{ settled_earlier: true, n: 40 }]);
      expect(await ws.rows("select count(distinct query)::integer as n from read_parquet(?) where query in (select id from inferences where epoch = 'e1')", [await outputOf(ws, "pay", "influence")]))
        .toEqual([{ n: 40 }]);
      expect(await ws.rows("select distinct epoch, closed_by from read_parquet(?) order by 1", [await outputOf(ws, "pay", "rewards")]))
        .toEqual([{ epoch: "e1", closed_by: "ops:alice" }, { epoch: "e2", closed_by: null }]);

      // The report says so and checks the lines against the closure's root …
      const facts = await collectFacts(ws, "pay");
      expect(facts.statement.find((e) => e.epoch === "e1")!.closure).toMatchObject({ closed_by: "ops:alice", lines: closed.lines.length, lines_root: closure.lines_root, recomputed_root: closure.lines_root });
      expect(facts.statement.find((e) => e.epoch === "e2")!.closure).toBeUndefined();
      expect(facts.checks.filter((c) => !c.ok)).toEqual([]);
      expect(facts.checks.find((c) => c.name === CLOSURE_CHECK)).toMatchObject({ ok: true });
      const page = renderHtml(facts, "0".repeat(64));
      expect(page).toMatch(/<p class="closure" id="closure-e1"><strong>Closed<\/strong> 2026-11-30T00:00:00.000Z by ops:alice: final\./);
      expect(page).toMatch(/id="closure-e2">Open: provisional/);
      // … which fails once a closed line is changed, even with the totals kept.
      const [a, b] = await ws.rows<{ inference_id: string; recipient: string; role: string }>("select inference_id, recipient, role from rewards where epoch = 'e1' and amount > 1 order by all limit 2");
      const bump = (x: typeof a, d: number) => ws.run("update rewards set amount = amount + ? where epoch = 'e1' and inference_id = ? and recipient = ? and role = ?", [d, x!.inference_id, x!.recipient, x!.role]);
      await bump(a, 1);
      await bump(b, -1);
      const tampered = (await collectFacts(ws, "pay")).checks.find((c) => c.name === CLOSURE_CHECK)!;
      expect(tampered.ok).toBe(false);
      expect(tampered.detail).toMatch(/^changed since closed: e1 \(closed with \d+ lines/);
      // A reviewer checking one of its payments sees it too.
      const payment = await checkPayment(ws, a!.inference_id);
      expect(payment.checks.find((c) => c.name === "its epoch is closed and keeps the lines it was closed with")).toMatchObject({ ok: false, detail: expect.stringMatching(/^epoch e1 was closed with \d+ lines hashing to/) });
      await bump(a, -1);
      await bump(b, 1);
      expect((await checkPayment(ws, a!.inference_id)).checks.find((c) => c.name.startsWith("its epoch is closed"))).toMatchObject({ ok: true, detail: expect.stringMatching(/^epoch e1 closed 2026-11-30T00:00:00.000Z by ops:alice: final/) });
      expect((await checkPayment(ws, "e2-1")).checks.some((c) => c.name.startsWith("its epoch is closed"))).toBe(false);

      // From the command line: the statement says closed or open, and a stale split cannot be closed.
      await decide(ws, { ids: [cited], verdict: "keep", validator: "curator:lee", reason: "reviewed too" });
      const [penalisedOne] = await ws.rows<{ contributor: string; model_id: string }>("select contributor, model_id from reputation where pipeline = 'pay' and epoch = 'e1' order by contributor limit 1");
      expect(penalisedOne).toBeDefined();
      ws.close();
      const env = { ...process.env, TRACEBOOK_HOME: ws.home };
      const file = path.resolve("test/fixtures/pay.pipeline.ts");
      const stale = spawnSync(process.execPath, [BIN, "rewards", file, "--epoch", "e2", "--close"], { encoding: "utf8", env });
      expect(stale.status).toBe(2);
      expect(stale.stderr).toMatch(/cell rewards is stale \(the approval trail or the closed epochs changed.*\): run `tracebook run .*` first, so the closed statement is the one the pipeline gives now/);
      expect(spawnSync(process.execPath, [BIN, "run", file], { encoding: "utf8", env }).status).toBe(0);
      const closing = spawnSync(process.execPath, [BIN, "rewards", file, "--epoch", "e2", "--close", "--by", "ops:bob"], { encoding: "utf8", env });
      expect(closing.status, closing.stderr).toBe(0);
      expect(closing.stdout).toMatch(/^Closed epoch e2 of .*: 1 inference, fees 0\.0000000000000005, \d+ reward lines \(root [0-9a-f]{16}…\); final from now on$/m);
      expect(closing.stdout).toMatch(/Epoch e2 \(policy default@1\): 1 inference paid .*; closed \S+ by ops:bob: final/);
      const all = spawnSync(process.execPath, [BIN, "rewards", "pay"], { encoding: "utf8", env });
      expect(all.stdout).toMatch(/Epoch e1 \(policy default@1\): 40 inferences .*; closed 2026-11-30T00:00:00.000Z by ops:alice: final/);

      // One recipient's side: a curator paid as validator in e2 only; a contributor penalised in e1, on the model the record names.
      const kate = spawnSync(process.execPath, [BIN, "rewards", "pay", "--recipient", "curator:kate", "--json"], { encoding: "utf8", env });
      expect(kate.status, kate.stderr).toBe(0);
      const side = JSON.parse(kate.stdout) as { epoch: string; closed: { by: string } | null; roles: { role: string }[]; lines: { role: string; model_id: string; inference_id: string }[]; penalties: unknown[] }[];
      expect(side.map((e) => [e.epoch, e.closed?.by ?? null, e.roles.map((r) => r.role), e.penalties.length])).toEqual([["e2", "ops:bob", ["validator"], 0]]);
      expect(side[0]!.lines.map((l) => [l.inference_id, l.role, l.model_id])).toEqual([["e2-1", "validator", model]]);
      const pen = spawnSync(process.execPath, [BIN, "rewards", "pay", "--recipient", penalisedOne!.contributor, "--epoch", "e1", "--limit", "2"], { encoding: "utf8", env });
      expect(pen.status, pen.stderr).toBe(0);
      expect(pen.stdout).toMatch(new RegExp(`^${penalisedOne!.contributor} in epoch e1 of pay \\(closed 2026-11-30T00:00:00.000Z by ops:alice: final\\): paid `));
      expect(pen.stdout).toContain(`Penalised on model ${penalisedOne!.model_id.slice(0, 12)}: net influence`);
      const nobody = spawnSync(process.execPath, [BIN, "rewards", "pay", "--recipient", "nobody"], { encoding: "utf8", env });
      expect(nobody.status).toBe(2);
      expect(nobody.stderr).toMatch(/"nobody" was neither paid nor penalised by pipeline pay \(recipients are names/);
      const kat = spawnSync(process.execPath, [BIN, "rewards", "pay", "--recipient", "curator:kat"], { encoding: "utf8", env });
      expect([kat.status, kat.stderr]).toEqual([2, expect.stringMatching(/^tracebook: "curator:kat" was neither paid nor penalised by pipeline pay \(did you mean "curator:kate"\? recipients are names/)]);
    } finally {
      server.dispose();
      ws.close();
    }
  }, 240_000);
});

describe("the statement's penalty lines", () => {
  it("name every penalised contributor up to 20, then say how many more", () => {
    const scope = (n: number) => ({ epoch: "e1", model_id: "ab".repeat(32), inferences: 3, penalised: Array.from({ length: n }, (_, i) => ({ contributor: `c${i}`, record: "" })) });
    const cells = new Map([["ab".repeat(32), "model"]]);
    expect(penaltyLine(scope(20), cells)).toMatch(/so nothing from them\): c0, c1, .*, c19$/);
    const many = penaltyLine(scope(170), cells);
    expect(many).toMatch(/so nothing from them\): c0, c1, .*, c19 and 150 more \(170 in all; --json or --recipient <name> for each\)$/);
    expect(many).not.toContain("c20");
  });
});
