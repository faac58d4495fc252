import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import { MAX_CONTRIBUTOR_BYTES } from "../datanet/limits.ts";
import { resolveContributionIds, ACTIONS, type Action } from "../datanet/decisions.ts";
import { checkText, curate } from "../curation/decisions.ts";
import { ApiError, requestFields } from "./api.ts";
import type { DecisionRequest, DecisionResponse } from "./wire.ts";

export type { DecisionRequest, DecisionResponse } from "./wire.ts";

const FIELDS = ["ids", "status", "reason", "curator", "datanet", "pipeline"];
const MAX_IDS = 1000;
const ID = /^[0-9a-f]{8,64}$/i;
/** curate() refuses longer reasons; checked here first so the error names the field. */
const MAX_REASON = 2000;

/** Check a request body before anything is opened; every error names the field at fault. */
export function parseDecisionRequest(body: unknown): DecisionRequest {
  const b = requestFields(body, FIELDS, "{ids, status, reason, curator}");
  const { ids, status, reason, curator, datanet, pipeline } = b;
  if (!Array.isArray(ids) || !ids.length) throw new ApiError(400, "ids", "ids: give a non-empty list of contribution ids");
  if (ids.length > MAX_IDS) throw new ApiError(400, "ids", `ids: ${ids.length} ids in one decision (at most ${MAX_IDS})`);
  ids.forEach((id, i) => {
    if (typeof id !== "string" || !ID.test(id)) {
      throw new ApiError(400, "ids", `ids[${i}]: ${JSON.stringify(id)} is not a contribution id (64 hex characters, or a unique prefix of at least 8)`);
    }
  });
  if (typeof status !== "string" || !(ACTIONS as readonly string[]).includes(status)) {
    throw new ApiError(400, "status", `status: must be one of ${ACTIONS.join(", ")} (got ${JSON.stringify(status ?? null)})`);
  }
  const text = (value: unknown, field: string, max: number): string => {
    if (value !== undefined && typeof value !== "string") throw new ApiError(400, field, `${field}: must be a string (got ${typeof value})`);
    try {
      return checkText(value as string | undefined, field, max);
    } catch (err) {
      if (err instanceof InputError) throw new ApiError(400, field, `${field}: ${err.message}`);
      throw err;
    }
  };
  if (datanet !== undefined && (typeof datanet !== "string" || !datanet.trim())) throw new ApiError(400, "datanet", "datanet: must be a Datanet's name when given");
  if (pipeline !== undefined && (typeof pipeline !== "string" || !pipeline.trim())) throw new ApiError(400, "pipeline", "pipeline: must be a pipeline's name when given");
  return {
    ids: ids as string[], status: status as Action, reason: text(reason, "reason", MAX_REASON), curator: text(curator, "curator", MAX_CONTRIBUTOR_BYTES),
    ...(datanet === undefined ? {} : { datanet: (datanet as string).trim() }),
    ...(pipeline === undefined ? {} : { pipeline: (pipeline as string).trim() }),
  };
}

/**
 * Record a checked decision with the curation module's curate() (which uses decide(): all or
 * nothing, one appended validation record per decided contribution, in one transaction).
 * Unknown ids are the caller's error (400, field ids); a change decide() refuses — the
 * contribution is already in that status, cannot move to it, or is pending and so has no
 * status to keep — is a conflict (409, field status).
 */
export async function recordDecision(ws: Workspace, req: DecisionRequest): Promise<DecisionResponse> {
  let targets;
  try {
    targets = await resolveContributionIds(ws, req.ids, req.datanet);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    const field = /unknown Datanet/.test(err.message) ? "datanet" : "ids";
    throw new ApiError(400, field, `${field}: ${err.message}`);
  }
  let out;
  try {
    out = await curate(ws, { ids: req.ids, datanet: req.datanet, verdict: req.status, curator: req.curator, reason: req.reason });
  } catch (err) {
    if (err instanceof InputError) throw new ApiError(409, "status", `status: ${err.message}`);
    throw err;
  }
  const recorded = new Set(out.results.map((r) => `${r.datanet}\u0000${r.id}`));
  return {
    decided: out.results.map((r) => ({ id: r.id, datanet: r.datanet, from: r.from, to: r.to, seq: Number(r.seq) })),
    unchanged: targets.filter((t) => !recorded.has(`${t.datanet}\u0000${t.id}`)).map((t) => ({ id: t.id, datanet: t.datanet, status: t.status })),
    rule: out.rule,
  };
}
