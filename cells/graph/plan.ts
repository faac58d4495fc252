import fs from "node:fs";
import type { Workspace } from "../store/workspace.ts";
import type { Cell } from "./cell.ts";
import { canonicalJson, fingerprint } from "./fingerprint.ts";
import type { CellHistory, RunRecord } from "./runs.ts";

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
  const now = { kind: cell.kind, kind_version: cell.version, params_json: paramsJson, inputs_json: JSON.stringify(inputs), source_version: source?.version ?? null };
  return { ...plan, verdict: { state: "stale", reason: whatMoved(done, now, source?.describe).join("; ") || "fingerprint changed" } };
}

export type Conditions = Pick<RunRecord, "kind" | "kind_version" | "params_json" | "inputs_json" | "source_version">;

/**
 * What differs between the conditions of a cell's output and those of a later run: its code,
 * params, which inputs, the outside state it reads (`describe` names that, when known).
 */
export function whatMoved(done: Conditions, now: Conditions, describe = "the outside state it reads"): string[] {
  const reasons: string[] = [];
  if (done.kind !== now.kind || done.kind_version !== now.kind_version) {
    reasons.push(`code changed (${done.kind} v${done.kind_version} → ${now.kind} v${now.kind_version})`);
  }
  if (done.params_json !== now.params_json) reasons.push(`params changed (${paramChanges(now.kind, done.params_json, now.params_json)})`);
  const before = JSON.parse(done.inputs_json) as Record<string, string>;
  const inputs = JSON.parse(now.inputs_json) as Record<string, string>;
  for (const [name, version] of Object.entries(inputs)) {
    if (!(name in before)) reasons.push(`input ${name} added`);
    else if (before[name] !== version) reasons.push(`input ${name} changed`);
  }
  for (const name of Object.keys(before)) if (!(name in inputs)) reasons.push(`input ${name} removed`);
  if (now.source_version !== null && done.source_version !== now.source_version) {
    reasons.push(`${describe} changed (${short(done.source_version)} → ${short(now.source_version)})`);
  }
  return reasons;
}

export const short = (v: string | null | undefined) => (v ? v.slice(0, 10) : "none");

/** How an sql cell's params read to the person who wrote its template. */
const SQL_PARAMS: Record<string, string> = { segments: "the query", tokens: "the query's inputs or values" };

/**
 * Which params moved, as dotted paths, with both values where they are short (`epochs 4 → 5;
 * adapter.rank 8 → 16`): a reason that says only "params changed" sends the reader to diff JSON.
 */
function paramChanges(kind: string, before: string, now: string): string {
  const changes: string[] = [];
  const object = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const walk = (a: unknown, b: unknown, at: string) => {
    if (JSON.stringify(a) === JSON.stringify(b)) return; // canonical JSON on both sides: key order is fixed
    if (object(a) && object(b)) {
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[key], b[key], at ? `${at}.${key}` : key);
      return;
    }
    const name = (kind === "sql" ? SQL_PARAMS[at] : undefined) ?? (at || "all of them");
    const [x, y] = [a, b].map((v) => (v === undefined ? "unset" : JSON.stringify(v)));
    changes.push(x!.length <= 24 && y!.length <= 24 && kind !== "sql" ? `${name} ${x} → ${y}` : name);
  };
  walk(JSON.parse(before), JSON.parse(now), "");
  const unique = [...new Set(changes)];
  return unique.length > 4 ? `${unique.slice(0, 4).join("; ")}; ${unique.length - 4} more` : unique.join("; ");
}
