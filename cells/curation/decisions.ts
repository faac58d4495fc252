import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { didYouMean } from "../graph/nearest.ts";
import { MAX_CONTRIBUTOR_BYTES } from "../datanet/limits.ts";
import { decide, resolveContributionIds, type DecisionResult, type ResolvedContribution, type Action } from "../datanet/decisions.ts";
import { ruleRef } from "./ruleset.ts";
import { reviewQueue } from "./review.ts";
import { readOnlyRows } from "../store/readonly.ts";
import { withCellTables, type CellTables } from "../graph/cell-tables.ts";

/**
 * Curators' decisions, singly or in bulk. Everything about the decision itself — transitions,
 * all or nothing, one appended validation record per change, skipping rows already in the
 * verdict's status in bulk — is decide()'s; this module only turns a selection (ids, a SQL
 * condition, a query, or a rule's flags) into ids, and checks the texts that go on record.
 */
export interface CurationDecision {
  /** Required with where / query / flagged; with ids, restricts where they are looked up. */
  datanet?: string;
  ids?: string[];
  /** A SQL condition over the Datanet's contributions, e.g. `contributor = 'x' and label = 'spam'`. */
  where?: string;
  /** A SQL query returning an `id` (or `contribution`) column, e.g. over a cell's artifact. */
  query?: string;
  /** A rule id of the rule set in force: every row in the queue that rule flags. */
  flagged?: string;
  /** The new status, or `keep`: the current status stands (a reviewed row leaves the queue). */
  verdict: Action;
  curator: string;
  reason: string;
  /** What is recorded as the rule; default: the flagging rule's reference, the selection, or "manual". */
  rule?: string;
}

export interface CurationResult {
  rule: string;
  targets: ResolvedContribution[];
  /** The decisions recorded (decide() skips those already in the verdict's status; `keep` records every target). */
  results: DecisionResult[];
  /** Cells a --where or --query read that were not up to date: it selected by their last output. */
  stale: CellTables["stale"];
}

const MAX_REASON = 2000;
const MAX_RULE = 4000;

/** Resolve the selection, then record the decision with decide(), all or nothing. */
export async function curate(ws: Workspace, d: CurationDecision, options: { dryRun?: boolean } = {}): Promise<CurationResult> {
  const reason = checkText(d.reason, "reason", MAX_REASON);
  const curator = checkText(d.curator, "curator", MAX_CONTRIBUTOR_BYTES);
  const selectors = [d.ids?.length ? "ids" : null, d.where ? "where" : null, d.query ? "query" : null, d.flagged ? "flagged" : null].filter(Boolean);
  if (selectors.length !== 1) throw new InputError(`give exactly one of: contribution ids, --where, --query, --flagged (got ${selectors.join(", ") || "none"})`);
  if (selectors[0] !== "ids" && !d.datanet) throw new InputError(`--${selectors[0]} needs --datanet <name>: a bulk decision names the Datanet it is about`);
  const { ids, rule, stale } = await select(ws, d);
  if (!ids.length) throw new InputError(`the selection matches no contributions${d.datanet ? ` in Datanet "${d.datanet}"` : ""}: nothing decided`);
  const recorded = checkText(d.rule ?? rule, "rule", MAX_RULE);
  const targets = await resolveContributionIds(ws, ids, d.datanet);
  if (options.dryRun) return { rule: recorded, targets, results: [], stale };
  const results = await decide(ws, { ids, verdict: d.verdict, validator: curator, reason, rule: recorded, datanet: d.datanet });
  return { rule: recorded, targets, results, stale };
}

async function select(ws: Workspace, d: CurationDecision): Promise<{ ids: string[]; rule: string; stale: CellTables["stale"] }> {
  if (d.ids?.length) return { ids: d.ids, rule: "manual", stale: [] };
  const datanet = d.datanet!;
  if (d.flagged) {
    const q = await reviewQueue(ws, datanet);
    if (!q.ruleset.rules.some((r) => r.id === d.flagged)) {
      const rules = q.ruleset.rules.map((r) => r.id);
      throw new InputError(`rule "${d.flagged}" is not in rule set ${q.ruleset.name}@${q.ruleset.version} (${didYouMean(d.flagged, rules)}rules: ${rules.join(", ")})`);
    }
    const ids = q.items.filter((i) => i.flags.some((f) => f.rule === d.flagged)).map((i) => i.contribution);
    return { ids, rule: ruleRef(q.ruleset, d.flagged), stale: [] };
  }
  if (d.where) {
    const { rows, stale } = await readOnly<{ id: string }>(ws,
      `select id from (select * from contributions where datanet = ?) as contributions where (${d.where}) order by id`, [datanet], "--where");
    return { ids: rows.map((r) => r.id), rule: `where: ${d.where.trim()}`, stale };
  }
  const { rows, stale } = await readOnly<{ id?: unknown; contribution?: unknown }>(ws, `select * from (${d.query}) as selection where ?`, [true], "--query");
  if (rows.length && !rows.every((r) => typeof (r.id ?? r.contribution) === "string")) {
    throw new InputError("--query must return an id (or contribution) column of contribution ids");
  }
  return { ids: [...new Set(rows.map((r) => String(r.id ?? r.contribution)))].sort(), rule: `query: ${d.query!.trim()}`, stale };
}

/**
 * Run a curator's selection without letting it change anything: wrapped as a subquery (so it
 * must be a SELECT), then readOnlyRows(): one statement that only reads ("…); drop table …;
 * select (…" is three), in a transaction that is always rolled back.
 */
async function readOnly<T>(ws: Workspace, sql: string, params: (string | boolean)[], what: string): Promise<{ rows: T[]; stale: CellTables["stale"] }> {
  try {
    // A selection may read a pipeline's cells (`mail.label_errors`), as `tracebook sql` does.
    return await withCellTables(ws, sql, async (tables) => ({ rows: await readOnlyRows<T>(ws, sql, params), stale: tables.stale }));
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${what} is not a valid selection: ${err.message}`);
    throw err;
  }
}

/**
 * Texts that go on record are kept exactly as given — quotes, markup, escapes and all; they are
 * bound as parameters and escaped where shown — except what cannot be stored faithfully (lone
 * surrogates have no UTF-8; NUL ends strings in too many readers) or read (blank, or too long).
 */
export function checkText(value: string | undefined, what: string, max: number): string {
  const v = value?.trim() ?? "";
  if (!v) throw new InputError(`a decision needs a ${what}: without one it cannot be reviewed`);
  if (!v.isWellFormed()) throw new InputError(`the ${what} is not valid Unicode (it has a lone surrogate)`);
  if (v.includes("\u0000")) throw new InputError(`the ${what} contains a NUL character`);
  const size = what === "curator" ? Buffer.byteLength(v, "utf8") : [...v].length;
  if (size > max) throw new InputError(`the ${what} is ${size} ${what === "curator" ? "bytes" : "characters"} long (at most ${max})`);
  return v;
}
