import type { Cell } from "../graph/cell.ts";
import { checkOptions } from "../graph/options.ts";
import { workloadOptions } from "./options.ts";
import { sha256 } from "../graph/fingerprint.ts";
import { Rng } from "../compute/random.ts";
import { ModelServer } from "../factory/serve.ts";
import { backendSource, modelOf } from "../factory/cells.ts";
import { readManifest } from "../factory/store.ts";
import { recordInferences, type InferenceRecord } from "./ledger.ts";
import { parseAmount, formatAmount } from "./amounts.ts";
import { stageRows } from "../store/stage.ts";
import { modelCellColumn, usageQuery } from "./usage.ts";
import { columnOrNull, columnsOf } from "../store/columns.ts";
import { closedEpochs } from "./closures.ts";

export interface WorkloadParams {
  /** Model cells and their share of demand, e.g. { model: 0.9, base: 0.1 }; a weight of 0 is never called. */
  models: Record<string, number>;
  /** The rows sent as queries (title, text or features). */
  queries: string;
  /** How many calls; by default every query once, in id order, to the first model. */
  calls?: number;
  /** Fee per call, a decimal string in tokens (18 decimals), e.g. "0.002". */
  fee: string;
  /** Callers (agent ids) the calls are spread over. */
  callers?: string[];
  epoch: string;
  seed: number;
}

const WORKLOAD_VERSION = "1";

/**
 * A replayable workload of executed inferences: real predictions through ModelFactory's
 * serving, recorded in the usage ledger. Ids are derived from (pipeline, cell, seed, call
 * number, model, query), so replaying the workload records nothing twice. Demand across models
 * follows the weights (seeded), so some models may never be called, and earn nothing.
 */
export function inferences(p: WorkloadParams): Cell {
  checkOptions("inferences", workloadOptions, p);
  const fee = parseAmount(p.fee, "inferences.fee");
  const entries = Object.entries(p.models);
  if (!entries.length) throw new Error("inferences: name at least one model cell in models");
  for (const [m, w] of entries) if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`inferences: weight of "${m}" must be a non-negative number, got ${w}`);
  if (!entries.some(([, w]) => w > 0)) throw new Error("inferences: at least one model needs a positive weight");
  const callers = p.callers?.length ? p.callers : ["agent:workload"];
  return {
    kind: "inferences",
    version: WORKLOAD_VERSION,
    params: { ...p, callers },
    inputs: [...entries.map(([m]) => m), p.queries],
    source: backendSource,
    async run(ctx) {
      const relation = ctx.inputs[p.queries]!.relation;
      const cols = await columnsOf(ctx.ws, relation);
      const rows = await ctx.ws.rows<{ id: string; title: string | null; text: string | null; features: number[] | null }>(
        `select id, ${["title", "text", "features"].map((c) => columnOrNull(cols, c)).join(", ")} from ${relation} order by id`);
      if (!rows.length) throw new Error(`input "${p.queries}" has no rows to send`);
      const models: { cell: string; weight: number; id: string }[] = [];
      for (const [cell, weight] of entries) models.push({ cell, weight, id: await modelOf(ctx, cell) });
      const rng = Rng.derive(p.seed, "workload");
      const total = models.reduce((s, m) => s + m.weight, 0);
      const pick = () => {
        let u = rng.uniform() * total;
        for (const m of models) if ((u -= m.weight) < 0 && m.weight > 0) return m;
        return models.filter((m) => m.weight > 0).at(-1)!;
      };
      const n = p.calls ?? rows.length;
      const calls = Array.from({ length: n }, (_, i) => p.calls === undefined
        ? { i, model: models.find((m) => m.weight > 0)!, row: rows[i]!, caller: callers[i % callers.length]! }
        : { i, model: pick(), row: rows[rng.int(0, rows.length - 1)]!, caller: callers[rng.int(0, callers.length - 1)]! });
      const server = new ModelServer(ctx.ws.home);
      let records: InferenceRecord[] = [];
      try {
        for (const m of models) {
          const mine = calls.filter((c) => c.model === m);
          if (!mine.length) continue;
          const kind = readManifest(ctx.ws.home, m.id).kind;
          const predictions = await server.infer(m.id, mine.map((c) => c.row));
          mine.forEach((c, k) => records.push({
            id: sha256(`tracebook.inference/1\n${ctx.pipeline}\n${ctx.cell}\n${p.seed}\n${c.i}\n${m.id}\n${c.row.id}`),
            pipeline: ctx.pipeline, modelId: m.id, modelKind: kind, payload: c.row, prediction: predictions[k]!.label,
            confidence: Math.max(...predictions[k]!.probabilities), fee, caller: c.caller, epoch: p.epoch,
            source: `workload:${ctx.pipeline}.${ctx.cell}`, executedAt: new Date(),
          }));
        }
      } finally {
        server.dispose();
      }
      const closed = (await closedEpochs(ctx.ws, ctx.pipeline)).get(p.epoch);
      if (closed) {
        // A closed epoch takes no new inference: a retrained model's replay would add some.
        await stageRows(ctx.ws, "__tracebook_workload_ids", [["id", "VARCHAR"]], records.map((r) => [r.id]));
        const known = new Set((await ctx.ws.rows<{ id: string }>("select id from inferences where id in (select id from __tracebook_workload_ids)")).map((r) => r.id));
        const dropped = records.length - known.size;
        if (dropped) ctx.log(`epoch ${p.epoch} was closed at ${closed.closed_at} by ${closed.closed_by}: ${dropped} executions not recorded (a closed epoch takes no new inference)`);
        records = records.filter((r) => known.has(r.id));
      }
      const { added, replayed } = await recordInferences(ctx.ws, records);
      ctx.log(`${records.length} inferences (${added} recorded, ${replayed} already in the ledger); fee ${formatAmount(fee)} each; ` +
        models.map((m) => `${m.cell}: ${records.filter((r) => r.modelId === m.id).length}`).join(", "));
      // The cell's table is read back from the ledger: the first recording of each id is the truth.
      await stageRows(ctx.ws, "__tracebook_workload_ids", [["id", "VARCHAR"]], records.map((r) => [r.id]));
      // Every id it reads back was executed by one of its models as they are now.
      const modelCell = await modelCellColumn(ctx.ws, "__tracebook_workload_models", models);
      return { query: usageQuery("i.id in (select id from __tracebook_workload_ids)", { modelCell, settledEarlier: "false" }) };
    },
  };
}
