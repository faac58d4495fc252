import { plural } from "./plural.ts";

/** What a run outcome is read from: each cell run's status, whether it reused an output, and what it made of its output. */
export interface CellOutcome {
  status: string;
  cached: boolean;
  output: "new" | "changed" | "unchanged" | null;
}

/**
 * What came of a pipeline run, in words: "3 cells ran, 2 reused, 1 output changed, 1 failed".
 * Pure (no workspace): `tracebook log` heads each run with it, and a notebook page says it of the
 * runs a static build shipped.
 */
export function runOutcome(r: { cells: readonly CellOutcome[] }): string {
  const count = (status: string, cached = false) => r.cells.filter((c) => c.status === status && c.cached === cached).length;
  const made = (output: CellOutcome["output"]) => r.cells.filter((c) => c.output === output).length;
  return [
    count("succeeded") ? `${plural(count("succeeded"), "cell")} ran` : "",
    count("succeeded", true) ? `${count("succeeded", true)} reused` : "",
    made("new") ? plural(made("new"), "new output") : "",
    made("changed") ? `${plural(made("changed"), "output")} changed` : "",
    made("unchanged") && !made("new") && !made("changed") ? "no output changed" : "",
    ...["failed", "cancelled", "interrupted", "running"].map((s) => (count(s) ? `${count(s)} ${s}` : "")),
  ].filter(Boolean).join(", ");
}

/** 0.42 s, 41.3 s, 2m 05s. */
export function took(seconds: number | null): string {
  if (seconds === null) return "";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds - 60 * m);
  return `${m}m ${String(s).padStart(2, "0")}s`;
}
