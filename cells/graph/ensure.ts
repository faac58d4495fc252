import type { Workspace } from "../store/workspace.ts";
import { InputError } from "../datanet/errors.ts";
import type { Pipeline } from "./pipeline.ts";
import { runPipeline, type GraphEvent } from "./scheduler.ts";
import { cellHistories } from "./runs.ts";

/**
 * Run one cell of the pipeline (and the stale cells it reads), so a question is asked of current
 * outputs; its output's file, and whether it was fresh already. A failure names the cell that
 * failed; one of the cell itself that matches `questionError` is the caller's (InputError, the
 * regex's first group as the message).
 */
export async function bringUpToDate(
  ws: Workspace, p: Pipeline, name: string,
  o: { signal?: AbortSignal; onEvent?: (e: GraphEvent) => void; questionError?: RegExp; /** What an upstream failure stops, for its message. */ stops?: string } = {},
): Promise<{ artifact: string; fresh: boolean }> {
  const summary = await runPipeline(ws, p, { cell: name, signal: o.signal, onEvent: o.onEvent });
  if (summary.cancelled) throw new Error("cancelled");
  if (summary.failed.length || summary.blocked.length) {
    const h = (await cellHistories(ws, p.name)).get(summary.failed[0] ?? name);
    const why = h?.last?.error ?? "see `tracebook status`";
    const asked = summary.failed.includes(name) && o.questionError ? o.questionError.exec(why) : null;
    if (asked) throw new InputError(asked[1]!);
    throw new Error(summary.failed.includes(name) ? why : `cell ${summary.failed[0] ?? summary.blocked[0]} of ${p.name} failed, so ${o.stops ?? "the question could not be asked"}: ${why}`);
  }
  const done = (await cellHistories(ws, p.name)).get(name)?.lastSucceeded;
  if (!done?.artifact) throw new Error(`${name} left no output`);
  return { artifact: done.artifact, fresh: summary.fresh.includes(name) };
}
