import type { Workspace } from "../../cells/store/workspace.ts";
import { repeatedRows } from "../../cells/store/repeated-rows.ts";
import type { ReportFacts } from "../facts.ts";
import type { ReportCells } from "./cells.ts";
import { SETTLED_IDS, type Ledger } from "./ledger.ts";
import { amount, round6 } from "./amount.ts";
import { quoteOf, quotes } from "./texts.ts";
import { penaltySides, penaltyStability } from "./stability.ts";

/** How many contributors, proponents and opponents a report lists. */
export const LIST_LIMIT = { contributors: 40, contributions: 10 };

interface GroupRow { query: string; key: string; score: number; share: number | null; rank: number }
interface ContributionRow { query: string; key: string; contributor: string; datanet: string; score: number; rank: number }

/**
 * Who moved the paid outputs: net influence per contributor and Datanet over the settled
 * inferences, the contributions that helped (proponents) and hurt (opponents) most often, and
 * the contributors penalised for a negative net, and how many of those penalties a handful of
 * inferences decides. Sums run in JS in a fixed order, so the same artifact always gives the
 * same figures.
 */
export async function collectInfluence(ws: Workspace, pipeline: string, cells: ReportCells, ledger: Ledger): Promise<ReportFacts["influence"]> {
  // Their strings repeat (an inference's id on each of its rows, a contributor's on each of its): read through repeatedRows.
  const read = <T>(level: string, columns: string, repeated: string[]) => repeatedRows<T>(ws,
    `select ${columns} from read_parquet(?) where level = ? and query in (select id from ${SETTLED_IDS}) order by key, query, rank`,
    [cells.influence.artifact, level], repeated);
  const n = Math.max(1, new Set(ledger.settled.map((s) => s.id)).size);

  const paid = new Map<string, bigint>();
  for (const e of ledger.statement) for (const l of e.lines) if (l.role === "contributor") paid.set(l.recipient, (paid.get(l.recipient) ?? 0n) + BigInt(l.amount.units));
  // Per epoch and model (cells/rewards/penalties.ts); model '' for a record from before.
  const penalised = (await ws.rows<{ epoch: string; model_id: string; contributor: string; net_influence: number; record: string }>(
    `select epoch, model_id, contributor, net_influence, record from reputation where pipeline = ? and epoch in (${ledger.epochs.map(() => "?").join(", ")})
     order by epoch, model_id, net_influence, contributor`,
    [pipeline, ...ledger.epochs])).map((r) => ({ ...r, net_influence: round6(r.net_influence) }));
  const penalisedSet = new Set(penalised.map((p) => p.contributor));
  const scopeOf = new Map(ledger.settled.map((q) => [q.id, { epoch: q.epoch, model_id: q.model_id }]));

  const contributorRows = await read<GroupRow & { prediction: string | null }>("contributor", "query, key, score, share, rank, prediction", ["query", "key", "prediction"]);
  const contributorGroups = group(contributorRows, n);
  const contributors = contributorGroups
    .map((g) => ({ contributor: g.key, net_influence: g.net, mean_share: g.meanShare, inferences_led: g.led, paid: amount(paid.get(g.key) ?? 0n), penalised: penalisedSet.has(g.key) }))
    .sort((a, b) => b.net_influence - a.net_influence || a.contributor.localeCompare(b.contributor));
  const datanets = group(await read<GroupRow>("datanet", "query, key, score, share, rank", ["query", "key"]), n)
    .map((g) => ({ datanet: g.key, net_influence: g.net, mean_share: g.meanShare }))
    .sort((a, b) => b.net_influence - a.net_influence || a.datanet.localeCompare(b.datanet));

  const rows = await read<ContributionRow>("contribution", "query, key, contributor, datanet, score, rank", ["query", "key", "contributor", "datanet"]);
  const proponents = topContributions(rows.filter((r) => r.rank > 0), "most");
  const opponents = topContributions(rows.filter((r) => r.rank < 0), "least");
  const texts = await quotes(ws, [...proponents, ...opponents].map((c) => ({ datanet: c.datanet, id: c.contribution })));
  const withText = <T extends { datanet: string; contribution: string }>(cs: T[]) => cs.map((c) => ({ ...c, text: quoteOf(texts, c.datanet, c.contribution) }));

  return {
    contributors: contributors.slice(0, LIST_LIMIT.contributors),
    contributors_total: contributors.length,
    datanets,
    proponents: withText(proponents),
    opponents: withText(opponents),
    penalised,
    penalty_stability: penaltyStability(contributorRows, scopeOf),
    penalty_sides: penaltySides(contributorRows, scopeOf, penalised),
    penalties_paid: await penaltiesPaid(ws, pipeline, ledger, penalised),
  };
}

