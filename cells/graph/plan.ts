import fs from "node:fs";
import type { Workspace } from "../store/workspace.ts";
import type { Cell } from "./cell.ts";
import { canonicalJson, fingerprint } from "./fingerprint.ts";
import type { CellHistory } from "./runs.ts";

/** What a cell would be if it ran now, and whether its current output already is that. */
export interface CellPlan {
  fingerprint: string;
  paramsJson: string;
  inputs: Record<string, string>;
  sourceVersion: string | null;
  verdict: { state: "fresh" } | { state: "stale"; reason: string } | { state: "failed"; reason: string };
}

/**
 * Compare a cell's current output (its last succeeded run) with what it would be now: the same
 * fingerprint is fresh; otherwise the reasons name what moved (code, params, which input, the
 * outside state). A run that failed on exactly this fingerprint stays failed until something moves.
 */
export async function planCell(ws: Workspace, pipeline: string, cell: Cell, inputs: Record<string, string>, history: CellHistory): Promise<CellPlan> {
  const source = cell.source ? await cell.source(ws, pipeline) : null;
  const paramsJson = canonicalJson(cell.params);
  const fp = fingerprint({ kind: cell.kind, version: cell.version, params: cell.params, inputs, source: source?.version });
  const plan = { fingerprint: fp, paramsJson, inputs, sourceVersion: source?.version ?? null };
  const { lastSucceeded: done, last } = history;
  if (last?.status === "failed" && last.fingerprint === fp && (!done || last.started_at >= done.started_at)) {
    return { ...plan, verdict: { state: "failed", reason: last.error ?? "failed" } };
  }
  if (!done) {
    const reason = last?.status === "interrupted" || last?.status === "cancelled" ? `never finished (last run ${last.status})` : "never run";
    return { ...plan, verdict: { state: "stale", reason } };
  }
  if (done.fingerprint === fp) {
    if (!done.artifact || !fs.existsSync(done.artifact)) return { ...plan, verdict: { state: "stale", reason: "output artifact missing" } };
    const missing = cell.verify ? await cell.verify(ws, done.artifact) : null;
    if (missing) return { ...plan, verdict: { state: "stale", reason: missing } };
    return { ...plan, verdict: { state: "fresh" } };
  }
  const reasons: string[] = [];
  if (done.kind !== cell.kind || done.kind_version !== cell.version) {
    reasons.push(`code changed (${done.kind} v${done.kind_version} → ${cell.kind} v${cell.version})`);
  }
  if (done.params_json !== paramsJson) reasons.push("params changed");
  const before = JSON.parse(done.inputs_json) as Record<string, string>;
  for (const [name, version] of Object.entries(inputs)) {
    if (!(name in before)) reasons.push(`input ${name} added`);
    else if (before[name] !== version) reasons.push(`input ${name} changed`);
  }
  for (const name of Object.keys(before)) if (!(name in inputs)) reasons.push(`input ${name} removed`);
  if (source && done.source_version !== source.version) {
    reasons.push(`${source.describe} changed (${short(done.source_version)} → ${short(source.version)})`);
  }
  return { ...plan, verdict: { state: "stale", reason: reasons.join("; ") || "fingerprint changed" } };
}

export const short = (v: string | null | undefined) => (v ? v.slice(0, 10) : "none");
