// The dev server's explainers, without a server: one explainer per model and training output,
// kept while those stand, whatever else moves in the pipeline.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runPipeline } from "../cells/index.ts";
import { Explainer } from "../cells/attribution/explain.ts";
import { Explainers } from "../cells/notebooks/explain.ts";
import { NotebookData } from "../cells/notebooks/data.ts";
import { ModelServer } from "../cells/factory/serve.ts";
import { infer } from "../cells/rewards/ledger.ts";
import { openWorkspace } from "../cells/store/workspace.ts";
import payPipeline from "./fixtures/pay.pipeline.ts";
import { payWorkspace, rejectATrainingRow } from "./helpers/pay.ts";

describe("explainers in the dev server", () => {
  let home: string;
  beforeAll(async () => {
    const ws = await payWorkspace();
    home = ws.home;
    ws.close();
  }, 120_000);
  afterAll(() => vi.restoreAllMocks());

  /** Change the workspace as another process would, between two questions. */
  const meanwhile = async (change: (ws: Awaited<ReturnType<typeof openWorkspace>>) => Promise<void>) => {
    const ws = await openWorkspace({ home });
    try {
      await change(ws);
      expect((await runPipeline(ws, payPipeline)).failed).toEqual([]);
    } finally {
      ws.close();
    }
  };

  it("keeps its explainer when a paid inference moves the influence table, and loads anew when the model is retrained", async () => {
    const load = vi.spyOn(Explainer, "load");
    const explainers = new Explainers(new NotebookData({ home, refreshMs: 0 }));
    const ask = async () => (await explainers.answer({ pipeline: "pay", inputs: ["casino winner pills"] })).explanations[0]!;
    const first = await ask();
    await ask();
    expect(load).toHaveBeenCalledTimes(1);

    // A caller pays for an inference: the usage, influence and rewards change; the model does not.
    await meanwhile(async (ws) => {
      const [{ model_id }] = (await ws.rows<{ model_id: string }>("select distinct model_id from inferences")) as [{ model_id: string }];
      const server = new ModelServer(ws.home);
      await infer(ws, server, model_id, [{ text: "team meeting notes" }], { fee: 10n, caller: "cli:kate", pipeline: "pay", source: "cli", ids: ["paid-1"], epoch: "e2" });
      server.dispose();
    });
    expect(await ask()).toEqual(first);
    expect(load).toHaveBeenCalledTimes(1);

    // A curator's rejection retrains the model: another explainer, another answer.
    await meanwhile(async (ws) => {
      await rejectATrainingRow(ws);
    });
    const retrained = await ask();
    expect(load).toHaveBeenCalledTimes(2);
    expect(retrained.proponents.map((c) => c.contribution)).not.toEqual(first.proponents.map((c) => c.contribution));
    expect(explainers.size).toBe(2);
  }, 180_000);
});
