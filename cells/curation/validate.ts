import type { Cell } from "../graph/cell.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { snapshotRoot } from "../datanet/cell.ts";
import type { Status } from "../datanet/types.ts";
import { checkOptions } from "../graph/options.ts";
import { datanetName } from "../datanet/options.ts";
import { validateOptions } from "./options.ts";
import { stageRows } from "../store/stage.ts";
import type { Workspace } from "../store/workspace.ts";
import { defaultRuleSet, parseRuleSet, ruleRef, type Rule, type RuleSet } from "./ruleset.ts";
import { loadRuleRows, SEVERITIES, UNDER_REVIEW, type Flag, type RuleContext } from "./flags.ts";
import { emptyRule, labelSetRule, oversizeRule, schemaRule } from "./rules/payload.ts";
import { exactDuplicateRule, nearDuplicateRule } from "./rules/duplicates.ts";
import { rateLimitRule } from "./rules/rate.ts";
import { knownDatanet } from "../datanet/known.ts";

/** Bump when the flags would differ for the same rule set and rows. */
export const VALIDATE_VERSION = "1";

function apply(rule: Rule, ctx: RuleContext): Flag[] | Promise<Flag[]> {
  switch (rule.kind) {
    case "schema": return schemaRule(rule, ctx);
    case "empty": return emptyRule(rule, ctx);
    case "oversize": return oversizeRule(rule, ctx);
    case "exact-duplicate": return exactDuplicateRule(rule, ctx);
    case "near-duplicate": return nearDuplicateRule(rule, ctx);
    case "label-set": return labelSetRule(rule, ctx);
    case "rate-limit": return rateLimitRule(rule, ctx);
  }
}

/**
 * Every rule of the set over a Datanet's contributions with these statuses (default: all but
 * rejected). Flags come out in a fixed order — severity, the rule's place in the set, row — so the
 * same rows and rules give the same table.
 */
export async function runRules(ws: Workspace, datanet: string, set: RuleSet, statuses: readonly Status[] = UNDER_REVIEW): Promise<Flag[]> {
  const spec = await knownDatanet(ws, datanet);
  const ctx: RuleContext = { ws, spec, rows: await loadRuleRows(ws, datanet, statuses) };
  const flags: Flag[] = [];
  for (const rule of set.rules) flags.push(...(await apply(rule, ctx)));
  const place = new Map(set.rules.map((r, i) => [r.id, i]));
  const order = new Map(ctx.rows.map((r, i) => [r.id, i]));
  return flags.sort((a, b) =>
    SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || place.get(a.rule)! - place.get(b.rule)! ||
    (order.get(a.contribution ?? "") ?? -1) - (order.get(b.contribution ?? "") ?? -1) || a.contributor.localeCompare(b.contributor) ||
    (a.related ?? "").localeCompare(b.related ?? ""));
}

export interface ValidateOptions {
  /** A rule set (a literal, `ruleSetFile(...)`, or parsed JSON); default: every rule with its defaults. */
  rules?: unknown;
  /** Which contributions the rules look at (default: pending, approved, quarantined). */
  status?: Status | Status[];
}

export const FLAG_COLUMNS: [string, string][] = [
  ["ord", "INTEGER"], ["datanet", "VARCHAR"], ["contribution", "VARCHAR"], ["contributor", "VARCHAR"], ["status", "VARCHAR"], ["label", "VARCHAR"],
  ["rule", "VARCHAR"], ["rule_ref", "VARCHAR"], ["kind", "VARCHAR"], ["severity", "VARCHAR"], ["reason", "VARCHAR"],
  ["related", "VARCHAR"], ["value", "DOUBLE"], ["ruleset", "VARCHAR"],
];

/**
 * `validate("mail-spam", { rules })`: the flags table of a Datanet under a rule set, one row per
 * flag (contribution null for a flag about a contributor). It reads contributions outside the
 * graph, so its source version is the snapshot root over the statuses it looks at, the Datanet's
 * imports, and the copies of its content other Datanets hold: a decision or an import (here or
 * on a copy elsewhere) makes it stale; the rule set is in its params.
 */
export function validate(datanet: string, options: ValidateOptions = {}): Cell {
  checkOptions("validate", datanetName, datanet);
  checkOptions(`validate("${datanet}")`, validateOptions, options);
  const set = options.rules === undefined ? defaultRuleSet(datanet) : parseRuleSet(options.rules, `validate("${datanet}") rules`);
  const statuses = [...new Set([options.status ?? UNDER_REVIEW].flat())].sort() as Status[];
  return {
    kind: "validate",
    computes: false,
    version: VALIDATE_VERSION,
    params: { datanet, status: statuses, rules: set },
    inputs: [],
    async source(ws) {
      const root = await snapshotRoot(ws, datanet, statuses);
      const [imports] = await ws.rows<{ ids: string }>("select coalesce(string_agg(id, ',' order by id), '') as ids from imports where datanet = ?", [datanet]);
      // The exact-duplicate rule also reads this Datanet's content as other Datanets hold it
      // (who submitted it first, whether it was rejected there): their copies are part of the source.
      const [elsewhere] = await ws.rows<{ copies: string }>(
        `select coalesce(string_agg(c.datanet || ':' || c.id || ':' || c.status || ':' || epoch_ms(c.submitted_at), ',' order by c.datanet, c.id), '') as copies
         from contributions c where c.datanet <> ? and c.id in (select id from contributions where datanet = ?)`, [datanet, datanet]);
      return { version: sha256(`${root}\n${imports!.ids}\n${elsewhere!.copies}`), describe: `Datanet ${datanet} snapshot (and its content in other Datanets)` };
    },
    async run(ctx) {
      const flags = await runRules(ctx.ws, datanet, set, statuses);
      const rows = await ctx.ws.rows<{ id: string; status: string; label: string }>(
        "select id, status, label from contributions where datanet = ?", [datanet]);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const counts = new Map<string, number>();
      for (const f of flags) counts.set(f.rule, (counts.get(f.rule) ?? 0) + 1);
      ctx.log(`${flags.length} flags under ${set.name}@${set.version}: ${[...counts].map(([r, n]) => `${r} ${n}`).join(", ") || "none"}`);
      const table = "__tracebook_flags";
      await stageRows(ctx.ws, table, FLAG_COLUMNS, flags.map((f, i) => {
        const c = f.contribution ? byId.get(f.contribution) : undefined;
        return [i + 1, datanet, f.contribution, f.contributor, c?.status ?? null, c?.label ?? null, f.rule, ruleRef(set, f.rule), f.kind, f.severity, f.reason, f.related, f.value, `${set.name}@${set.version}`];
      }));
      return { query: `select * from ${table} order by ord` };
    },
  };
}
