// The rewards tests' common ground: the pay pipeline run over a small separable Datanet, and the
// curator's rejection that makes its model retrain.
import { expect } from "vitest";
import { runPipeline, type Pipeline } from "../../cells/index.ts";
import { decide } from "../../cells/datanet/decisions.ts";
import type { Workspace } from "../../cells/store/workspace.ts";
import payPipeline from "../fixtures/pay.pipeline.ts";
import { tempWorkspace } from "./workspace.ts";
import { separableDatanet } from "./datanets.ts";

/** A fresh workspace where the pay pipeline (or a variant of it) ran once over 120 separable notes. */
export async function payWorkspace(p: Pipeline = payPipeline, notes: Parameters<typeof separableDatanet>[4] = {}): Promise<Workspace> {
  const ws = await tempWorkspace();
  await separableDatanet(ws, "notes", 120, 1, notes);
  expect((await runPipeline(ws, p)).failed).toEqual([]);
  return ws;
}

/** A curator rejects the first training row: the model retrains on the pipeline's next run. */
export async function rejectATrainingRow(ws: Workspace): Promise<void> {
  const [row] = await ws.rows<{ id: string }>("select id from contributions where split = 'train' order by id limit 1");
  await decide(ws, { ids: [row!.id], verdict: "rejected", validator: "curator:test", reason: "test: retrain" });
}
