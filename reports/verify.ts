import fs from "node:fs";
import path from "node:path";
import type { Workspace } from "../cells/store/workspace.ts";
import { sha256 } from "../cells/graph/fingerprint.ts";
import { collectFacts, integrityChecks } from "./collect/collect.ts";
import { toolVersions } from "./collect/provenance.ts";
import { recomputedAttribution } from "./collect/lineage.ts";
import type { Check, CounterfactualFact, EpochStatement, ReportFacts } from "./facts.ts";
import { renderHtml } from "./render/page.ts";
import { readReport } from "./read.ts";
import { jsonDiff } from "./diff.ts";

export interface Verification {
  dir: string;
  ok: boolean;
  checks: Check[];
}

/** The facts compared with the workspace, section by section; tool versions are the machine's, not the workspace's. */
const SECTIONS: [keyof ReportFacts, string][] = [
  ["summary", "summary (model, Datanets, period, fees, payouts)"],
  ["statement", "reward statement (every recipient's total and its reward lines)"],
  ["never_executed", "models never executed"],
  ["lineage", "lineage hashes (ledger, receipts, model, base, checkpoints, snapshot, contributions, reward lines)"],
  ["methodology", "methodology (mode, checkpoints)"],
  ["influence", "influence (contributors, Datanets, proponents, opponents, penalties)"],
  ["quality", "data-quality flags"],
  ["trust", "how far the scores can be trusted (LOCO, LDS, mislabel detection, what-if answers)"],
  ["retrain", "what the last retrain changed (the model it superseded, the rows that left or entered, the predictions that changed)"],
  ["checks", "integrity checks"],
];

/**
 * Check a report folder: report.json against its schema and its run id, the files against
 * their recorded hashes, index.html against a fresh rendering of report.json, and every fact
 * against the workspace, collected again (hashes recomputed from the model files, totals summed
 * again from the reward lines). A report that passes says today what it said when written.
 */
export async function verifyReport(ws: Workspace, dir: string, options: { recompute?: { sample: number; seed: number } } = {}): Promise<Verification> {
  const { doc: d, checks } = readReport(dir);
  if (!d) return { dir, ok: false, checks };
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  for (const [file, expected] of Object.entries(d.files)) {
    const p = path.join(dir, file);
    const actual = fs.existsSync(p) ? sha256(fs.readFileSync(p)) : "missing";
    add(`${file} is the file report.json names`, actual === expected, actual === expected ? `sha256 ${actual}` : `sha256 ${actual}, report.json records ${expected}`);
  }
  const html = path.join(dir, "index.html");
  const by = d.facts.reproducibility.versions;
  const here = toolVersions();
  const renderedBy = (v: Record<string, string | undefined>) => `renderer ${v.renderer ?? "?"}, Plot ${v["@observablehq/plot"] ?? "?"}, linkedom ${v.linkedom ?? "?"}`;
  if (renderedBy(by) === renderedBy(here)) {
    const same = fs.existsSync(html) && fs.readFileSync(html, "utf8") === renderHtml(d.facts, d.run_id);
    add("index.html is the rendering of report.json", same, same ? "rendered again: identical" : "rendering report.json again does not give index.html: one of the two was edited");
  } else {
    add("index.html is the rendering of report.json", true, `not rendered again: written by ${renderedBy(by)}, this is ${renderedBy(here)} (its hash is checked above)`);
  }

  let now: ReportFacts;
  try {
    now = await collectFacts(ws, d.facts.pipeline, { epochs: d.facts.epochs, cell: d.facts.lineage.reward_lines.cell });
  } catch (err) {
    add("the workspace still holds the report's pipeline", false, (err as Error).message);
    return { dir, ok: false, checks };
  }
  now = asStatedBy(d.facts, now);
  for (const [key, name] of SECTIONS) {
    if ((key === "trust" || key === "retrain") && d.facts[key] === undefined) {
      add(`workspace: ${name}`, true, "not in this report (written before the section existed): nothing to compare");
      continue;
    }
    const diff = jsonDiff(d.facts[key], now[key]);
    add(`workspace: ${name}`, !diff.length, diff.length ? `report → workspace now: ${diff.join("; ")}` : "unchanged");
  }
  const { versions: _v, ...was } = d.facts.reproducibility;
  const { versions: _w, ...is } = now.reproducibility;
  const cellsDiff = jsonDiff(was, is);
  add("workspace: reproducibility (backend, seeds, cell fingerprints)", !cellsDiff.length, cellsDiff.length ? cellsDiff.join("; ") : "unchanged");
  for (const c of now.checks) add(`workspace now: ${c.name}`, c.ok, c.detail);
  if (options.recompute && options.recompute.sample > 0) {
    // A reviewer's own sample, besides the report's (which the facts above recompute).
    const r = await recomputedAttribution(ws, d.facts.pipeline, d.facts.lineage.receipts.cell, options.recompute);
    add(`attribution recomputed from the checkpoints (${r.sampled} of ${r.of} receipts, sample seed ${r.seed})`, r.ok, r.detail);
  }
  return { dir, ok: checks.every((c) => c.ok), checks };
}

