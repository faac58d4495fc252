import type { Workspace } from "../store/workspace.ts";
import type { Cell } from "../graph/cell.ts";
import { pipeline as declare, type Pipeline } from "../graph/pipeline.ts";
import type { GraphEvent } from "../graph/scheduler.ts";
import { bringUpToDate } from "../graph/ensure.ts";
import { InputError } from "../datanet/errors.ts";
import type { TracinParams } from "../attribution/cells.ts";
import { chooseTracin } from "../attribution/source.ts";
import { counterfactual } from "./counterfactual.ts";
import { canonicalRemoval, type Removal } from "./removal.ts";
import { whatIfCellName } from "./questions.ts";
import { currentModels } from "../factory/catalog.ts";
import type { WhatIfAnswer } from "./answer.ts";

export interface WhatIfRequest {
  without: Removal;
  /** The tracin cell whose model, training rows and queries are asked about (default: "influence", else the pipeline's only one). */
  influence?: string;
  /** Labelled rows to measure accuracy on (default: the model cell's own held-out input, if it has one). */
  heldOut?: string;
  replicateSeed?: number;
  /**
   * Ids that did not train the model (held out, or not approved) are set aside and named in the
   * answer rather than refused: a curator's selection spans both. Names and Datanets stay strict.
   */
  onlyTrained?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: GraphEvent) => void;
}

export type { WhatIfAnswer } from "./answer.ts";

/**
 * Ask a pipeline "what if these contributions had never been given?" without editing it: the
 * question runs as one more counterfactual cell over the pipeline's own model, training rows and
 * queries, so it is cached by its fingerprint (the same question twice retrains once), it waits
 * for and runs the stale cells it reads, and its runs sit in the pipeline's log like any cell's.
 */
export async function whatIf(ws: Workspace, p: Pipeline, req: WhatIfRequest): Promise<WhatIfAnswer> {
  const params = p.cells.get(chooseTracin(p.name, p.cells, req.influence))!.params as TracinParams;
  let cell: Cell;
  try {
    const heldOut = req.heldOut ?? (p.cells.get(params.model)?.params as { heldOut?: string } | undefined)?.heldOut;
    if (heldOut !== undefined && !p.cells.has(heldOut)) throw new InputError(`pipeline "${p.name}" has no cell "${heldOut}" to measure accuracy on`);
    cell = counterfactual({
      model: params.model, train: params.train, queries: params.test, ...(heldOut === undefined ? {} : { heldOut }),
      without: canonicalRemoval(req.without), replicateSeed: req.replicateSeed, ...(req.onlyTrained ? { onlyTrained: true } : {}),
    });
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  const name = whatIfCellName(cell.params);
  const extended = declare(p.name, [...p.cells], [[name, cell]]);
  // The question itself was wrong (a name that contributed nothing): the caller's error.
  const { artifact, fresh } = await bringUpToDate(ws, extended, name, { ...req, questionError: /\bcounterfactual: (.*)$/s });
  const rows = await ws.rows<Record<string, unknown>>("select * from read_parquet(?)", [artifact]);
  const summary = rows.find((r) => r.row === "summary")!;
  return { cell: name, fresh, setAside: JSON.parse(String(summary.set_aside ?? "[]")) as string[], summary, queries: rows.filter((r) => r.row === "query") };
}

/**
 * The top proponents TracIn lists for one inference in the pipeline's tracin cell: the rows that,
 * by its account, held that prediction up. `query` is an inference id or a unique prefix; the
 * inference must have been executed by the model a what-if retrains (executedByModel).
 */
export async function proponentsOf(ws: Workspace, p: Pipeline, o: { query: string; top?: number; influence?: string; signal?: AbortSignal; onEvent?: (e: GraphEvent) => void }): Promise<{ query: string; ids: string[] }> {
  const { query, artifact } = await executedByModel(ws, p, o);
  const rows = await ws.rows<{ key: string }>(
    "select key from read_parquet(?) where query = ? and level = 'contribution' and rank > 0 order by rank limit ?", [artifact, query, o.top ?? 1_000_000]);
  return { query, ids: rows.map((r) => r.key) };
}

/** How short an inference prefix may be. */
const MIN_PREFIX = 4;

/**
 * The inference a what-if question is about (an id as the ledger has it, or a unique prefix of at
 * least 4 characters), found in the pipeline's tracin cell, and checked to have been executed by
 * that cell's model: the model a what-if retrains. An inference of the base, or of a model since
 * retrained, is traced through the model that executed it, but retraining this one without its
 * proponents says nothing of whether it would hold: refused, with where to look instead.
 */
export async function executedByModel(ws: Workspace, p: Pipeline, o: { query: string; influence?: string; signal?: AbortSignal; onEvent?: (e: GraphEvent) => void }): Promise<{ query: string; artifact: string }> {
  const name = chooseTracin(p.name, p.cells, o.influence);
  const wanted = o.query.trim();
  if (wanted.length < MIN_PREFIX) throw new InputError(`${JSON.stringify(o.query)}: give an inference id, or a unique prefix of at least ${MIN_PREFIX} characters`);
  const { artifact } = await bringUpToDate(ws, p, name, o);
  const found = await ws.rows<{ query: string; model_id: string }>(
    `select query, any_value(model_id) as model_id from read_parquet(?) where query = ? or starts_with(query, ?)
     group by query order by query = ? desc, query limit 2`, [artifact, wanted, wanted, wanted]);
  if (!found.length) {
    const [recorded] = await ws.rows<{ id: string; pipeline: string | null }>("select id, pipeline from inferences where id = ? or starts_with(id, ?) order by id = ? desc, id limit 1", [wanted, wanted, wanted]);
    throw new InputError(!recorded
      ? `no inference ${wanted} in ${p.name}'s ${name} cell`
      : recorded.pipeline !== p.name
        ? `inference ${recorded.id} was recorded ${recorded.pipeline === null ? "for no pipeline" : `for pipeline ${recorded.pipeline}, not ${p.name}: ask that pipeline`} (\`tracebook receipt ${recorded.id}\` has what it was paid on)`
        : `inference ${recorded.id} is not in ${p.name}'s ${name} cell: the usage ledger holds it, but its model could not be attributed ` +
          `(\`tracebook receipt ${recorded.id}\` has what it was paid on; \`tracebook explain ${p.name}\` explains its input through the current model)`);
  }
  if (found[0]!.query !== wanted && found.length > 1) throw new InputError(`inference prefix ${wanted} matches several inferences: give more characters`);
  const { query, model_id: executed } = found[0]!;
  // The tracin cell was just brought up to date, and with it the model cells it reads: the run log names their models.
  const model = (p.cells.get(name)!.params as TracinParams).model;
  const models = await currentModels(ws, p.name);
  const current = models.find((m) => m.cell === model)?.id;
  if (executed !== current) {
    const other = models.find((m) => m.id === executed)?.cell;
    throw new InputError(`inference ${query} was executed by model ${executed.slice(0, 12)}${other ? ` (cell ${other})` : " (since retrained)"}, not by ${model} (model ${current?.slice(0, 12)}), ` +
      `the model a what-if retrains: retraining it without the proponents says nothing of whether that prediction would hold ` +
      `(\`tracebook receipt ${query} --recompute\` traces it through the model that executed it)`);
  }
  return { query, artifact };
}
