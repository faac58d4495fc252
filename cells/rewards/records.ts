import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import { penaltyRecordsOptions } from "./options.ts";

export interface PenaltyRecordsParams {
  /** The rewardSplit cell whose runs write the records: read after it. */
  rewards: string;
}

/**
 * The penalty records of the pipeline as the reward split wrote them (`reputation`, per epoch,
 * model and contributor, with how many inferences each scope's net ran over), as a table the
 * notebooks read: what the lines were split under, not a second computation of it. A second one
 * could disagree, over inferences settled under penalties decided earlier, or a net within a
 * rounding of zero. The records are a source: a run of the split that rewrites them without
 * changing its statement still makes this cell stale.
 */
export function penaltyRecords(p: PenaltyRecordsParams): Cell {
  checkOptions("penaltyRecords", penaltyRecordsOptions, p);
  return {
    kind: "penalty-records",
    computes: false,
    version: "1",
    params: { ...p },
    inputs: [p.rewards],
    async source(ws, pipeline) {
      const rows = await ws.rows("select epoch, model_id, contributor, net_influence, record from reputation where pipeline = ? order by all", [pipeline]);
      return { version: sha256(canonicalJson(rows)), describe: "the penalty records" };
    },
    async run(ctx) {
      return {
        query: `select r.epoch, r.model_id, r.contributor, r.net_influence as net, s.inferences, r.record
                from reputation r left join penalty_scopes s on s.pipeline = r.pipeline and s.epoch = r.epoch and s.model_id = r.model_id
                where r.pipeline = ? order by r.epoch, r.model_id, r.net_influence, r.contributor`,
        params: [ctx.pipeline],
      };
    },
  };
}
