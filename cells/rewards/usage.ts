import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { usageLedgerOptions } from "./options.ts";
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
 *
 * Also every inference of this pipeline by another model that no run has settled yet: typically
 * one executed by a model a curator's decision retrained before the next run. The tracin cell
 * traces each through the model that executed it and that model's own lineage, and the reward
 * split settles it; from then on it stays out of this table and its lines stay as they were.
 */
export function usageLedger(p: UsageLedgerParams): Cell {
  checkOptions("usageLedger", usageLedgerOptions, p);
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
      const current = `i.model_id in (select id from ${table})`;
      const unsettled = "i.id not in (select inference_id from rewards where pipeline = ?)";
      const mine = `i.pipeline = ? and (${current} or ${unsettled})`;
      const bySource = await ctx.ws.rows<{ source: string; n: bigint; fees: string; earlier: bigint }>(
        `select i.source, count(*) as n, sum(i.fee)::varchar as fees, count(*) filter (where not ${current}) as earlier
         from inferences i where ${mine} group by all order by n desc, i.source`, [ctx.pipeline, ctx.pipeline]);
      ctx.log(bySource.length
        ? `${bySource.reduce((s, r) => s + Number(r.n), 0)} executed inferences of ${models.join(", ")}: ` +
          bySource.map((r) => `${r.n} from ${r.source} (fees ${formatAmount(BigInt(r.fees))})`).join(", ")
        : `no executed inference of ${models.join(", ")} in the ledger yet: nothing to attribute or pay`);
      const earlier = bySource.reduce((s, r) => s + Number(r.earlier), 0);
      if (earlier) ctx.log(`${earlier} of them by other models (retrained since, or not named here), never settled: each is traced through the model that executed it`);
      return { query: usageQuery(mine), params: [ctx.pipeline, ctx.pipeline] };
    },
  };
}
