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
import { tempDir } from "./helpers/workspace.ts";
import { reportWorkspace } from "./input/report/workspace.ts";

/** The golden input of test/report-render.test.ts: REPORT_GOLDEN_INPUT=1 rewrites it from this workspace. */
const GOLDEN_INPUT = path.resolve("test/input/report/pay.facts.json");

const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file));
const doc = (dir: string) => JSON.parse(read(dir, "report.json").toString("utf8")) as ReportDocument;

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
    ({ ws } = await reportWorkspace());
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
});
