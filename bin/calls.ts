import fs from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { inferCallBatches, type Call, type Executed, type InferOptions } from "../cells/rewards/ledger.ts";
import type { ModelServer } from "../cells/factory/serve.ts";
import type { Workspace } from "../cells/store/workspace.ts";
import { formatAmount } from "../cells/rewards/amounts.ts";
import { plural } from "../cells/graph/plural.ts";
import { toJson } from "./output.ts";
import type { CallFile } from "./payloads.ts";

/** What a run of a calls file keeps: counts for its summary line, the first calls to print, every call as JSON on disk (--json). */
export interface CallsRun {
  calls: number;
  recorded: number;
  /** The fees of the calls this run recorded (a replay's is not counted: it pays nothing). */
  fees: bigint;
  /** Predictions per label. */
  labels: Map<string, number>;
  /** The first `shown` calls, as executed, with their inputs. */
  first: { executed: Executed; call: Call }[];
  /** With `json`: a file holding every executed call as `--json` prints them (a JSON array), for the caller to print and remove. */
  json: string | null;
}

/**
 * Run calls through a model and record them, a batch at a time and all in one transaction
 * (inferCallBatches): memory holds one batch (a file's, `CallFile.batches`), not the file. What is
 * printed comes after the commit, so nothing is said of calls a failure rolled back; `--json`'s
 * array is written to the workspace's scratch folder meanwhile, for the caller to print and remove.
 */
export async function runCalls(ws: Workspace, server: ModelServer, modelId: string, batches: Iterable<readonly Call[]> | AsyncIterable<readonly Call[]>,
  o: Omit<InferOptions, "ids">, options: { shown: number; json: boolean }): Promise<CallsRun> {
  const run: CallsRun = { calls: 0, recorded: 0, fees: 0n, labels: new Map(), first: [], json: null };
  const jsonFile = options.json ? path.join(ws.scratchDir(), `executed-${randomUUID()}.json`) : null;
  const out = jsonFile ? fs.openSync(jsonFile, "w") : null;
  try {
    await inferCallBatches(ws, server, modelId, batches, o, (executed, calls) => {
      for (const [i, e] of executed.entries()) {
        if (run.first.length < options.shown) run.first.push({ executed: e, call: calls[i]! });
        if (e.recorded) {
          run.recorded++;
          run.fees += e.fee;
        }
        run.labels.set(e.label, (run.labels.get(e.label) ?? 0) + 1);
      }
      // toJson's array, element by element: each indented as it would be inside it.
      if (out !== null) fs.writeSync(out, executed.map((e, i) => `${run.calls + i ? ",\n" : "[\n"}${toJson(e).replace(/^/gm, "  ")}`).join(""));
      run.calls += executed.length;
    });
    if (out !== null) fs.writeSync(out, run.calls ? "\n]\n" : "[]\n");
  } catch (err) {
    if (jsonFile) fs.rmSync(jsonFile, { force: true });
    throw err;
  } finally {
    if (out !== null) fs.closeSync(out);
  }
  run.json = jsonFile;
  return run;
}

/** Print `run.json` (the executed calls, as `--json` prints them) to standard output. */
export async function printCallsJson(run: CallsRun): Promise<void> {
  if (run.json) await pipeline(fs.createReadStream(run.json), process.stdout, { end: false });
}

/** A file of calls in a line: how many were recorded and replayed, the fees recorded, the predictions (in the model's class order). */
export function callsSummary(run: CallsRun, classes: readonly string[]): string {
  const by = classes.map((c) => [c, run.labels.get(c) ?? 0] as const).filter(([, n]) => n > 0);
  return `${plural(run.calls, "call")}: ${run.recorded} recorded, ${run.calls - run.recorded} already in the ledger (a replay records nothing); ` +
    `fees recorded ${formatAmount(run.fees)}; predictions ${by.map(([c, n]) => `${c} ${n}`).join(", ")}`;
}