/**
 * The workspace's facts as the report could have stated them: a part the report's writer did not
 * have yet (a newer fact, a closure made since, a what-if asked since) makes no claim of the
 * report and is left out; the checks are then derived again from what is left, once.
 */
function asStatedBy(report: ReportFacts, now: ReportFacts): ReportFacts {
  const { checks: _c, trust, ...rest } = now;
  const receipts = { ...rest.lineage.receipts }, ledger = { ...rest.lineage.ledger };
  if (report.lineage.receipts.attribution === undefined) delete receipts.attribution; // before reports recomputed receipts
  if (report.lineage.receipts.archive === undefined) delete receipts.archive; // before the receipt archive
  if (report.lineage.receipts.loss_gradients === undefined) delete receipts.loss_gradients; // before the loss gradient was stated
  if (report.lineage.ledger.sources === undefined) delete ledger.sources; // before the ledger was broken down by source
  const closedThen = new Set(report.statement.filter((e) => e.closure).map((e) => e.epoch));
  const methodology = { ...rest.methodology };
  if (report.methodology.loss_gradient === undefined) delete methodology.loss_gradient;
  const facts: Omit<ReportFacts, "checks"> = {
    ...rest,
    methodology,
    lineage: { ...rest.lineage, receipts, ledger },
    // Before penalties were per model: no claim about a penalty's model, nor a check of the lines against them.
    influence: report.influence.penalties_paid === undefined ? withoutPenaltyScopes(rest.influence) : rest.influence,
    // Closing changes no line, so a statement stands once its epoch is closed; the report made no claim about a later closure.
    statement: rest.statement.map((e) => (e.closure && !closedThen.has(e.epoch) ? withoutClosure(e) : e)),
    // Before the trust section: no claim about quality evaluations.
    ...(report.trust === undefined || !trust ? {} : { trust: asQuoted(trust, report.trust.counterfactuals) }),
  };
  return { ...facts, checks: integrityChecks(facts) };
}

function withoutClosure(e: EpochStatement): EpochStatement {
  const { closure: _c, ...rest } = e;
  return rest;
}

/** The influence facts as a report from before penalties were per model stated them. */
function withoutPenaltyScopes(i: ReportFacts["influence"]): ReportFacts["influence"] {
  const { penalties_paid: _p, ...rest } = i;
  const drop = <T extends { model_id?: string }>(xs: T[] | undefined) => xs?.map(({ model_id: _m, ...x }) => x as T);
  return {
    ...rest, penalised: drop(rest.penalised)!,
    ...(rest.penalty_stability ? { penalty_stability: drop(rest.penalty_stability) } : {}),
    ...(rest.penalty_sides ? { penalty_sides: drop(rest.penalty_sides) } : {}),
  };
}

/**
 * What-if answers are claims one by one: the report holds for those it quotes, and a question
 * asked since (or one it predates) is not a claim of it. A report written before the part existed
 * quotes none.
 */
function asQuoted(trust: NonNullable<ReportFacts["trust"]>, quoted: CounterfactualFact[] | undefined): NonNullable<ReportFacts["trust"]> {
  const { counterfactuals: all, ...rest } = trust;
  const named = new Set((quoted ?? []).map((c) => `${c.run.pipeline}\u0000${c.run.cell}\u0000${c.run.fingerprint}`));
  return quoted === undefined ? rest : { ...rest, counterfactuals: (all ?? []).filter((c) => named.has(`${c.run.pipeline}\u0000${c.run.cell}\u0000${c.run.fingerprint}`)) };
}
