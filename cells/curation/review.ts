import fs from "node:fs";
import type { Workspace } from "../store/workspace.ts";
import { quoteLiteral } from "../store/export.ts";
import { artifactPath } from "../graph/artifacts.ts";
import { admission, curatorsRecord, PREVIOUS_STATUS, type Status } from "../datanet/types.ts";
import { defaultRuleSet, parseRuleSet, type RuleSet } from "./ruleset.ts";
import { UNDER_REVIEW, type Flag } from "./flags.ts";
import { runRules, validate, VALIDATE_VERSION } from "./validate.ts";
import { rankQueue, type LabelScore, type QueueItem } from "./queue.ts";
import { knownDatanet } from "../datanet/known.ts";

/**
 * The live review queue of a Datanet, as `tracebook curate queue` shows it: the rules run now
 * over the contributions as they are now, joined with the latest label-error scores a pipeline
 * computed, minus what curators have already decided. Decisions therefore leave the queue at
 * once, without rerunning a pipeline; scores are as fresh as the model that produced them.
 * An admission (approving a pending row, as a new Datanet's rows are approved before anything
 * can train on them) is no answer to a model that did not exist yet: once a model has scored
 * the row, it is back in the queue until a curator keeps, rejects or quarantines it.
 */
export interface ReviewQueue {
  datanet: string;
  ruleset: RuleSet;
  /** Where the rule set came from: a pipeline's validate cell, a file, or the defaults. */
  rulesFrom: string;
  /** Where the flags came from: that cell's output (it ran over the Datanet as it is now) or the rules run now. */
  flagsFrom: string;
  /** Where the label-error scores came from, or null when no pipeline has computed any. */
  scoresFrom: { pipeline: string; cell: string; modelId: string; finishedAt: Date; rows: number } | null;
  /** Ranked; with includeDecided, a decided row carries its latest curator's record. */
  items: (QueueItem & { decision: LastDecision | null })[];
  contributorFlags: Flag[];
  /** Contributions a curator's decision takes out of the queue (left out unless includeDecided). */
  decided: number;
  /** Contributions admitted (approved while pending) before the model that scores them: in the queue. */
  reopened: number;
}

/**
 * The latest record a curator (not an import) wrote about a contribution: `admission` when it
 * approved a pending row; `reopened` when that was before the scores that now rank the row.
 */
export interface LastDecision { validator: string; verdict: string; reason: string; decided_at: string; admission: boolean; reopened: boolean }

export interface ReviewOptions {
  /** A rule set to use instead of the one in force. */
  rules?: RuleSet;
  /** Keep rows a curator has already decided on (default: leave them out). */
  includeDecided?: boolean;
}

