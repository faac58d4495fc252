import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { usageLedgerOptions } from "./options.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { modelOf } from "../factory/cells.ts";
import { stageRows } from "../store/stage.ts";
import { formatAmount } from "./amounts.ts";
import type { Workspace } from "../store/workspace.ts";

/**
 * A usage table as tracin, receipts and rewardSplit read it: one row per executed inference, as
 * the ledger recorded it (the first recording of an id is the truth). Amounts leave as
 * DECIMAL(38, 0): Parquet would turn a HUGEINT into a DOUBLE.
 *
 * Two columns say where an inference stands, as SQL expressions over the ledger row `i`:
 *  - `model_cell`: the model cell whose current model executed it (null: a model since retrained,
 *    or one the table's cell does not name);
 *  - `settled_earlier`: an earlier run settled it and its model has been retrained since, so the
 *    reward split keeps the lines it was paid with and never splits it again.
 */
export function usageQuery(where: string, standing: { modelCell: string; settledEarlier: string } = { modelCell: "null::varchar", settledEarlier: "false" }): string {
  // Each payload parsed once for its three fields (three extractions parsed it three times: 0.65
  // against 0.37 s over 21,201 inferences' 41 MB).
  return `select i.id, i.model_id, i.model_kind, i.payload[1] ->> '$' as title, i.payload[2] ->> '$' as text,
                 cast(i.payload[3] as float[]) as features, null::varchar as label,
                 i.prediction, i.confidence, i.fee::decimal(38, 0) as fee, i.caller, i.epoch, i.executed_at, i.source,
                 ${standing.modelCell} as model_cell, ${standing.settledEarlier} as settled_earlier
          from (select *, json_extract(payload_json, ['$.title', '$.text', '$.features']) as payload from inferences) i where ${where} order by i.id`;
}

/**
 * Stage which model cell gives each model now (the first one named, when two cells give the same
 * model) in `table`, and return the SQL expression of an inference's `model_cell` (over the
 * ledger row `i`): null for a model no cell gives now.
 */
export async function modelCellColumn(ws: Workspace, table: string, models: readonly { cell: string; id: string }[]): Promise<string> {
  const cellOf = new Map<string, string>();
  for (const m of models) if (!cellOf.has(m.id)) cellOf.set(m.id, m.cell);
  await stageRows(ws, table, [["id", "VARCHAR"], ["cell", "VARCHAR"]], [...cellOf].map(([id, cell]) => [id, cell]));
  return `(select m.cell from ${table} m where m.id = i.model_id)`;
}

export interface UsageLedgerParams {
  /** The model cells whose executed inferences this pipeline attributes and settles. */
  models: string[];
  /** Cells that record inferences themselves (`inferences()` workloads): the ledger is read after they ran. */
  after?: string[];
}

/**
 * 2: every inference of the pipeline stays in the table, those of models since retrained too
 * (`model_cell`, `settled_earlier`); before, a settled one left it at the next retrain.
 */
const USAGE_LEDGER_VERSION = "2";

/**
 * Every inference recorded in the usage ledger for this pipeline, however it came in: `tracebook
 * infer`, `infer()` in code, a workload cell. What a caller paid for is what gets attributed and
 * split: read through this cell, an inference a user ran from the command line is traced and
 * settled on the pipeline's next run (at once in `tracebook dev` or `run --watch`, which see the
 * ledger change). An inference is recorded for one pipeline, so two pipelines sharing a model
 * never settle the same fee twice.
 *
 * Most are executed by the current model of these cells (`model_cell`). The others were executed
 * by another model: typically one a curator's decision retrained since. The tracin cell traces
 * each through the model that executed it and that model's own lineage. Until a run settles it the
 * reward split does; once settled (`settled_earlier`) its lines stay as they were paid, and it
 * stays in the table so that what was paid can still be explored: the Influence explorer, the
 * contributors' shares and the report's influence section cover every settled inference, not
 * only those of the model as it is now.
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
    computes: false,
    version: USAGE_LEDGER_VERSION,
    params: { models, after },
    inputs: all,
    // The ledger is append-only: its rows for this pipeline are named by their count and ids.
    async source(ws, pipeline) {
      const [r] = await ws.rows<{ n: bigint; h: bigint | null }>("select count(*) as n, bit_xor(hash(id)) as h from inferences where pipeline = ?", [pipeline]);
      return { version: sha256(`usage-ledger\n${pipeline}\n${r!.n}\n${r!.h ?? ""}`), describe: `the usage ledger of pipeline ${pipeline}` };
    },
    async run(ctx) {
      const current: { cell: string; id: string }[] = [];
      for (const cell of models) current.push({ cell, id: await modelOf(ctx, cell) });
      const modelCell = await modelCellColumn(ctx.ws, "__tracebook_ledger_models", current);
      const settled = "i.id in (select inference_id from rewards where pipeline = ?)";
      const settledEarlier = `(${modelCell} is null and ${settled})`;
      // n and fees: what this run attributes and settles (all but the settled earlier ones).
      const counts = await ctx.ws.rows<{ source: string; n: bigint; fees: string; current: bigint; earlier: bigint }>(
        `select source, count(*) filter (where model_cell is not null) as current, count(*) filter (where settled_earlier) as earlier,
                count(*) filter (where not settled_earlier) as n, coalesce(sum(fee) filter (where not settled_earlier), 0)::varchar as fees
         from (select i.source, i.fee, ${modelCell} as model_cell, ${settledEarlier} as settled_earlier from inferences i where i.pipeline = ?)
         group by all order by n desc, source`, [ctx.pipeline, ctx.pipeline]);
      const open = counts.filter((r) => r.n > 0n);
      const sum = (k: "n" | "current" | "earlier") => counts.reduce((s, r) => s + Number(r[k]), 0);
      ctx.log(open.length
        ? `${sum("n")} executed inferences of ${models.join(", ")}: ` +
          open.map((r) => `${r.n} from ${r.source} (fees ${formatAmount(BigInt(r.fees))})`).join(", ")
        : `no executed inference of ${models.join(", ")} in the ledger yet: nothing to attribute or pay`);
      const unsettled = sum("n") - sum("current");
      if (unsettled) ctx.log(`${unsettled} of them by other models (retrained since, or not named here), never settled: each is traced through the model that executed it`);
      if (sum("earlier")) ctx.log(`${sum("earlier")} more by models since retrained, settled earlier: kept as paid, and traced through the model that executed each so they can still be explored`);
      return { query: usageQuery("i.pipeline = ?", { modelCell, settledEarlier }), params: [ctx.pipeline, ctx.pipeline] };
    },
  };
}
