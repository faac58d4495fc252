import fs from "node:fs";
import type { CellContext } from "./cell.ts";
import { artifactPath } from "./artifacts.ts";
import { cellHistories, type RunRecord } from "./runs.ts";

/** A cell's last output that a rerun may take rows over from. */
export interface LastOutput {
  run: RunRecord;
  /** Its artifact, on disk. */
  artifact: string;
  /** The data version of each input it read. */
  inputs: Record<string, string>;
}

/**
 * This cell's last output, when a rerun may take rows over from it: written by the same kind,
 * code version and settings, and still on disk. Null otherwise, and for a forced run, which
 * recomputes from nothing. The tracin, receipts and `sql.by` cells each add their own conditions.
 */
export async function lastOutput(ctx: CellContext, cell: { kind: string; version: string; paramsJson: string }): Promise<LastOutput | null> {
  if (ctx.forced) return null;
  const run = (await cellHistories(ctx.ws, ctx.pipeline)).get(ctx.cell)?.lastSucceeded;
  if (!run?.data_version || run.kind !== cell.kind || run.kind_version !== cell.version || run.params_json !== cell.paramsJson) return null;
  const artifact = artifactPath(ctx.ws, run.data_version);
  if (!fs.existsSync(artifact)) return null;
  return { run, artifact, inputs: JSON.parse(run.inputs_json) as Record<string, string> };
}
