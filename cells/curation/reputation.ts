import type { Workspace } from "../store/workspace.ts";
import { curatorsRecord } from "../datanet/types.ts";
import { knownDatanet } from "../datanet/known.ts";

/**
 * A contributor's curation reputation: the smoothed share of their reviewed contributions that
 * stood, computed from the statuses the validation trail produced (decide() changes a status and
 * appends its record in one transaction, so the status is the trail's latest verdict):
 *
 *   reputation = (1 + approved) / (2 + approved + rejected + ½ · quarantined)
 *
 * - A Beta(1, 1) prior: a contributor nobody has reviewed stands at ½, and one rejection moves a
 *   contributor of 3 rows far more than one of 3,000.
 * - Quarantine counts half: the row is set aside, not shown to be wrong.
 * - Pending rows do not count: nobody has judged them yet. Approvals at import count: the
 *   corpus's own curation is a judgement, recorded in the trail like any other.
 *
 * Derived on read, never stored, so it can never disagree with the trail it comes from: every
 * decision updates it at once.
 */
export interface Reputation {
  contributor: string;
  approved: number;
  rejected: number;
  quarantined: number;
  pending: number;
  /** Curators' records about this contributor's rows (import records aside). */
  decisions: number;
  reputation: number;
}

export const REPUTATION_FORMULA = "(1 + approved) / (2 + approved + rejected + 0.5 * quarantined)";

export async function contributorReputation(ws: Workspace, datanet?: string): Promise<Reputation[]> {
  if (datanet !== undefined) await knownDatanet(ws, datanet);
  const where = datanet === undefined ? "" : "where c.datanet = ?";
  const rows = await ws.rows<{ contributor: string; approved: bigint; rejected: bigint; quarantined: bigint; pending: bigint; decisions: bigint }>(
    `select c.contributor,
            count(*) filter (where c.status = 'approved') as approved,
            count(*) filter (where c.status = 'rejected') as rejected,
            count(*) filter (where c.status = 'quarantined') as quarantined,
            count(*) filter (where c.status = 'pending') as pending,
            coalesce(sum(d.n), 0)::bigint as decisions
     from contributions c
     left join (select datanet, contribution, count(*) as n from validations v where ${curatorsRecord("v")} group by all) d
       on d.datanet = c.datanet and d.contribution = c.id
     ${where}
     group by c.contributor`,
    datanet === undefined ? [] : [datanet],
  );
  return rows.map((r) => {
    const [a, x, q] = [Number(r.approved), Number(r.rejected), Number(r.quarantined)];
    return {
      contributor: r.contributor, approved: a, rejected: x, quarantined: q, pending: Number(r.pending), decisions: Number(r.decisions),
      reputation: (1 + a) / (2 + a + x + 0.5 * q),
    };
  }).sort((p, q) => p.reputation - q.reputation || p.contributor.localeCompare(q.contributor));
}
