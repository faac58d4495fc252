import fs from "node:fs";
import type { Workspace } from "../store/workspace.ts";
import { quoteLiteral } from "../store/export.ts";
import { artifactPath } from "../graph/artifacts.ts";
import { InputError } from "../datanet/errors.ts";
import { curatorsRecord, type Status } from "../datanet/types.ts";
import { defaultRuleSet, parseRuleSet, type RuleSet } from "./ruleset.ts";
import { UNDER_REVIEW, type Flag } from "./flags.ts";
import { runRules } from "./validate.ts";
import { rankQueue, type LabelScore, type QueueItem } from "./queue.ts";

/**
 * The live review queue of a Datanet, as `tracebook curate queue` shows it: the rules run now
 * over the contributions as they are now, joined with the latest label-error scores a pipeline
 * computed, minus what curators have already decided. Decisions therefore leave the queue at
 * once, without rerunning a pipeline; scores are as fresh as the model that produced them.
 */
export interface ReviewQueue {
  datanet: string;
  ruleset: RuleSet;
  /** Where the rule set came from: a pipeline's validate cell, a file, or the defaults. */
  rulesFrom: string;
  /** Where the label-error scores came from, or null when no pipeline has computed any. */
  scoresFrom: { pipeline: string; cell: string; modelId: string; finishedAt: Date; rows: number } | null;
  /** Ranked; with includeDecided, a decided row carries its latest curator's record. */
  items: (QueueItem & { decision: LastDecision | null })[];
  contributorFlags: Flag[];
  /** Contributions left out because a curator has decided on them (unless includeDecided). */
  decided: number;
}

/** The latest record a curator (not an import) wrote about a contribution. */
export interface LastDecision { validator: string; verdict: string; reason: string; decided_at: string }

export interface ReviewOptions {
  /** A rule set to use instead of the one in force. */
  rules?: RuleSet;
  /** Keep rows a curator has already decided on (default: leave them out). */
  includeDecided?: boolean;
}

export async function reviewQueue(ws: Workspace, datanet: string, options: ReviewOptions = {}): Promise<ReviewQueue> {
  const [known] = await ws.rows("select 1 from datanets where name = ?", [datanet]);
  if (!known) {
    const names = (await ws.rows<{ name: string }>("select name from datanets order by name")).map((r) => r.name);
    throw new InputError(`unknown Datanet "${datanet}" (known: ${names.join(", ") || "none"})`);
  }
  const inForce = options.rules ? { set: options.rules, from: "given" } : await rulesInForce(ws, datanet);
  const flags = await runRules(ws, datanet, inForce.set);
  const scores = await latestLabelScores(ws, datanet);
  // With each row, the latest curator's record about it (import records aside), if any.
  const candidates = await ws.rows<{ id: string; contributor: string; label: string; status: Status; validator: string | null; verdict: string | null; reason: string | null; decided_at: string | null }>(
    `select c.id, c.contributor, c.label, c.status, d.validator, d.verdict, d.reason, strftime(d.decided_at, '%Y-%m-%dT%H:%M:%SZ') as decided_at
     from contributions c
     left join (select * from validations v where v.datanet = ? and ${curatorsRecord("v")} qualify row_number() over (partition by v.contribution order by v.seq desc) = 1) d
       on d.contribution = c.id
     where c.datanet = ? and c.status in (${UNDER_REVIEW.map(() => "?").join(", ")}) order by c.id`,
    [datanet, datanet, ...UNDER_REVIEW],
  );
  const open = options.includeDecided ? candidates : candidates.filter((c) => c.validator === null);
  const decisions = new Map(open.filter((c) => c.validator !== null).map((c) => [c.id, { validator: c.validator!, verdict: c.verdict!, reason: c.reason ?? "", decided_at: c.decided_at! }]));
  return {
    datanet, ruleset: inForce.set, rulesFrom: inForce.from, scoresFrom: scores?.from ?? null,
    items: rankQueue(open, flags, new Map((scores?.rows ?? []).map((s) => [s.contribution, s]))).map((item) => ({ ...item, decision: decisions.get(item.contribution) ?? null })),
    contributorFlags: flags.filter((f) => f.contribution === null),
    decided: candidates.length - open.length,
  };
}

/** The rule set of the latest successful `validate` cell over this Datanet, else the defaults. */
export async function rulesInForce(ws: Workspace, datanet: string): Promise<{ set: RuleSet; from: string }> {
  const runs = await ws.rows<{ pipeline: string; cell: string; params_json: string }>(
    "select pipeline, cell, params_json from runs where kind = 'validate' and status = 'succeeded' order by finished_at desc");
  for (const r of runs) {
    const params = JSON.parse(r.params_json) as { datanet?: string; rules?: unknown };
    if (params.datanet !== datanet) continue;
    try {
      return { set: parseRuleSet(params.rules, `${r.pipeline}.${r.cell} rules`), from: `${r.pipeline}.${r.cell}` };
    } catch (err) {
      // A rule set recorded by an older version of the rules: say so, and use the defaults.
      return { set: defaultRuleSet(datanet), from: `defaults (the rule set of ${r.pipeline}.${r.cell} no longer reads: ${(err as Error).message})` };
    }
  }
  return { set: defaultRuleSet(datanet), from: "defaults (no validate cell has run over this Datanet)" };
}

/** The rows of this Datanet in the latest successful `label-errors` output that has any. */
export async function latestLabelScores(ws: Workspace, datanet: string): Promise<{ rows: LabelScore[]; from: NonNullable<ReviewQueue["scoresFrom"]> } | null> {
  const runs = await ws.rows<{ pipeline: string; cell: string; data_version: string; finished_at: Date }>(
    "select pipeline, cell, data_version, finished_at from runs where kind = 'label-errors' and status = 'succeeded' and data_version is not null order by finished_at desc");
  for (const r of runs) {
    const file = artifactPath(ws, r.data_version);
    if (!fs.existsSync(file)) continue;
    const rows = await ws.rows<LabelScore & { model_id: string }>(`select * from read_parquet(${quoteLiteral(file)}) where datanet = ?`, [datanet]);
    if (rows.length) {
      return { rows, from: { pipeline: r.pipeline, cell: r.cell, modelId: rows[0]!.model_id, finishedAt: r.finished_at, rows: rows.length } };
    }
  }
  return null;
}
