import type { Workspace } from "../store/workspace.ts";
import { nowUtc } from "../store/workspace.ts";
import { InputError } from "./errors.ts";
import { stageRows } from "../store/stage.ts";
import type { Status } from "./types.ts";
import { knownDatanet } from "./known.ts";

/** What a curator can decide; `pending` is where contributions start, never a verdict. */
export const VERDICTS = ["approved", "rejected", "quarantined"] as const;
export type Verdict = (typeof VERDICTS)[number];

/**
 * "Reviewed, the status stands": a curator looked at a contribution (typically one the rules
 * flagged) and leaves it as it is. It appends a validation record whose verdict is the current
 * status and changes nothing else, so the row leaves the review queue and the trail says who
 * judged it and why. A pending row has no status to keep: it needs a verdict.
 */
export const KEEP = "keep";
export type Action = Verdict | typeof KEEP;
export const ACTIONS: readonly Action[] = [...VERDICTS, KEEP];

/**
 * Allowed status changes. Every status may move to any other verdict: a rejection can be
 * reversed because the new validation record is itself the justification, and the trail keeps
 * both. Only a verdict equal to the current status is not a change.
 */
export const TRANSITIONS: Readonly<Record<Status, readonly Verdict[]>> = {
  pending: ["approved", "rejected", "quarantined"],
  approved: ["rejected", "quarantined"],
  quarantined: ["approved", "rejected"],
  rejected: ["quarantined", "approved"],
};

export interface Decision {
  /** Full ids (64 hex) or unique prefixes of at least 8 hex characters. */
  ids: string[];
  /** The new status, or `keep` to record that the current one stands. */
  verdict: Action;
  validator: string;
  /** Required: a decision without a reason cannot be reviewed. */
  reason: string;
  /** The rule applied; "manual" when omitted. */
  rule?: string;
  /** Only look for the ids in this Datanet. */
  datanet?: string;
}

/** One recorded decision; for `keep`, `to` equals `from` (the status that stands). */
export interface DecisionResult { datanet: string; id: string; from: Status; to: Status; seq: bigint | number }
export interface ResolvedContribution { datanet: string; id: string; status: Status }

const MIN_PREFIX = 8;
const MAX_CANDIDATES = 5;
const HEX_ID = /^[0-9a-f]{8,64}$/;

/** How ids are shown to people: the first 8 hex characters, as in tables. */
export function shortId(id: string, length = MIN_PREFIX): string {
  return id.length > length ? `${id.slice(0, length)}…` : id;
}

/**
 * Record one decision on one or more contributions, all or nothing, in one transaction: each
 * changed contribution gets its new status and one appended validation record.
 *
 * A verdict equal to the current status is refused when it concerns a single contribution
 * (the curator probably meant another one, or meant `keep`); in a bulk call (more than one
 * contribution) such contributions are skipped, so re-running a bulk decision is harmless. Only
 * the recorded decisions are returned; callers find the skipped ones as resolved ids missing
 * from it. `keep` records every target (its status unchanged) and refuses pending ones.
 */
export async function decide(ws: Workspace, d: Decision): Promise<DecisionResult[]> {
  if (!ACTIONS.includes(d.verdict)) throw new InputError(`unknown verdict "${d.verdict}" (one of ${ACTIONS.join(", ")})`);
  if (!d.reason?.trim()) throw new InputError("a decision needs a reason: without one it cannot be reviewed");
  if (!d.validator?.trim()) throw new InputError("a decision needs a validator: who decided");
  const rule = d.rule?.trim() || "manual";
  return ws.transaction(async () => {
    // Resolved inside the transaction, so the statuses checked are the ones changed.
    const targets = await resolveContributionIds(ws, d.ids, d.datanet);
    const single = targets.length === 1;
    const decidedAt = nowUtc(); // one decision, one time for all its records
    if (d.verdict === KEEP) {
      const pending = targets.filter((c) => c.status === "pending");
      if (pending.length) {
        const listed = pending.slice(0, 5).map((c) => `${shortId(c.id)} (${c.datanet})`).join(", ");
        throw new InputError(`${listed}${pending.length > 5 ? ` and ${pending.length - 5} more` : ""} ${pending.length === 1 ? "is" : "are"} pending: ` +
          "there is no status to keep yet; approve, reject or quarantine instead");
      }
    }
    const changes: { c: ResolvedContribution; to: Status }[] = [];
    for (const c of targets) {
      if (d.verdict === KEEP) {
        changes.push({ c, to: c.status });
        continue;
      }
      if (c.status === d.verdict) {
        if (single) throw new InputError(`${shortId(c.id)} (${c.datanet}) is already ${c.status} (to record that it stays so, keep it)`);
        continue;
      }
      if (!TRANSITIONS[c.status].includes(d.verdict)) throw new InputError(`${shortId(c.id)} (${c.datanet}) cannot go from ${c.status} to ${d.verdict}`);
      changes.push({ c, to: d.verdict });
    }
    if (!changes.length) return [];
    // One statement each for the statuses and the records, whatever the number of rows: a bulk
    // decision over thousands of rows takes as long as one (row by row it took ~9 ms a row).
    await stageRows(ws, "__tracebook_decided", [["ord", "INTEGER"], ["datanet", "VARCHAR"], ["id", "VARCHAR"], ["status", "VARCHAR"]],
      changes.map(({ c, to }, i) => [i, c.datanet, c.id, to]));
    await ws.run(`update contributions set status = d.status from __tracebook_decided d
                  where contributions.datanet = d.datanet and contributions.id = d.id and contributions.status <> d.status`);
    const seqs = await ws.rows<{ datanet: string; contribution: string; seq: bigint }>(
      `insert into validations (datanet, contribution, validator, verdict, rule, reason, decided_at)
       select datanet, id, ?, status, ?, ?, ?::timestamp from __tracebook_decided order by ord
       returning datanet, contribution, seq`,
      [d.validator.trim(), rule, d.reason.trim(), decidedAt],
    );
    const seqOf = new Map(seqs.map((r) => [`${r.datanet}\u0000${r.contribution}`, r.seq]));
    const results = changes.map(({ c, to }): DecisionResult => ({ datanet: c.datanet, id: c.id, from: c.status, to, seq: seqOf.get(`${c.datanet}\u0000${c.id}`)! }));
    await ws.run("drop table if exists __tracebook_decided");
    return results;
  });
}

