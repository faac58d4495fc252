import type { Workspace } from "../../cells/store/workspace.ts";
import type { ReportFacts } from "../facts.ts";
import type { ReportCells } from "./cells.ts";
import type { Lineage } from "./lineage.ts";
import { round6 } from "./amount.ts";
import { quoteOf, quotes } from "./texts.ts";

/** How many flagged decisions and self-influence outliers a report quotes. */
const QUOTED = { decisions: 20, selfInfluence: 10 };

/**
 * Data-quality flags a reviewer should weigh against the payouts: curators' non-approving
 * decisions in the Datanets behind the model, contributions that trained it and have since
 * been rejected or quarantined, duplicate submissions, uncurated (pending) rows, and the
 * training rows with the highest self-influence (often mislabelled or atypical).
 */
export async function collectQuality(ws: Workspace, cells: ReportCells, lineage: Lineage): Promise<ReportFacts["quality"]> {
  const datanets = lineage.facts.snapshot.datanets;
  const inDatanets = `(${datanets.map(() => "?").join(", ") || "null"})`;
  const decisions = (await ws.rows<{ datanet: string; verdict: string; n: bigint }>(
    `select datanet, verdict, count(*) as n from validations where datanet in ${inDatanets} group by all order by datanet, verdict`, datanets))
    .map((r) => ({ datanet: r.datanet, verdict: r.verdict, count: Number(r.n) }));
  const flaggedRows = await ws.rows<{ datanet: string; contribution: string; contributor: string | null; verdict: string; validator: string; rule: string | null; reason: string | null; decided_at: string }>(
    `select v.datanet, v.contribution, c.contributor, v.verdict, v.validator, v.rule, v.reason, strftime(v.decided_at, '%Y-%m-%dT%H:%M:%S.%gZ') as decided_at
     from validations v left join contributions c on c.datanet = v.datanet and c.id = v.contribution
     where v.datanet in ${inDatanets} and v.verdict <> 'approved' order by v.seq desc limit ${QUOTED.decisions}`, datanets);
  const duplicates = (await ws.rows<{ datanet: string; n: bigint; d: bigint }>(
    `select datanet, count(*) as n, count(*) filter (where duplicate) as d from submissions where datanet in ${inDatanets} group by datanet order by datanet`, datanets))
    .map((r) => ({ datanet: r.datanet, submissions: Number(r.n), duplicates: Number(r.d) }));
  const pending = (await ws.rows<{ datanet: string; n: bigint }>(
    `select datanet, count(*) as n from contributions where datanet in ${inDatanets} and status = 'pending' group by datanet order by datanet`, datanets))
    .map((r) => ({ datanet: r.datanet, count: Number(r.n) }));
  const self = cells.selfInfluence
    ? await ws.rows<{ contribution: string; contributor: string; datanet: string; label: string; score: number }>(
      `select contribution, contributor, datanet, label, score from read_parquet(?) order by score desc, contribution limit ${QUOTED.selfInfluence}`, [cells.selfInfluence.artifact])
    : [];

  const keys = [...flaggedRows.map((r) => ({ datanet: r.datanet, id: r.contribution })), ...lineage.changed, ...self.map((r) => ({ datanet: r.datanet, id: r.contribution }))];
  const texts = await quotes(ws, keys);
  return {
    decisions,
    flagged: flaggedRows.map((r) => ({
      contribution: r.contribution, contributor: r.contributor ?? "(unknown)", datanet: r.datanet, text: quoteOf(texts, r.datanet, r.contribution),
      verdict: r.verdict, validator: r.validator, rule: r.rule ?? "", reason: r.reason ?? "", decided_at: r.decided_at,
    })),
    trained_then_changed: lineage.changed.map((c) => ({ contribution: c.id, contributor: c.contributor, datanet: c.datanet, text: quoteOf(texts, c.datanet, c.id), status: c.status })),
    duplicates,
    pending,
    self_influence: self.map((r) => ({ contribution: r.contribution, contributor: r.contributor, datanet: r.datanet, label: r.label, score: round6(r.score), text: quoteOf(texts, r.datanet, r.contribution) })),
  };
}
