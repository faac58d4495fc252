import type { Cell } from "../graph/cell.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { modelOf } from "../factory/cells.ts";
import { stageRows } from "../store/stage.ts";
import { formatAmount } from "./amounts.ts";

/**
 * A usage table as tracin, receipts and rewardSplit read it: one row per executed inference, as
 * the ledger recorded it (the first recording of an id is the truth). Amounts leave as
 * DECIMAL(38, 0): Parquet would turn a HUGEINT into a DOUBLE.
 */
export function usageQuery(where: string): string {
  return `select i.id, i.model_id, i.model_kind, json_extract_string(i.payload_json, '$.title') as title, json_extract_string(i.payload_json, '$.text') as text,
                 cast(json_extract(i.payload_json, '$.features') as float[]) as features, null::varchar as label,
                 i.prediction, i.confidence, i.fee::decimal(38, 0) as fee, i.caller, i.epoch, i.executed_at, i.source
          from inferences i where ${where} order by i.id`;
}

export interface UsageLedgerParams {
  /** The model cells whose executed inferences this pipeline attributes and settles. */
  models: string[];
  /** Cells that record inferences themselves (`inferences()` workloads): the ledger is read after they ran. */
  after?: string[];
}

const USAGE_LEDGER_VERSION = "1";

/**
 * Every inference executed by the current model of these cells and recorded in the usage ledger
 * for this pipeline, however it came in: `tracebook infer`, `infer()` in code, a workload cell.
 * What a caller paid for is what gets attributed and split: read through this cell, an inference
 * a user ran from the command line is traced and settled on the pipeline's next run (at once in
 * `tracebook dev` or `run --watch`, which see the ledger change). An inference is recorded for one
 * pipeline, so two pipelines sharing a model never settle the same fee twice.
 */
export function usageLedger(p: UsageLedgerParams): Cell {
  const models = [...(p.models ?? [])], after = [...(p.after ?? [])];
  if (!models.length) throw new Error("usageLedger: name at least one model cell in models");
  const all = [...models, ...after];
  const twice = all.find((c, i) => typeof c !== "string" || !c || all.indexOf(c) !== i);
  if (twice !== undefined) throw new Error(`usageLedger: ${typeof twice === "string" && twice ? `"${twice}" is named twice` : "cell names must be non-empty strings"} in models and after`);
  return {
    kind: "usage-ledger",
    version: USAGE_LEDGER_VERSION,
    params: { models, after },
    inputs: all,
    // The ledger is append-only: its rows for this pipeline are named by their count and ids.
    async source(ws, pipeline) {
      const [r] = await ws.rows<{ n: bigint; h: bigint | null }>("select count(*) as n, bit_xor(hash(id)) as h from inferences where pipeline = ?", [pipeline]);
      return { version: sha256(`usage-ledger\n${pipeline}\n${r!.n}\n${r!.h ?? ""}`), describe: `the usage ledger of pipeline ${pipeline}` };
    },
    async run(ctx) {
      const ids = new Map<string, string>();
      for (const cell of models) ids.set(cell, await modelOf(ctx, cell));
      const table = "__tracebook_ledger_models";
      await stageRows(ctx.ws, table, [["id", "VARCHAR"]], [...new Set(ids.values())].map((id) => [id]));
      const mine = `i.pipeline = ? and i.model_id in (select id from ${table})`;
      const bySource = await ctx.ws.rows<{ source: string; n: bigint; fees: string }>(
        `select i.source, count(*) as n, sum(i.fee)::varchar as fees from inferences i where ${mine} group by all order by n desc, i.source`, [ctx.pipeline]);
      ctx.log(bySource.length
        ? `${bySource.reduce((s, r) => s + Number(r.n), 0)} executed inferences of ${models.join(", ")}: ` +
          bySource.map((r) => `${r.n} from ${r.source} (fees ${formatAmount(BigInt(r.fees))})`).join(", ")
        : `no executed inference of ${models.join(", ")} in the ledger yet: nothing to attribute or pay`);
      // Inferences of other models (these cells before a retrain, or models not named here) keep the
      // lines an earlier run settled for them; one never settled is not attributed by this model.
      const [orphans] = await ctx.ws.rows<{ n: bigint; fees: string | null }>(
        `select count(*) as n, sum(i.fee)::varchar as fees from inferences i
         where i.pipeline = ? and i.model_id not in (select id from ${table})
           and i.id not in (select inference_id from rewards where pipeline = ?)`, [ctx.pipeline, ctx.pipeline]);
      if (orphans && orphans.n > 0n) {
        ctx.log(`${orphans.n} inferences recorded for ${ctx.pipeline} by other models (retrained since, or not named here) were never settled (fees ${formatAmount(BigInt(orphans.fees ?? "0"))}): ` +
          "the report counts them as unsettled");
      }
      return { query: usageQuery(mine), params: [ctx.pipeline] };
    },
  };
}
