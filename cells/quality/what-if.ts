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
    if (heldOut !== undefined && !p.cells.has(heldOut)) throw new Error(`pipeline "${p.name}" has no cell "${heldOut}" to measure accuracy on`);
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
 * by its account, held that prediction up. `query` is an inference id or a unique prefix.
 */
export async function proponentsOf(ws: Workspace, p: Pipeline, o: { query: string; top?: number; influence?: string; signal?: AbortSignal; onEvent?: (e: GraphEvent) => void }): Promise<{ query: string; ids: string[] }> {
  const name = chooseTracin(p.name, p.cells, o.influence);
  const prefix = o.query.trim().toLowerCase();
  if (!/^[0-9a-f]{4,64}$/.test(prefix)) throw new InputError(`${JSON.stringify(o.query)} is not an inference id (hex, in full or a prefix of at least 4)`);
  const { artifact } = await bringUpToDate(ws, p, name, o);
  const queries = (await ws.rows<{ query: string }>("select distinct query from read_parquet(?) where starts_with(query, ?) order by query limit 2", [artifact, prefix])).map((r) => r.query);
  if (!queries.length) throw new InputError(`no inference ${prefix} in ${p.name}'s ${name} cell`);
  if (queries.length > 1) throw new InputError(`inference prefix ${prefix} matches several inferences: give more characters`);
  const rows = await ws.rows<{ key: string }>(
    "select key from read_parquet(?) where query = ? and level = 'contribution' and rank > 0 order by rank limit ?", [artifact, queries[0]!, o.top ?? 1_000_000]);
  return { query: queries[0]!, ids: rows.map((r) => r.key) };
}