/**
 * The reward lines that pay a penalised contributor from the inferences its penalty covers: the
 * epoch's inferences by the model the record names. None, when penalties and lines agree. A record
 * from before penalties were per model (model '') covers several models' inferences as one, which
 * their lines, settled run by run, need not follow: counted, not checked.
 */
async function penaltiesPaid(ws: Workspace, pipeline: string, ledger: Ledger, records: readonly { model_id: string }[]): Promise<NonNullable<ReportFacts["influence"]["penalties_paid"]>> {
  const inEpochs = `(${ledger.epochs.map(() => "?").join(", ")})`;
  const paid = await ws.rows<{ epoch: string; model_id: string; contributor: string; inferences: bigint; amount: string }>(
    `select p.epoch, p.model_id, p.contributor, count(distinct r.inference_id) as inferences, sum(r.amount)::varchar as amount
     from reputation p
     join rewards r on r.pipeline = p.pipeline and r.epoch = p.epoch and r.recipient = p.contributor and r.role = 'contributor' and r.policy = ? and r.amount > 0
     join inferences i on i.id = r.inference_id and i.model_id = p.model_id
     where p.pipeline = ? and p.epoch in ${inEpochs} and p.model_id <> ''
     group by all order by p.epoch, p.model_id, p.contributor`, [ledger.policy, pipeline, ...ledger.epochs]);
  return {
    records: records.length, unscoped: records.filter((r) => r.model_id === "").length,
    paid: paid.map((r) => ({ epoch: r.epoch, model_id: r.model_id, contributor: r.contributor, inferences: Number(r.inferences), amount: amount(BigInt(r.amount)) })),
  };
}

/** Per key: the net score over all settled inferences, the mean share, how often it ranked first with a positive score. */
function group(rows: GroupRow[], inferences: number) {
  const out = new Map<string, { key: string; net: number; share: number; led: number }>();
  for (const r of rows) {
    const g = out.get(r.key) ?? { key: r.key, net: 0, share: 0, led: 0 };
    g.net += r.score;
    g.share += r.share ?? 0;
    if (r.rank === 1 && r.score > 0) g.led++;
    out.set(r.key, g);
  }
  return [...out.values()].map((g) => ({ key: g.key, net: round6(g.net), meanShare: round6(g.share / inferences), led: g.led }));
}

/** The contributions that appear most as top proponents (or opponents), by summed score. */
function topContributions(rows: ContributionRow[], order: "most" | "least") {
  const by = new Map<string, { contribution: string; contributor: string; datanet: string; appearances: number; total: number }>();
  for (const r of rows) {
    const k = `${r.datanet}\u0000${r.key}`;
    const c = by.get(k) ?? { contribution: r.key, contributor: r.contributor, datanet: r.datanet, appearances: 0, total: 0 };
    c.appearances++;
    c.total += r.score;
    by.set(k, c);
  }
  const sign = order === "most" ? -1 : 1;
  return [...by.values()]
    .map((c) => ({ contribution: c.contribution, contributor: c.contributor, datanet: c.datanet, appearances: c.appearances, total_score: round6(c.total) }))
    .sort((a, b) => sign * (a.total_score - b.total_score) || a.contribution.localeCompare(b.contribution))
    .slice(0, LIST_LIMIT.contributions);
}
