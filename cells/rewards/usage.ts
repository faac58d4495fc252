import type { Cell, CellContext } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { usageLedgerOptions } from "./options.ts";
import { canonicalJson, sha256 } from "../graph/fingerprint.ts";
import { lastOutput } from "../graph/prior.ts";
import { quoteLiteral } from "../store/sql-quote.ts";
import { modelOf } from "../factory/cells.ts";
import { stageRows } from "../store/stage.ts";
import { formatAmount } from "./amounts.ts";
import type { Workspace } from "../store/workspace.ts";
import { plural } from "../graph/plural.ts";

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
  // against 0.37 s over 21,201 inferences' 41 MB), and only those of the rows asked for: the rows
  // are picked first (a materialized CTE), else DuckDB parsed every payload before a join that
  // picked one new inference among 21,206 (0.39 against 0.04 s). The where's parameters
  // therefore come before those of `standing`.
  return `with picked as materialized (select * from inferences i where ${where})
          select i.id, i.model_id, i.model_kind, i.payload[1] ->> '$' as title, i.payload[2] ->> '$' as text,
                 cast(i.payload[3] as float[]) as features, null::varchar as label,
                 i.prediction, i.confidence, i.fee::decimal(38, 0) as fee, i.caller, i.epoch, i.executed_at, i.source,
                 ${standing.modelCell} as model_cell, ${standing.settledEarlier} as settled_earlier
          from (select *, json_extract(payload_json, ['$.title', '$.text', '$.features']) as payload from picked) i order by i.id`;
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

/**
 * Staged: where each inference of the pipeline stands now (id, model_cell, settled_earlier), and
 * the ids of those whose rows a run takes over from its last output (id).
 */
const STANDING = "__tracebook_usage_standing", KEPT = "__tracebook_usage_kept", FRESH = "__tracebook_usage_fresh";

/**
 * The inferences the last output of this cell holds as they stand now (STANDING): the ledger
 * never changes a recorded inference (recordInferences), so a row can only move through the two
 * columns computed here, `model_cell` (a retrain) and `settled_earlier` (a settlement since).
 * Those rows are taken over; parsing every payload again and hashing it was most of settling one
 * more inference through this cell (1.6 of 2.2 s at 21,203 inferences). Null when nothing is kept
 * (first run, `--force`, other settings or code, the file gone).
 */
async function keptRows(ctx: CellContext, params: UsageLedgerParams): Promise<{ artifact: string; count: number } | null> {
  const last = await lastOutput(ctx, { kind: "usage-ledger", version: USAGE_LEDGER_VERSION, paramsJson: canonicalJson(params) });
  if (!last) return null;
  await ctx.ws.run(`create or replace temp table ${KEPT} as
    select o.id from read_parquet(${quoteLiteral(last.artifact)}) o join ${STANDING} n on n.id = o.id
    where o.model_cell is not distinct from n.model_cell and o.settled_earlier is not distinct from n.settled_earlier`);
  const [{ n } = { n: 0n }] = await ctx.ws.rows<{ n: bigint }>(`select count(*) as n from ${KEPT}`);
  if (!n) return null;
  // The others, named first: a query that picked them by "not in" the kept ones read every
  // payload off disk (0.31 against 0.01 s for one new inference among 21,206).
  await ctx.ws.run(`create or replace temp table ${FRESH} as select id from ${STANDING} where id not in (select id from ${KEPT})`);
  return { artifact: last.artifact, count: Number(n) };
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
      // Where each inference stands, staged once: the settled check scans the reward lines
      // (0.1–0.3 s at 21,203 inferences), which the counts, the rows kept and the query all need.
      await ctx.ws.run(`create or replace temp table ${STANDING} as
        select i.id, ${modelCell} as model_cell, (${modelCell} is null and i.id in (select inference_id from rewards where pipeline = ?)) as settled_earlier
        from inferences i where i.pipeline = ?`, [ctx.pipeline, ctx.pipeline]);
      const kept = await keptRows(ctx, { models, after });
      // n and fees: what this run attributes and settles (all but the settled earlier ones).
      const counts = await ctx.ws.rows<{ source: string; n: bigint; fees: string; current: bigint; earlier: bigint }>(
        `select source, count(*) filter (where model_cell is not null) as current, count(*) filter (where settled_earlier) as earlier,
                count(*) filter (where not settled_earlier) as n, coalesce(sum(fee) filter (where not settled_earlier), 0)::varchar as fees
         from inferences i join ${STANDING} s using (id) group by all order by n desc, source`);
      const open = counts.filter((r) => r.n > 0n);
      const sum = (k: "n" | "current" | "earlier") => counts.reduce((s, r) => s + Number(r[k]), 0);
      ctx.log(open.length
        ? `${sum("n")} executed inferences of ${models.join(", ")}: ` +
          open.map((r) => `${r.n} from ${r.source} (fees ${formatAmount(BigInt(r.fees))})`).join(", ")
        : `no executed inference of ${models.join(", ")} in the ledger yet: nothing to attribute or pay`);
      const unsettled = sum("n") - sum("current");
      if (unsettled) ctx.log(`${unsettled} of them by other models (retrained since, or not named here), never settled: each is traced through the model that executed it`);
      if (sum("earlier")) ctx.log(`${sum("earlier")} more by models since retrained, settled earlier: kept as paid, and traced through the model that executed each so they can still be explored`);
      if (kept) ctx.log(`${plural(kept.count, "inference")} kept as the last run wrote them; ${sum("n") + sum("earlier") - kept.count} read from the ledger`);
      // The rows kept are copied from the last output beside the new ones (materialize): only the
      // new inferences' payloads are parsed and hashed.
      return {
        query: usageQuery(kept ? `i.id in (select id from ${FRESH})` : "i.pipeline = ?",
          { modelCell: `(select s.model_cell from ${STANDING} s where s.id = i.id)`, settledEarlier: `(select s.settled_earlier from ${STANDING} s where s.id = i.id)` }),
        params: kept ? [] : [ctx.pipeline],
        groups: { column: "id", unchanged: kept ? { artifact: kept.artifact, keys: KEPT } : undefined },
      };
    },
  };
}
