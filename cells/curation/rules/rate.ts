import { quoteLiteral } from "../../store/export.ts";
import type { RateLimitRule } from "../ruleset.ts";
import type { Flag, RuleContext } from "../flags.ts";

/**
 * Contributors submitting far above their peers in a window. Counted over `submissions` (every
 * copy, duplicates included: resubmitting is still submitting), in tumbling windows of
 * `windowDays` aligned to 1970-01-01 UTC. The yardstick is the median count of the contributors
 * active in the same window, so a corpus-wide burst (a mailing list's busy week) moves the
 * median with it and flags nobody. One flag per contributor and window: it is about behaviour,
 * not about any one row, and flagging every row of a prolific contributor would bury the queue.
 */
export async function rateLimitRule(rule: RateLimitRule, ctx: RuleContext): Promise<Flag[]> {
  const windowMs = rule.windowDays * 86_400_000;
  const rows = await ctx.ws.rows<{ contributor: string; w: bigint; n: bigint; med: number; active: bigint }>(
    `with counts as (
       select contributor, floor(epoch_ms(submitted_at) / ?)::bigint as w, count(*) as n
       from submissions where datanet = ? group by all
     ), windows as (
       select w, median(n) as med, count(*) as active from counts group by w
     )
     select c.contributor, c.w, c.n, m.med::double as med, m.active from counts c join windows m using (w)
     where m.active >= ? and c.n >= ? and c.n >= ? * m.med
     order by c.n desc, c.contributor, c.w`,
    [windowMs, ctx.spec.name, rule.minContributors, rule.minSubmissions, rule.factor],
  );
  return rows.map((r) => {
    const from = new Date(Number(r.w) * windowMs), to = new Date((Number(r.w) + 1) * windowMs);
    const ratio = Number(r.n) / r.med;
    const where = `contributor = ${quoteLiteral(r.contributor)} and submitted_at >= '${iso(from)}' and submitted_at < '${iso(to)}'`;
    return {
      contribution: null, contributor: r.contributor, rule: rule.id, kind: rule.kind, severity: "notice", related: null, value: ratio,
      reason: `${r.n} submissions in ${rule.windowDays} days from ${iso(from)}: ${ratio.toFixed(1)}× the median (${r.med}) of ${r.active} active contributors; ` +
        `look for scripted or bulk submissions: --where "${where}"`,
    } satisfies Flag;
  });
}

/** A window bound as SQL reads it: the date alone when it falls on midnight UTC. */
const iso = (d: Date) => d.toISOString().replace("T", " ").replace(/ 00:00:00\.000Z$|\.000Z$/, "");