export async function reviewQueue(ws: Workspace, datanet: string, options: ReviewOptions = {}): Promise<ReviewQueue> {
  await knownDatanet(ws, datanet);
  const inForce: RulesInForce = options.rules ? { set: options.rules, from: "given", run: null } : await rulesInForce(ws, datanet);
  // The validate cell's flags when it ran over the Datanet as it is now (the same rows, rule set
  // and code give the same flags), else the rules run now: on 100,000 rows the near-duplicate
  // rule alone takes half a minute.
  const recorded = await currentFlags(ws, datanet, inForce);
  const flags = recorded ?? await runRules(ws, datanet, inForce.set);
  const scores = await latestLabelScores(ws, datanet);
  // With each row, the latest curator's record about it (import records aside), if any, and
  // whether it admitted the row (pending → approved; `previous` is read over the whole trail).
  const candidates = await ws.rows<{ id: string; contributor: string; label: string; status: Status; validator: string | null; verdict: string | null; reason: string | null; decided_at: string | null; decided_ms: number | null; admitted: boolean | null }>(
    `select c.id, c.contributor, c.label, c.status, d.validator, d.verdict, d.reason,
       strftime(d.decided_at, '%Y-%m-%dT%H:%M:%SZ') as decided_at, epoch_ms(d.decided_at)::double as decided_ms, ${admission("d")} as admitted
     from contributions c
     left join (
       select * from (select v.*, ${PREVIOUS_STATUS} as previous from validations v where v.datanet = ?) v
       where ${curatorsRecord("v")} qualify row_number() over (partition by v.contribution order by v.seq desc) = 1
     ) d on d.contribution = c.id
     where c.datanet = ? and c.status in (${UNDER_REVIEW.map(() => "?").join(", ")}) order by c.id`,
    [datanet, datanet, ...UNDER_REVIEW],
  );
  const scoreOf = new Map((scores?.rows ?? []).map((s) => [s.contribution, s]));
  // A decision answers what was known when it was made. An admission made before the scores
  // the queue ranks the row by were computed could not have answered them: the row stays.
  const scoredAt = scores ? new Date(scores.from.finishedAt).getTime() : null;
  const reopened = new Set(candidates.filter((c) =>
    c.admitted === true && scoredAt !== null && c.decided_ms !== null && c.decided_ms < scoredAt && scoreOf.has(c.id)).map((c) => c.id));
  const open = options.includeDecided ? candidates : candidates.filter((c) => c.validator === null || reopened.has(c.id));
  const decisionOf = new Map(open.filter((c) => c.validator !== null).map((c) => [c.id, {
    validator: c.validator!, verdict: c.verdict!, reason: c.reason ?? "", decided_at: c.decided_at!, admission: c.admitted === true, reopened: reopened.has(c.id),
  }]));
  const items = rankQueue(open, flags, scoreOf).map((item) => {
    const decision = decisionOf.get(item.contribution) ?? null;
    const why = decision?.reopened
      ? [item.why, `admitted by ${decision.validator} on ${decision.decided_at.slice(0, 10)} before the model scored it: keep it once reviewed`].filter(Boolean).join(" · ")
      : item.why;
    return { ...item, why, decision };
  });
  return {
    datanet, ruleset: inForce.set, rulesFrom: inForce.from, flagsFrom: recorded ? `${inForce.from} output` : "the rules run now", scoresFrom: scores?.from ?? null,
    items,
    contributorFlags: flags.filter((f) => f.contribution === null),
    decided: candidates.filter((c) => c.validator !== null).length - reopened.size,
    reopened: reopened.size,
  };
}

interface ValidateRun { pipeline: string; kind_version: string; params_json: string; source_version: string | null; data_version: string | null }

/** A rule set, where it came from, and the validate run that recorded it (null for the defaults or a given set). */
export interface RulesInForce { set: RuleSet; from: string; run: ValidateRun | null }

/** The rule set of the latest successful `validate` cell over this Datanet, else the defaults. */
export async function rulesInForce(ws: Workspace, datanet: string): Promise<RulesInForce> {
  const runs = await ws.rows<ValidateRun & { cell: string }>(
    "select pipeline, cell, kind_version, params_json, source_version, data_version from runs where kind = 'validate' and status = 'succeeded' order by finished_at desc");
  for (const r of runs) {
    const params = JSON.parse(r.params_json) as { datanet?: string; rules?: unknown };
    if (params.datanet !== datanet) continue;
    try {
      return { set: parseRuleSet(params.rules, `${r.pipeline}.${r.cell} rules`), from: `${r.pipeline}.${r.cell}`, run: r };
    } catch (err) {
      // A rule set recorded by an older version of the rules: say so, and use the defaults.
      return { set: defaultRuleSet(datanet), from: `defaults (the rule set of ${r.pipeline}.${r.cell} no longer reads: ${(err as Error).message})`, run: null };
    }
  }
  return { set: defaultRuleSet(datanet), from: "defaults (no validate cell has run over this Datanet)", run: null };
}

/**
 * The flags a validate run recorded, when they are what the rules would say now: this code's
 * version, the statuses the queue reviews, and the Datanet (and its copies elsewhere) as the
 * run saw it, by the cell's own source version. Null otherwise.
 */
async function currentFlags(ws: Workspace, datanet: string, inForce: RulesInForce): Promise<Flag[] | null> {
  const run = inForce.run;
  if (!run?.data_version || !run.source_version || run.kind_version !== VALIDATE_VERSION) return null;
  const statuses = (JSON.parse(run.params_json) as { status?: string[] }).status ?? [];
  if (statuses.join() !== [...UNDER_REVIEW].sort().join()) return null;
  const file = artifactPath(ws, run.data_version);
  if (!fs.existsSync(file)) return null;
  const now = await validate(datanet, { rules: inForce.set, status: [...UNDER_REVIEW] }).source!(ws, run.pipeline);
  if (now.version !== run.source_version) return null;
  return ws.rows<Flag>(`select contribution, contributor, rule, kind, severity, reason, related, value from read_parquet(${quoteLiteral(file)}) order by ord`);
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
