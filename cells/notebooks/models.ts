import { ApiError, requestFields } from "./api.ts";
import type { NotebookData } from "./data.ts";
import type { ModelRowsDiff, ModelsAnswer, ModelsRequest } from "./wire.ts";
import { cellHistory, heldOutOf, paidUse, standingOf } from "../factory/catalog.ts";
import { diffLineage, type RowsDiff } from "../factory/diff.ts";
import { pickModelPair } from "./model-pair.ts";
import type { Workspace } from "../store/workspace.ts";
import type { ModelManifest } from "../factory/store.ts";

const FIELDS = ["pipeline", "cell", "a", "b"];

/** Check a models request before the workspace is opened; every error names the field at fault. */
export function parseModelsRequest(body: unknown, served: ReadonlySet<string>): ModelsRequest {
  const b = requestFields(body, FIELDS, "{pipeline, cell?, a?, b?}", served);
  const out: ModelsRequest = { pipeline: b.pipeline as string };
  if (b.cell !== undefined) {
    if (typeof b.cell !== "string" || !/^[\w-]{1,128}$/.test(b.cell)) throw new ApiError(400, "cell", "cell: the name of a model cell of the pipeline");
    out.cell = b.cell;
  }
  for (const k of ["a", "b"] as const) {
    if (b[k] === undefined) continue;
    if (typeof b[k] !== "string" || !/^[0-9a-f]{8,64}$/.test(b[k] as string)) throw new ApiError(400, k, `${k}: a model id, or a unique prefix of at least 8 hex characters`);
    out[k] = b[k] as string;
  }
  return out;
}

/**
 * A model cell's history and two of its models compared, for the Model history notebook: what
 * `tracebook model list` and `tracebook model diff` say, read in the server's own process. The
 * workspace is held for it alone (the two models run over the held-out rows: about a second on
 * mail); it only reads, so the watchers go on.
 */
export async function answerModels(data: NotebookData, req: ModelsRequest): Promise<ModelsAnswer> {
  const cell = req.cell ?? "model";
  return data.withWorkspace(async (ws) => {
    const history = await cellHistory(ws, req.pipeline, cell);
    if (!history.length) throw new ApiError(400, "cell", `cell: "${cell}" of pipeline ${req.pipeline} has trained no model in this workspace (a model cell: base-model or finetune)`);
    const paid = await paidUse(ws);
    const pair = pickModelPair(history.map((e) => e.manifest), `${req.pipeline}.${cell}`, req);
    if ("field" in pair) throw new ApiError(400, pair.field, pair.message);
    const manifest = (id: string) => history.find((e) => e.manifest.id === id)!.manifest;
    const mb = manifest(pair.b), ma = pair.a === null ? null : manifest(pair.a);
    const answer: ModelsAnswer = { pipeline: req.pipeline, cell, history: history.map((e) => standingOf(e, paid)), diff: null };
    if (ma && ma.id !== mb.id) answer.diff = await modelDiff(ws, ma, mb);
    return answer;
  }, { attempts: 8 });
}

/** Model a against model b, as `tracebook model diff` compares them: settings, training rows, base, and outputs on b's held-out rows. */
export async function modelDiff(ws: Workspace, ma: ModelManifest, mb: ModelManifest): Promise<NonNullable<ModelsAnswer["diff"]>> {
  const lineage = await diffLineage(ws, ma, mb);
  const rows = await heldOutOf(ws, mb);
  // TF.js loads on the first comparison that runs the models, not with the server.
  const { compareBehaviour } = await import("../quality/behaviour.ts");
  const outputs = rows ? await compareBehaviour(ws, ma, mb, rows.relation, rows.name) : null;
  return {
    a: ma.id, b: mb.id, settings: lineage.settings, rows: wire(lineage.rows),
    base: lineage.base ? { a: lineage.base.a, b: lineage.base.b, rows: wire(lineage.base.rows) } : null,
    outputs,
  };
}

/** Dates as ISO text, as JSON carries them. */
function wire(d: RowsDiff): ModelRowsDiff {
  const row = (r: RowsDiff["added"][number]) => ({ ...r, record: r.record ? { ...r.record, decidedAt: r.record.decidedAt.toISOString() } : null });
  return { ...d, added: d.added.map(row), removed: d.removed.map(row) };
}