/**
 * Resolve full ids or unique prefixes to contributions, in the order given, each once. The
 * same content in two Datanets has the same id, so a full id can be ambiguous too.
 */
export async function resolveContributionIds(ws: Workspace, ids: string[], datanet?: string): Promise<ResolvedContribution[]> {
  if (!ids.length) throw new InputError("no contribution ids given");
  if (datanet !== undefined) await knownDatanet(ws, datanet);
  const given = ids.map((raw) => {
    const prefix = raw.trim().toLowerCase();
    if (!HEX_ID.test(prefix)) {
      throw new InputError(`"${raw}" is not a contribution id: give its 64 hex characters or a unique prefix of at least ${MIN_PREFIX}`);
    }
    return { raw, prefix };
  });
  const where = datanet === undefined ? "" : " and datanet = ?";
  // Full ids (what bulk selections produce) are looked up together, in one query.
  const full = [...new Set(given.filter((g) => g.prefix.length === 64).map((g) => g.prefix))];
  const byFullId = new Map<string, ResolvedContribution[]>();
  if (full.length) {
    await stageRows(ws, "__tracebook_ids", [["id", "VARCHAR"]], full.map((id) => [id]));
    const rows = await ws.rows<ResolvedContribution>(
      `select datanet, id, status from contributions where id in (select id from __tracebook_ids)${where} order by id, datanet`,
      datanet === undefined ? [] : [datanet]);
    for (const r of rows) byFullId.set(r.id, [...(byFullId.get(r.id) ?? []), r]);
    await ws.run("drop table if exists __tracebook_ids");
  }
  const seen = new Set<string>();
  const out: ResolvedContribution[] = [];
  for (const { raw, prefix } of given) {
    const found: (ResolvedContribution & { n?: bigint })[] = prefix.length === 64
      ? byFullId.get(prefix) ?? []
      : await ws.rows<ResolvedContribution & { n: bigint }>(
        `select datanet, id, status, count(*) over () as n from contributions
         where starts_with(id, ?)${where} order by id, datanet limit ${MAX_CANDIDATES}`,
        datanet === undefined ? [prefix] : [prefix, datanet],
      );
    const [first] = found;
    const scope = datanet === undefined ? "" : ` in Datanet "${datanet}"`;
    if (!first) throw new InputError(`no contribution matches id "${raw.trim()}"${scope}`);
    if (found.length > 1) throw new InputError(ambiguity(raw.trim(), found.slice(0, MAX_CANDIDATES), Number(first.n ?? found.length)));
    const key = `${first.datanet}\u0000${first.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ datanet: first.datanet, id: first.id, status: first.status });
  }
  return out;
}

function ambiguity(given: string, found: ResolvedContribution[], total: number): string {
  const ids = [...new Set(found.map((f) => f.id))];
  // Show just enough of each id to tell the candidates apart.
  let length = Math.max(12, given.length + 1);
  while (length < 64 && new Set(ids.map((id) => id.slice(0, length))).size < ids.length) length++;
  const listed = found.map((f) => `${shortId(f.id, length)} (${f.datanet}, ${f.status})`).join(", ");
  const more = total > found.length ? `, and ${total - found.length} more` : "";
  const hint = ids.length > 1 ? "give a longer prefix or restrict to one Datanet (--datanet <name>)" : "restrict to one Datanet (--datanet <name>)";
  return `id "${given}" matches ${total} contributions: ${listed}${more}; ${hint}`;
}
