import fs from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Workspace } from "../cells/store/workspace.ts";
import { writeReport, type WrittenReport } from "../reports/write.ts";
import { verifyReport } from "../reports/verify.ts";
import { reportErrors } from "../reports/schema.ts";
import { runFolder, runIdOf, type ReportDocument } from "../reports/facts.ts";
import { registerReport } from "../bin/commands/report.ts";
import { InputError } from "../cells/datanet/errors.ts";
import { openWorkspaceRetrying, tempDir } from "./helpers/workspace.ts";
import { reportWorkspace } from "./input/report/workspace.ts";
import qualityPipeline from "./input/report/quality.pipeline.ts";
import { runPipeline } from "../cells/graph/scheduler.ts";
import { renderHtml } from "../reports/render/page.ts";
import { sha256 } from "../cells/graph/fingerprint.ts";
import { CLOSURE_CHECK, PENALTY_CHECK, QUALITY_CHECK, collectFacts } from "../reports/collect/collect.ts";
import { closeEpoch } from "../cells/rewards/closures.ts";
import { LOSS_GRADIENT } from "../reports/collect/methodology.ts";

/** The golden input of test/report-render.test.ts: REPORT_GOLDEN_INPUT=1 rewrites it from this workspace. */
const GOLDEN_INPUT = path.resolve("test/input/report/pay.facts.json");

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file));
const doc = (dir: string) => JSON.parse(read(dir, "report.json").toString("utf8")) as ReportDocument;

/**
 * A copy of a report as an earlier version would have written it: `older` takes out what that
 * version did not state; the run id, index.html and its hash follow, as that writer made them.
 * Returns the copy's folder and its page.
 */
function olderCopy(dir: string, prefix: string, older: (d: ReportDocument) => void): { copy: string; page: string; d: ReportDocument } {
  const copy = tempDir(prefix);
  fs.cpSync(dir, copy, { recursive: true });
  const d = doc(copy);
  older(d);
  d.run_id = runIdOf(d.facts);
  const page = renderHtml(d.facts, d.run_id);
  fs.writeFileSync(path.join(copy, "index.html"), page);
  d.files["index.html"] = sha256(page);
  fs.writeFileSync(path.join(copy, "report.json"), JSON.stringify(d));
  return { copy, page, d };
}

/** The report command as the CLI will mount it, with the global --workspace option; output captured. */
async function cli(home: string, args: string[]): Promise<{ out: string; code: number }> {
  const program = new Command("tracebook").option("--workspace <dir>").exitOverride();
  registerReport(program);
  program.commands.forEach(function exit(c: Command): void {
    c.exitOverride();
    c.commands.forEach(exit);
  });
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
  const before = process.exitCode;
  try {
    await program.parseAsync(["node", "tracebook", "--workspace", home, ...args]);
    return { out: lines.join("\n"), code: typeof process.exitCode === "number" ? process.exitCode : 0 };
  } finally {
    log.mockRestore();
    process.exitCode = before;
  }
}

