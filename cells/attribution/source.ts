import type { Workspace } from "../store/workspace.ts";
import { cellHistories } from "../graph/runs.ts";
import { artifactPath } from "../graph/artifacts.ts";
import { InputError } from "../datanet/errors.ts";
import { quoteLiteral } from "../store/export.ts";
import type { TracinParams } from "./cells.ts";
import type { ExplainSource } from "./explain.ts";
import type { Payload } from "../factory/featurize.ts";
import { resolveContributionIds } from "../datanet/decisions.ts";

/** A pipeline's cells as far as choosing one needs: kind and params by name. */
export type CellKinds = ReadonlyMap<string, { kind: string; params: unknown }>;

/** The tracin cell a question is about: the one named, else `influence`, else the pipeline's only one. */
export function chooseTracin(pipeline: string, cells: CellKinds, requested?: string): string {
  const tracins = [...cells].filter(([, c]) => c.kind === "tracin").map(([n]) => n);
  const chosen = requested ?? (cells.get("influence")?.kind === "tracin" ? "influence" : tracins.length === 1 ? tracins[0]! : undefined);
  if (!chosen) {
    throw new InputError(tracins.length
      ? `pipeline "${pipeline}" has several tracin cells (${tracins.join(", ")}): say which with --influence`
      : `pipeline "${pipeline}" has no tracin cell: a question about attribution needs one (and its model and training rows)`);
  }
  if (cells.get(chosen)?.kind !== "tracin") throw new InputError(`pipeline "${pipeline}" has no tracin cell "${chosen}" (tracin cells: ${tracins.join(", ") || "none"})`);
  return chosen;
}

/** The cells of a pipeline as the workspace last ran them (kind and params from the run log): what a server without the pipeline module knows. */
export async function cellsAsRun(ws: Workspace, pipeline: string): Promise<CellKinds> {
  const out = new Map<string, { kind: string; params: unknown }>();
  // By name: the run log has no declaration order, and a message listing cells must not vary.
  for (const [name, h] of [...(await cellHistories(ws, pipeline))].sort(([a], [b]) => a.localeCompare(b))) {
    if (h.lastSucceeded) out.set(name, { kind: h.lastSucceeded.kind, params: JSON.parse(h.lastSucceeded.params_json) });
  }
  return out;
}

/**
 * What an explanation mirrors: the chosen tracin cell's settings, and the current outputs of its
 * model and training cells (the last succeeded run of each). A cell that never ran is an error
 * saying to run the pipeline.
 */
export async function explainSource(ws: Workspace, pipeline: string, cells: CellKinds, influence?: string): Promise<ExplainSource> {
  if (!cells.size) throw new InputError(`pipeline "${pipeline}" has no outputs in this workspace: run \`tracebook run ${pipeline}\` first`);
  const name = chooseTracin(pipeline, cells, influence);
  const params = cells.get(name)!.params as TracinParams;
  const histories = await cellHistories(ws, pipeline);
  const output = (cell: string) => {
    const run = histories.get(cell)?.lastSucceeded;
    if (!run?.data_version) throw new InputError(`cell ${cell} of ${pipeline} has no output yet: run \`tracebook run ${pipeline}\` first`);
    return { dataVersion: run.data_version, relation: `(select * from read_parquet(${quoteLiteral(artifactPath(ws, run.data_version))}))` };
  };
  const model = output(params.model);
  const ids = await ws.rows<{ model_id: string }>(`select distinct model_id from ${model.relation}`).catch(() => []);
  if (ids.length !== 1) throw new Error(`cell ${params.model} of ${pipeline} is not a model cell naming one model`);
  const train = output(params.train);
  return {
    pipeline, influence: name, params, modelId: ids[0]!.model_id, train: { name: params.train, ...train },
    versions: { influence: histories.get(name)?.lastSucceeded?.data_version ?? null, model: model.dataVersion, train: train.dataVersion },
  };
}

/** A contribution to explain as its own label: where it is, who gave it, and its payload. */
export interface ContributionToExplain {
  id: string;
  datanet: string;
  contributor: string;
  label: string;
  split: string;
  status: string;
  payload: Payload;
}

/**
 * Contributions by id (full or a unique prefix of at least 8 hex, as decisions take them), with
 * the payload the model reads: a curator asks what speaks for each one's label.
 */
export async function contributionsToExplain(ws: Workspace, ids: string[], datanet?: string): Promise<ContributionToExplain[]> {
  const out: ContributionToExplain[] = [];
  for (const c of await resolveContributionIds(ws, ids, datanet)) {
    const [r] = await ws.rows<{ contributor: string; label: string; split: string; title: string | null; text: string | null; features: number[] | null }>(
      "select contributor, label, split, title, text, features from contributions where id = ? and datanet = ?", [c.id, c.datanet]);
    out.push({
      id: c.id, datanet: c.datanet, contributor: r!.contributor, label: r!.label, split: r!.split, status: c.status,
      payload: r!.features ? { features: Array.from(r!.features) } : { title: r!.title, text: r!.text },
    });
  }
  return out;
}
