import type { RunsAnswer, RunsRequest, StatusAnswer, StatusRequest } from "../../cells/notebooks/wire.ts";
import { took } from "../../cells/graph/outcome.ts";
import { oneCellRuns } from "../../cells/notebooks/one-cell-runs.ts";
import { DecisionError, endpoint } from "./curation.ts";
import { shippedPerPipeline } from "./shipped.ts";

export type { RunsAnswer, RunsRequest, LoggedPipelineRun, LoggedCellRun, StatusAnswer, CellNow } from "../../cells/notebooks/wire.ts";

export interface Runs {
  /** False in a static build: the log is the one it shipped, as it was when it was built. */
  readonly live: boolean;
  /** A pipeline's run log, newest first (`tracebook log`); rejects with an error naming the field at fault. */
  ask(request: RunsRequest): Promise<RunsAnswer>;
  /** Every cell of the pipeline now (`tracebook status`): fresh, stale (why), failed, blocked; in a static build, as built. */
  status(pipeline: string): Promise<StatusAnswer>;
  /** Seconds as `tracebook log` says them: 0.42 s, 41.3 s, 2m 05s. */
  took(seconds: number | null): string;
}

/**
 * The `runs` builtin: `tracebook log` through the dev server's JSON API; in a static build, the
 * log the build shipped, one cell's runs picked out of it here as the server picks them.
 */
export function runs(base: string): Runs {
  const api = endpoint<RunsRequest, RunsAnswer>(base, "runs", "read the run log");
  const states = endpoint<StatusRequest, StatusAnswer>(base, "status", "read the cells' states");
  if (api.available) return { live: true, ask: api.post, status: (pipeline) => states.post({ pipeline }), took };
  // A JSON file the build shipped under runs/, named in the pipeline's catalog; what to run instead where it shipped none.
  const shippedJson = <T>(field: "runs" | "status", what: string, command: string) => shippedPerPipeline(base, async (catalog, pipeline) => {
    const file = catalog[field]?.file;
    if (!file) throw new DecisionError(`this static build shipped no ${what} for ${pipeline}: run \`tracebook dev\`, or \`tracebook ${command} ${pipeline}\``, "pipeline", 0);
    const res = await fetch(`${base}/runs/${file}`, { cache: "no-store" });
    if (!res.ok) throw new DecisionError(`${base}/runs/${file}: ${res.status} ${res.statusText}`, null, res.status);
    return (await res.json()) as T;
  });
  const shippedOf = shippedJson<RunsAnswer>("runs", "run log", "log");
  const shippedStatus = shippedJson<StatusAnswer>("status", "cell states", "status");
  return {
    live: false,
    took,
    status: shippedStatus,
    async ask(req) {
      const shipped = await shippedOf(req.pipeline);
      const limit = req.limit ?? shipped.runs.length;
      if (req.cell === undefined) return { ...shipped, runs: shipped.runs.slice(0, limit) };
      const picked = oneCellRuns(shipped, req.cell, limit);
      if (!picked) throw new DecisionError(`cell: pipeline "${req.pipeline}" had never run a cell "${req.cell}" when this site was built (cells: ${shipped.cells.join(", ")})`, "cell", 0);
      return picked;
    },
  };
}