describe("attribution report: write, verify, tamper", () => {
  let ws: Workspace;
  let home: string;
  let out: string;
  let report: WrittenReport;
  let closed = false;
  beforeAll(async () => {
    ({ ws } = await reportWorkspace({ quality: true }));
    home = ws.home;
    out = tempDir("tb-report-");
    report = await writeReport(ws, "pay", { out, pdf: false });
    if (process.env.REPORT_GOLDEN_INPUT === "1") fs.writeFileSync(GOLDEN_INPUT, `${JSON.stringify(report.facts, null, 1)}\n`);
  }, 180_000);
  afterAll(() => {
    if (!closed) ws?.close();
  });

  it("writes index.html and report.json under <out>/<pipeline>/<run id>/, and report.json matches its schema", () => {
    expect(report.dir).toBe(path.join(out, "pay", runFolder(report.runId)));
    expect(Object.keys(report.files)).toEqual(["index.html", "report.json"]);
    expect(report.pdfSkipped).toBe("not requested");
    const d = doc(report.dir);
    expect(reportErrors(d)).toEqual([]);
    expect(d.run_id).toBe(runIdOf(d.facts));
    // No temp folder is left beside the report.
    expect(fs.readdirSync(path.join(out, "pay"))).toEqual([runFolder(report.runId)]);
  });

  it("reconciles fees, statement and reward lines to the base unit", async () => {
    const f = doc(report.dir).facts;
    const [fees] = await ws.rows<{ s: string }>("select sum(fee)::varchar as s from inferences where pipeline = 'pay'");
    expect(f.summary.fees.units).toBe(String(40 * 1234));
    expect(f.summary.fees.units).toBe(fees!.s);
    expect(f.summary.paid.units).toBe(f.summary.fees.units);
    const lines = f.statement.flatMap((e) => e.lines);
    expect(lines.reduce((s, l) => s + BigInt(l.amount.units), 0n)).toBe(40n * 1234n);
    expect(lines.every((l) => l.amount.units === l.lines_total.units)).toBe(true);
    expect(f.checks.every((c) => c.ok)).toBe(true);
    expect(f.never_executed).toEqual([expect.objectContaining({ cell: "base", reason: "base was never executed in epoch e1: nothing earns for existing" })]);
  });

  it("shows the curator's rejection of a contribution that trained the model", () => {
    const q = doc(report.dir).facts.quality;
    expect(q.trained_then_changed).toHaveLength(1);
    expect(q.flagged).toEqual([expect.objectContaining({ verdict: "rejected", validator: "curator:ann", reason: "duplicate of a newsletter" })]);
    expect(q.self_influence.length).toBeGreaterThan(0);
  });

  it("shows how far the scores can be trusted: LOCO, LDS and mislabel detection run on the report's model", () => {
    const { facts } = doc(report.dir);
    const t = facts.trust!;
    expect(t.model_id).toBe(facts.summary.model.id);
    expect(t.command).toBe("npx tracebook run pay-quality");
    expect(t.loco).toMatchObject({ contributors: 4, ceiling: { seeds: "seed 5 vs seed 6" } });
    expect(t.loco!.modes.map((m) => m.mode)).toEqual(["exact", "last-layer"]);
    expect(t.lds!.modes.map((m) => [m.mode, m.subsets])).toEqual([["exact", 6], ["last-layer", 6]]);
    expect(t.lds!.published.map((p) => p.lds)).toEqual([0.15, 0.26, 0.45]);
    expect(t.mislabel).toMatchObject({ rows: 90, flipped: 18, fraction: 0.2, flip_seed: 3 });
    expect(t.mislabel!.scores.map((s) => s.score)).toEqual(["label-error score", "self-influence", "loss"]);
    for (const x of [t.loco!.ceiling!.spearman, ...t.loco!.modes.map((m) => m.spearman), ...t.lds!.modes.map((m) => m.lds), ...t.mislabel!.scores.map((s) => s.auc)]) {
      expect(x).toBeTypeOf("number");
    }
    for (const r of [t.loco!.run, t.lds!.run, t.mislabel!.run]) expect(r).toMatchObject({ pipeline: "pay-quality", recomputed_data_version: r.data_version });
    expect(facts.checks.find((c) => c.name === QUALITY_CHECK)).toMatchObject({ ok: true });
    const page = read(report.dir, "index.html").toString("utf8");
    const section = /<section id="trust">[\s\S]*?<\/section>/.exec(page)?.[0] ?? "";
    expect(section).toContain("How far the scores can be trusted");
    const exact = t.loco!.modes[0]!.spearman!.toFixed(2).replace("-", "−");
    expect(section).toMatch(new RegExp(`Exact TracIn, the mode behind this report&#39;s scores, ranks the 4 contributors as retraining without each of them does at Spearman ${exact}, where two retrainings under different seeds agree with each other at ${t.loco!.ceiling!.spearman!.toFixed(2)}`));
    expect(section).toContain(`<td>label-error score</td><td class="num">${t.mislabel!.scores[0]!.auc!.toFixed(2)}</td>`);
    expect(section).toContain("TracIn (dattri, MNIST-10 MLP)");
    expect(section).not.toContain("No quality evaluation");
  });

  it("quotes the what-if answers on the report's model: a pipeline's counterfactual cell and a question asked with tracebook what-if", async () => {
    const { facts } = doc(report.dir);
    const quoted = facts.trust!.counterfactuals!;
    expect(quoted.map((c) => [c.asked_with, c.without, c.run.pipeline]).sort()).toEqual([["pipeline", "contributor c0", "pay-quality"], ["what-if", "contributor c1", "pay"]]);
    expect(quoted.map((c) => c.removed)).toEqual(quoted.map((c) => c.removed).sort((a, b) => b - a));
    const c = quoted.find((x) => x.run.cell === "without_c0")!;
    expect(c).toMatchObject({ removed_contributors: 1, measured_on: "queries", seed_check: 6 });
    expect(quoted.find((x) => x.asked_with === "what-if")).toMatchObject({ seed_check: null, flips_seed: null, accuracy: { seed: null } });
    for (const q of quoted) expect(q.run.recomputed_data_version).toBe(q.run.data_version);
    // The table's own numbers, as the cell wrote them.
    const [s] = await ws.rows<Record<string, number>>("select * from read_parquet(?) where row = 'summary'",
      [(await ws.rows<{ artifact: string }>("select artifact from runs where cell = 'without_c0' and status = 'succeeded'"))[0]!.artifact]);
    expect([c.removed, c.kept, c.flips, c.flips_seed, c.measured_rows, c.removed_in_base]).toEqual(
      [s!.removed_contributions, s!.kept_contributions, s!.flips, s!.flips_seed, s!.measured_rows, s!.removed_in_base]);
    expect(c.accuracy.without).toBeCloseTo(s!.accuracy_after!, 6);
    const section = /<section id="trust">[\s\S]*?<\/section>/.exec(read(report.dir, "index.html").toString("utf8"))?.[0] ?? "";
    expect(section).toContain("Retrained without them: what-if questions asked of this model");
    expect(section).toMatch(new RegExp(`<td>contributor c0 <span class="muted">\\(cell pay-quality/without_c0\\)</span></td><td class="num">${c.removed}<br>`));
    expect(section).toContain(`<td>contributor c1</td>`);
  });


  it("gives the same run id and the same bytes when written again", async () => {
    const again = await writeReport(ws, "pay", { out, pdf: false, epoch: "e1" });
    expect(again.runId).toBe(report.runId);
    expect(read(again.dir, "index.html").equals(read(report.dir, "index.html"))).toBe(true);
    expect(read(again.dir, "report.json").equals(read(report.dir, "report.json"))).toBe(true);
  });

  it("verifies against the workspace", async () => {
    const v = await verifyReport(ws, report.dir);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.ok).toBe(true);
  });

  it("hashes every receipt of the receipts cell again: one stored otherwise still recomputes, a doctored one does not", async () => {
    const [{ artifact }] = (await ws.rows<{ artifact: string }>("select artifact from runs where pipeline = 'pay' and cell = 'receipts' and artifact is not null order by finished_at desc limit 1")) as [{ artifact: string }];
    const count = doc(report.dir).facts.lineage.receipts.count;
    expect(doc(report.dir).facts.lineage.receipts).toMatchObject({ count, recomputed: count, mismatched: 0 });
    const saved = fs.readFileSync(artifact);
    const [a, b] = (await ws.rows<{ query: string; receipt: string }>("select query, receipt from read_parquet(?) order by query limit 2", [artifact])) as [{ query: string; receipt: string }, { query: string; receipt: string }];
    const doctored = JSON.parse(b.receipt) as { top_contributions: { score: number }[] };
    doctored.top_contributions[0]!.score *= 1.01;
    const rewritten = path.join(tempDir("tb-report-receipts-"), "receipts.parquet");
    await ws.run(`copy (select * replace (case query when ? then ? when ? then ? else receipt end as receipt) from read_parquet(?)) to '${rewritten}' (format parquet)`,
      [a.query, JSON.stringify(JSON.parse(a.receipt), null, 1), b.query, JSON.stringify(doctored), artifact]);
    fs.copyFileSync(rewritten, artifact);
    try {
      // The indented one is not byte-canonical: hashed through canonicalJson, it still gives its hash.
      expect((await collectFacts(ws, "pay")).lineage.receipts).toMatchObject({ count, recomputed: count - 1, mismatched: 1 });
    } finally {
      fs.writeFileSync(artifact, saved);
    }
    expect((await collectFacts(ws, "pay")).lineage.receipts).toMatchObject({ count, recomputed: count, mismatched: 0 });
  });

  it("states its recomputed receipts, and verifies a report written before reports recomputed them", async () => {
    const d0 = doc(report.dir);
    expect(d0.facts.lineage.receipts.attribution).toMatchObject({ ok: true, sampled: 20, seed: 0, mismatched: 0, detail: expect.stringMatching(/^all 20 match/) });
    expect(d0.facts.checks.find((c) => c.name === "attribution recomputes from the checkpoints")).toMatchObject({ ok: true });
    const { copy, page, d } = olderCopy(report.dir, "tb-report-old-", (old) => {
      delete old.facts.lineage.receipts.attribution;
      old.facts.checks = old.facts.checks.filter((c) => c.name !== "attribution recomputes from the checkpoints");
    });
    expect(page).not.toContain("TracIn run again from the checkpoints");
    expect(reportErrors(d)).toEqual([]);
    const v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.some((c) => c.name.includes("attribution recomputes"))).toBe(false);
  });

  it("states that every receipt its lines cite is archived, and verifies a report written before the archive", async () => {
    const d0 = doc(report.dir);
    expect(d0.facts.lineage.receipts.archive).toEqual({ cited: 40, archived: 40, recomputed: 40 });
    expect(d0.facts.checks.find((c) => c.name === "every receipt a reward line cites is archived")).toMatchObject({ ok: true });
    const { copy, d } = olderCopy(report.dir, "tb-report-old-", (old) => {
      delete old.facts.lineage.receipts.archive;
      old.facts.checks = old.facts.checks.filter((c) => c.name !== "every receipt a reward line cites is archived");
    });
    expect(reportErrors(d)).toEqual([]);
    const v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    // An archived receipt doctored after the report: the report no longer matches the workspace.
    const [{ receipt_hash: hash, receipt }] = (await ws.rows<{ receipt_hash: string; receipt: string }>("select receipt_hash, receipt from attribution_receipts limit 1")) as [{ receipt_hash: string; receipt: string }];
    await ws.run("update attribution_receipts set receipt = replace(receipt, '\"format\"', '\"formats\"') where receipt_hash = ?", [hash]);
    const bad = await verifyReport(ws, report.dir);
    expect(bad.checks.find((c) => c.name === "workspace now: every receipt a reward line cites is archived")).toMatchObject({ ok: false, detail: expect.stringMatching(/^39 of the 40 receipts/) });
    // The same receipt written otherwise (indented): not the receipts cell's text, so hashed again here, and it still recomputes.
    await ws.run("update attribution_receipts set receipt = ? where receipt_hash = ?", [JSON.stringify(JSON.parse(receipt), null, 1), hash]);
    expect((await verifyReport(ws, report.dir)).ok).toBe(true);
    await ws.run("update attribution_receipts set receipt = ? where receipt_hash = ?", [receipt, hash]);
    expect((await verifyReport(ws, report.dir)).ok).toBe(true);
  });

  it("names each penalty's model and checks no line pays it, and verifies a report written before penalties were per model", async () => {
    const d0 = doc(report.dir);
    const models = new Set(d0.facts.influence.penalised.map((p) => p.model_id));
    expect([...models]).toEqual([d0.facts.summary.model.id]);
    expect(d0.facts.influence.penalties_paid).toEqual({ records: d0.facts.influence.penalised.length, unscoped: 0, paid: [] });
    expect(d0.facts.checks.find((c) => c.name === PENALTY_CHECK)).toMatchObject({ ok: true });
    const { copy, d } = olderCopy(report.dir, "tb-report-old-", (old) => {
      const i = old.facts.influence;
      delete i.penalties_paid;
      for (const list of [i.penalised, i.penalty_stability ?? [], i.penalty_sides ?? []]) for (const x of list) delete x.model_id;
      old.facts.checks = old.facts.checks.filter((c) => c.name !== PENALTY_CHECK);
    });
    expect(reportErrors(d)).toEqual([]);
    const v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it("states its loss gradient and counts its receipts by it, and verifies a report written before either was stated", async () => {
    const d0 = doc(report.dir);
    expect(d0.facts.methodology.loss_gradient).toBe(LOSS_GRADIENT);
    expect(d0.facts.lineage.receipts.loss_gradients).toEqual({ summed: 40, subtracted: 0 });
    const { copy, page, d } = olderCopy(report.dir, "tb-report-old-", (old) => {
      delete old.facts.methodology.loss_gradient;
      delete old.facts.lineage.receipts.loss_gradients;
    });
    expect(page).not.toContain("Loss gradient");
    expect(reportErrors(d)).toEqual([]);
    const v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it("verifies a report written before the ledger was broken down by source", async () => {
    expect(doc(report.dir).facts.lineage.ledger.sources).toEqual([{ source: "workload:pay.usage", inferences: 40, fees: { units: String(40 * 1234), tokens: "0.00000000000004936" } }]);
    const { copy, d } = olderCopy(report.dir, "tb-report-old-", (old) => {
      delete old.facts.lineage.ledger.sources;
    });
    expect(reportErrors(d)).toEqual([]);
    const v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it("verifies a report written before the trust section existed (no facts.trust), and fails on a tampered quality table", async () => {
    const { copy, page, d } = olderCopy(report.dir, "tb-report-old-", (old) => {
      delete old.facts.trust;
      old.facts.checks = old.facts.checks.filter((c) => !c.name.startsWith("quality-evaluation"));
    });
    expect(page).not.toContain("How far the scores can be trusted");
    expect(reportErrors(d)).toEqual([]);
    const v = await verifyReport(ws, copy);
    // The workspace's checks now include the quality tables' hashes; an old report made no such claim.
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.find((c) => c.name.startsWith("workspace: how far"))).toMatchObject({ ok: true, detail: expect.stringMatching(/not in this report/) });

    // A quality table edited after the report: its numbers and its hash no longer match.
    const run = doc(report.dir).facts.trust!.lds!.run;
    const [row] = await ws.rows<{ artifact: string }>("select artifact from runs where pipeline = 'pay-quality' and cell = 'lds' and data_version = ? limit 1", [run.data_version]);
    const saved = fs.readFileSync(row!.artifact);
    try {
      await ws.run(`copy (select * replace (case when source = 'ours' then 0.99 else lds end as lds) from read_parquet('${row!.artifact}')) to '${row!.artifact}.tmp' (format parquet)`);
      fs.renameSync(`${row!.artifact}.tmp`, row!.artifact);
      const bad = await verifyReport(ws, report.dir);
      expect(bad.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(expect.arrayContaining([
        "workspace: how far the scores can be trusted (LOCO, LDS, mislabel detection, what-if answers)", "workspace now: quality-evaluation tables match the run log",
      ]));
    } finally {
      fs.writeFileSync(row!.artifact, saved);
    }
    expect((await verifyReport(ws, report.dir)).ok).toBe(true);
  });

  it("fails verification after a tampered reward line in the workspace, and passes once it is restored", async () => {
    const where = "pipeline = 'pay' and role = 'creator' and inference_id = (select min(inference_id) from rewards where pipeline = 'pay')";
    await ws.run(`update rewards set amount = amount + 1 where ${where}`);
    try {
      const v = await verifyReport(ws, report.dir);
      expect(v.ok).toBe(false);
      const failed = v.checks.filter((c) => !c.ok).map((c) => c.name);
      expect(failed).toContain("workspace: reward statement (every recipient's total and its reward lines)");
      expect(failed).toContain("workspace now: statement equals the sum of reward lines");
      expect(v.checks.find((c) => c.name.startsWith("workspace: lineage"))!.detail).toMatch(/reward_lines\/root/);
    } finally {
      await ws.run(`update rewards set amount = amount - 1 where ${where}`);
    }
    expect((await verifyReport(ws, report.dir)).ok).toBe(true);
  });

  it("fails verification after a tampered line in report.json or in index.html", async () => {
    const copy = tempDir("tb-report-copy-");
    fs.cpSync(report.dir, copy, { recursive: true });
    const d = doc(copy);
    const line = d.facts.statement[0]!.lines[0]!;
    line.amount = { units: String(BigInt(line.amount.units) + 1n), tokens: "tampered" };
    fs.writeFileSync(path.join(copy, "report.json"), JSON.stringify(d));
    let v = await verifyReport(ws, copy);
    expect(v.ok).toBe(false);
    expect(v.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(expect.arrayContaining([
      "report.json matches reports/report.schema.json",
    ]));

    fs.cpSync(report.dir, copy, { recursive: true });
    const d2 = doc(copy);
    const l2 = d2.facts.statement[0]!.lines[0]!;
    l2.amount = { units: String(BigInt(l2.amount.units) + 1n), tokens: l2.amount.tokens };
    fs.writeFileSync(path.join(copy, "report.json"), JSON.stringify(d2));
    v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(expect.arrayContaining([
      "run id is the hash of the facts", "index.html is the rendering of report.json", "workspace: reward statement (every recipient's total and its reward lines)",
    ]));

    fs.cpSync(report.dir, copy, { recursive: true });
    const page = read(copy, "index.html").toString("utf8");
    const amount = `>${doc(report.dir).facts.statement[0]!.lines[0]!.amount.tokens}<`;
    expect(page).toContain(amount);
    fs.writeFileSync(path.join(copy, "index.html"), page.replace(amount, ">999<"));
    v = await verifyReport(ws, copy);
    expect(v.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(["index.html is the file report.json names", "index.html is the rendering of report.json"]);
  });

  it("still verifies once another question has been answered on the model: the report claims only the answers it quotes", async () => {
    // Another answer on the same model, as a later `tracebook what-if` leaves it in the run log.
    // (The fixture's curator rejection makes the pay pipeline retrain first: asked for real now, a
    // question would be about another model, so the answer is the c1 question's, filed again.)
    await ws.run(`insert into runs select * replace (id || '-later' as id, 'what_if_0123456789ab' as cell, now()::timestamp as finished_at)
      from runs where pipeline = 'pay' and kind = 'counterfactual' and status = 'succeeded'`);
    try {
      await laterQuestion();
    } finally {
      await ws.run("delete from runs where id like '%-later'"); // the tests after this one write the same report again
    }
  });

  async function laterQuestion(): Promise<void> {
    const v = await verifyReport(ws, report.dir);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    const later = await writeReport(ws, "pay", { out, pdf: false });
    const cells = later.facts.trust!.counterfactuals!.map((c) => c.run.cell);
    expect(cells).toHaveLength(3);
    expect(cells).toEqual(expect.arrayContaining(["what_if_0123456789ab", "without_c0"]));
    expect(later.runId).not.toBe(report.runId);
    expect((await verifyReport(ws, later.dir)).ok).toBe(true);
    // A report written before the part existed quotes no answer, and still verifies.
    const { copy, page } = olderCopy(report.dir, "tb-report-pre-whatif-", (d) => {
      delete d.facts.trust!.counterfactuals;
      d.facts.checks = d.facts.checks.map((c) => (c.name === QUALITY_CHECK ? { ...c, detail: c.detail.replace(/, pay\/what_if_\w+|, pay-quality\/without_c0/g, "") } : c));
    });
    expect(page).not.toContain("Retrained without them");
    const old = await verifyReport(ws, copy);
    expect(old.checks.filter((c) => !c.ok)).toEqual([]);
  }

  // Last: the command opens the workspace itself, so this test closes the one the others share.
  it("runs from the command line: report prints the path, verify exits 0, then 1 after tampering", async () => {
    ws.close();
    closed = true;
    const w = await cli(home, ["report", "pay", "--out", out, "--no-pdf"]);
    expect(w.code).toBe(0);
    expect(w.out).toContain(`Report written: ${path.join(report.dir, "index.html")}`);
    expect(w.out).toMatch(/epoch e1: 40 inferences, fees 0\.00000000000004936, paid out 0\.00000000000004936 \(reconciles to the base unit\)/);
    const ok = await cli(home, ["report", "verify", report.dir]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/matches the workspace: \d+ checks pass/);
    // The report's own sample of receipts is recomputed with TracIn, as when it was written; the pay pipeline has 40.
    expect(ok.out).toMatch(/✓ workspace now: attribution recomputes from the checkpoints: 20 of 40 receipts drawn with seed 0: all 20 match/);
    expect(ok.out).not.toMatch(/attribution recomputed from the checkpoints \(/);
    // A reviewer's own sample besides.
    const mine = await cli(home, ["report", "verify", report.dir, "--recompute", "40", "--seed", "7"]);
    expect(mine.code).toBe(0);
    expect(mine.out).toMatch(/✓ attribution recomputed from the checkpoints \(40 of 40 receipts, sample seed 7\): all 40 match/);
    await expect(cli(home, ["report", "verify", report.dir, "--recompute", "-1"])).rejects.toThrow(/--recompute: a count of receipts/);
    await expect(cli(home, ["report", "verify", report.dir, "--recompute", "5", "--seed", "-3"])).rejects.toThrow(/--seed: a seed, a whole number 0 or more \(got "-3"\)/);
    const copy = tempDir("tb-report-cli-");
    fs.cpSync(report.dir, copy, { recursive: true });
    const d = doc(copy);
    d.facts.statement[0]!.lines[0]!.amount.units = "1";
    fs.writeFileSync(path.join(copy, "report.json"), JSON.stringify(d));
    const bad = await cli(home, ["report", "verify", copy]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/✗ workspace: reward statement/);
    expect(bad.out).toMatch(/does NOT match: \d+ of \d+ checks failed/);
    await expect(cli(home, ["report", "pay", "--epoch", "nope", "--out", out])).rejects.toThrow(InputError);
    await expect(cli(home, ["report", "verify", path.join(out, "nothing")])).rejects.toThrow(/is not a report folder/);
  });

  it("still verifies once its epoch is closed: closing changes no line, and the report made no claim about it", async () => {
    expect(doc(report.dir).facts.statement.every((e) => e.closure === undefined)).toBe(true);
    const ws = await openWorkspaceRetrying(home); // the command-line test closed the suite's handle
    try {
      await closeEpoch(ws, "pay", "e1", { by: "ops:alice", at: "2026-11-30 00:00:00" });
      const v = await verifyReport(ws, report.dir);
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
      expect(v.checks.some((c) => c.name.includes(CLOSURE_CHECK))).toBe(false);
      // A report written now states the closure and checks it.
      const closed = await writeReport(ws, "pay", { out: tempDir("tb-report-closed-"), pdf: false });
      expect(closed.facts.statement[0]!.closure).toMatchObject({ closed_by: "ops:alice" });
      expect(closed.facts.checks.find((c) => c.name === CLOSURE_CHECK)).toMatchObject({ ok: true });
      expect((await verifyReport(ws, closed.dir)).ok).toBe(true);
    } finally {
      ws.close();
    }
  });
});

describe("attribution report: no quality evaluation of the model", () => {
  it("says so and names the command; an evaluation of another model does not count", async () => {
    const { ws } = await reportWorkspace();
    try {
      const out = tempDir("tb-report-untrusted-");
      const bare = await writeReport(ws, "pay", { out, pdf: false });
      expect(bare.facts.trust).toEqual({ model_id: bare.facts.summary.model.id, command: "npx tracebook run pay-quality", other_models: 0, loco: null, lds: null, mislabel: null, counterfactuals: [] });
      expect(bare.facts.checks.map((c) => c.name)).not.toContain(QUALITY_CHECK);
      const page = read(bare.dir, "index.html").toString("utf8");
      expect(page).toContain("No quality evaluation has been run for this model");
      expect(page).toContain("Run <code>npx tracebook run pay-quality</code>");
      expect(page).not.toContain("<h3>Leave one contributor out");
      expect((await verifyReport(ws, bare.dir)).ok).toBe(true);

      // The curator's rejection changed the snapshot since the paid model was trained: the quality
      // pipeline now trains and evaluates another model, which says nothing about this one.
      expect((await runPipeline(ws, qualityPipeline)).failed).toEqual([]);
      const after = await writeReport(ws, "pay", { out, pdf: false });
      expect(after.facts.trust).toMatchObject({ model_id: bare.facts.summary.model.id, other_models: 1, loco: null, lds: null, mislabel: null });
      expect(read(after.dir, "index.html").toString("utf8")).toContain("The workspace holds quality evaluations of another model");
      // The earlier report said no other model was evaluated: verify names the change.
      const v = await verifyReport(ws, bare.dir);
      expect(v.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail])).toEqual([
        ["workspace: how far the scores can be trusted (LOCO, LDS, mislabel detection, what-if answers)", "report → workspace now: /other_models: 0 → 1"],
      ]);
    } finally {
      ws.close();
    }
  }, 180_000);
});
